"""The built-in dataset sources, one module per kind; each registers its sources when imported."""
