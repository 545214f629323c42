"""Machine-readable constants of the neural-code format (formats/codes.md), in one place."""

from __future__ import annotations

from typing import Final

from actcode import codes as _codes

#: Root ``encoding-type`` of a neural-code file.
CODES_TYPE = "actcode.codes"
#: The format version this actcode writes, and the newest it reads fully.
FORMAT_VERSION = "1.2.0"
#: Major versions this actcode reads.
READABLE_MAJORS = (1,)

ENCODING_TYPE = "encoding-type"
ENCODING_VERSION = "encoding-version"

LAYER_TABLE_TYPE = "actcode.layer-table"
SPLITS_TYPE = "actcode.splits"
SPLIT_TYPE = "actcode.split"
PACKED_BITS_TYPE = "actcode.packed-bits"
RESULTS_TYPE = "actcode.results"
RESULT_TABLE_TYPE = "actcode.result-table"
RESULT_KIND_TYPES = {"measure": "actcode.measure", "probe": "actcode.probe", "regions": "actcode.regions"}
#: The format version that introduced each result kind; adding the kind raises a file to at least it.
RESULT_KIND_SINCE = {"measure": "1.0.0", "probe": "1.0.0", "regions": "1.1.0"}
RESULT_VERSION = "1.0.0"

#: Root attributes every file carries.
ROOT_ATTRS = (
    "encoding-type",
    "encoding-version",
    "provenance",
    "bitorder",
    "n_units",
    "n_bytes",
    "created_by",
)
#: Root members. ``results`` is optional.
ROOT_MEMBERS = ("layers", "splits")
OPTIONAL_ROOT_MEMBERS = ("results",)

#: Columns of the layer table, with their HDF5 kind ("str" is variable-length UTF-8).
LAYER_COLUMNS = {
    "name": "str",
    "kind": "str",
    "shape": "str",
    "n_units": "int64",
    "byte_offset": "int64",
    "n_bytes": "int64",
    "call_index": "int64",
}

#: Per-row class columns of a split and their range: -1 (no label) <= value <= LABEL_MAX. A bound
#: keeps every statistic exact (label pairs, counts per class) and every allocation by class small.
LABEL_COLUMNS = ("labels", "predictions", "training_labels")
LABEL_MIN = _codes.LABEL_MIN
LABEL_MAX = _codes.LABEL_MAX

#: Datasets of every split group.
SPLIT_DATASETS = ("codes", "labels", "predictions", "indices")
#: Optional datasets of a split group.
OPTIONAL_SPLIT_DATASETS = ("training_labels",)
#: Optional numeric attributes of a split group (the network's own metrics on it).
SPLIT_NUMBER_ATTRS = ("loss", "accuracy")

#: Columns of a result table.
RESULT_COLUMNS = {"split": "str", "scope": "str", "metric": "str", "value": "float64"}

BITORDER: Final = "big"
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 1
#: Target bytes per chunk of the code matrix (rows are never split across chunks).
CHUNK_TARGET_BYTES = 1 << 20
#: Chunks larger than this are refused on read (protects against allocation bombs).
MAX_CHUNK_BYTES = 64 << 20
#: Filters a file may use: every HDF5 build has them.
ALLOWED_FILTERS = frozenset({"gzip", "shuffle", "fletcher32"})
#: Split names: letters, digits, '_', '-', '.'; at most 64 characters.
SPLIT_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
#: Length limit of any string in the layer table.
MAX_NAME_LENGTH = 1024

PROVENANCE_SCHEMA_ID = "actcode.provenance/1"


def parse_version(text: str) -> tuple[int, int, int]:
    """Parse ``"MAJOR.MINOR.PATCH"``; raise ValueError otherwise.

    Examples
    --------
    >>> parse_version("1.2.3")
    (1, 2, 3)
    """
    parts = str(text).split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        msg = f"not a MAJOR.MINOR.PATCH version: {text!r}"
        raise ValueError(msg)
    return int(parts[0]), int(parts[1]), int(parts[2])
