"""An example actcode plugin: the ``centroid`` probe and the ``blobs:N`` dataset source."""
