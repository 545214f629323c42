"""Encoding properties of neural codes: redundancy, collisions, hash lookup, Hamming neighbours, bit stats.

Every property is computed per split and per scope: the whole code (``"all"``), each
activation site (``"layer:<name>"``) and each cumulative prefix of sites (``"upto:<name>"``).
Rows are read in blocks in two passes (three when two different rows share a 64-bit hash),
so a file larger than memory can be measured. Uniqueness is exact.

Definitions (per split of N rows)
---------------------------------
- ``redundancy`` R = (N - #distinct codes) / N, the study's ratio.
- A collision group is a set of >= 2 rows with equal codes. ``collision_sizes[s]`` counts
  groups of size s (index 1 counts rows with a unique code). A group "mixes labels" when
  its rows do not all have the same label.
- ``hash_hits``: rows of a non-train split whose code equals the code of some train row;
  ``hash_lookup_accuracy``: accuracy, over the hits, of predicting the majority label of the
  matching train rows (ties: the smallest label). NaN when there are no hits.
- ``nn_within``: Hamming distance from a row to the nearest *other* row of its class in the
  same split; ``nn_between``: to the nearest row of another class; ``nn``: the smaller of
  the two. Means and medians over the query rows (all rows up to 20 000, otherwise a seeded
  sample of 10 000, see ``nn_sample``); ``*_norm`` divides by the scope's number of units.
  Rows with no qualifying neighbour (a singleton class) are left out of the statistic.
- A split without labels (all -1, as random inputs) gets NaN for the label-based metrics
  (mixed groups, hash lookup accuracy, within/between-class distances); ``nn`` is then the
  distance to the nearest other row.
- ``dead_units`` / ``always_on_units``: units off / on in every row of the split;
  ``mean_bit_entropy``: mean over units of H(p) = -p log2 p - (1-p) log2 (1-p) (bits).
"""

from __future__ import annotations

from actcode.measures.api import DEFAULT_MAX_MEMORY, measure_codes, measure_file
from actcode.measures.compute import NN_SAMPLE_DEFAULT, NN_SAMPLE_THRESHOLD, Measurement
from actcode.measures.sources import ArraySource, FileSource

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "NN_SAMPLE_DEFAULT",
    "NN_SAMPLE_THRESHOLD",
    "ArraySource",
    "FileSource",
    "Measurement",
    "measure_codes",
    "measure_file",
]
