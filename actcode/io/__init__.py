"""Reading, writing and validating actcode files: the only package that imports h5py."""

from __future__ import annotations

from actcode.factors import FACTOR_KEYS
from actcode.io.atomic import atomic_output, file_lock
from actcode.io.codes import CodeFile, CodeWriter, open_codes
from actcode.io.provenance import check_provenance, file_sha256, make_provenance, provenance_schema
from actcode.io.results_io import add_results
from actcode.io.spec import FORMAT_VERSION
from actcode.io.validate import Header, validate
from actcode.results import ResultTable

__all__ = [
    "FACTOR_KEYS",
    "FORMAT_VERSION",
    "CodeFile",
    "CodeWriter",
    "Header",
    "ResultTable",
    "add_results",
    "atomic_output",
    "check_provenance",
    "file_lock",
    "file_sha256",
    "make_provenance",
    "open_codes",
    "provenance_schema",
    "validate",
]
