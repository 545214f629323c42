"""Neural codes from trained networks: activation sites, hooks, device bit packing, streaming to a file."""

from __future__ import annotations

from actcode.devices import resolve_device
from actcode.extraction.api import SPLITS, dataset_splits, default_output, extract, parse_splits
from actcode.extraction.custom import load_user_model, load_weights
from actcode.extraction.inputs import NO_LABEL, ArrayInputs, RandomInputs, SplitInputs
from actcode.extraction.packing import pack_padded, pack_rows, pad_bits, padded_width
from actcode.extraction.plan import make_out_dir, plan_outputs, user_model_output
from actcode.extraction.recorder import OpRecorder, SiteRecorder
from actcode.extraction.run import (
    BIT_DEFINITION,
    SplitResult,
    auto_batch_size,
    extract_codes,
    extract_model,
)
from actcode.extraction.shards import Shard, parse_shard
from actcode.extraction.sites import (
    DynamicSitesError,
    FunctionalActivationError,
    ModelInputError,
    NoSitesError,
    Site,
    exact_fp32,
    find_module_sites,
    find_sites,
    select_sites,
)
from actcode.extraction.user import extract_user_model

__all__ = [
    "Shard",
    "make_out_dir",
    "parse_shard",
    "plan_outputs",
    "user_model_output",
    "BIT_DEFINITION",
    "NO_LABEL",
    "SPLITS",
    "ArrayInputs",
    "DynamicSitesError",
    "FunctionalActivationError",
    "ModelInputError",
    "NoSitesError",
    "OpRecorder",
    "RandomInputs",
    "Site",
    "SiteRecorder",
    "SplitInputs",
    "SplitResult",
    "auto_batch_size",
    "dataset_splits",
    "default_output",
    "exact_fp32",
    "extract",
    "extract_codes",
    "extract_model",
    "extract_user_model",
    "find_module_sites",
    "find_sites",
    "load_user_model",
    "load_weights",
    "pack_padded",
    "pack_rows",
    "pad_bits",
    "parse_splits",
    "padded_width",
    "resolve_device",
    "select_sites",
]
