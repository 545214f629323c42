"""The ``blobs:N`` dataset source: N Gaussian blobs in 16 dimensions, with train and test splits."""

from __future__ import annotations

import numpy as np

from actcode.data.dataset import Dataset
from actcode.data.spec import DataSpec
from actcode.errors import InvalidParameterError

DIMENSIONS = 16
TRAIN_PER_BLOB, TEST_PER_BLOB = 200, 50
SEED = 0


class BlobsDataset:
    """Blob centres drawn from N(0, 4² I), points from N(centre, I); the same seed every time."""

    order: int = 100

    def load(self, spec: DataSpec, argument: str) -> Dataset:
        if not argument.isdigit() or not 2 <= int(argument) <= 100:
            msg = f"--dataset blobs:N needs N, the number of blobs, from 2 to 100. Got {spec.name!r} instead."
            raise InvalidParameterError(msg)
        n = int(argument)
        rng = np.random.default_rng(SEED)
        centres = rng.normal(0.0, 4.0, (n, DIMENSIONS))

        def draw(per: int) -> tuple[np.ndarray, np.ndarray]:
            y = np.repeat(np.arange(n, dtype=np.int64), per)
            x = centres[y] + rng.normal(0.0, 1.0, (y.size, DIMENSIONS))
            order = rng.permutation(y.size)
            return x[order].astype(np.float32), y[order]

        x_train, y_train = draw(TRAIN_PER_BLOB)
        x_test, y_test = draw(TEST_PER_BLOB)
        lo, hi = float(min(x_train.min(), x_test.min())), float(max(x_train.max(), x_test.max()))
        return Dataset(f"blobs:{n}", x_train, y_train, x_test, y_test, n, (DIMENSIONS,), (lo, hi),
                       source=f"actcode-blobs (seed {SEED})")  # fmt: skip
