"""Hypothesis fuzzing of the reader and validator on mutated valid files.

Any exception other than actcode's own error classes is a failure: a user must get one
clear line, never a traceback from h5py or numpy.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actcode.errors import ActcodeError
from actcode.io import open_codes, validate
from tests.reliability.corpus import valid_code_file

_VALID: dict[str, bytes] = {}


def _valid_bytes() -> bytes:
    if "v" not in _VALID:
        with tempfile.TemporaryDirectory() as tmp:
            _VALID["v"] = valid_code_file(Path(tmp) / "v.h5").read_bytes()
    return _VALID["v"]


def _read_everything(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            validate(path)
        except ActcodeError:
            pass
        try:
            with open_codes(path) as cf:
                for split in cf.splits:
                    cf.codes(split)
                    cf.labels(split)
                    cf.predictions(split)
                    cf.indices(split)
                    cf.split_info(split)
                    cf.training_labels(split)
                for kind in cf.result_kinds:
                    cf.results(kind)
                    cf.result_arrays(kind)
                    cf.result_params(kind)
        except ActcodeError:
            pass


mutation = st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(mutation, min_size=1, max_size=8),
    st.sampled_from([1.0, 0.1, 0.25]),
)
def test_byte_mutations_give_actcode_errors_only(mutations: list[tuple[float, int]], region: float) -> None:
    data = bytearray(_valid_bytes())
    limit = max(1, int(len(data) * region))  # 0.1 and 0.25 aim at the metadata near the start
    for where, value in mutations:
        data[int(where * limit)] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.h5"
        path.write_bytes(bytes(data))
        _read_everything(path)


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1, exclude_max=True))
def test_truncations_give_actcode_errors_only(fraction: float) -> None:
    data = _valid_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.h5"
        path.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(ActcodeError):
            validate(path)
