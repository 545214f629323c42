"""The metric registry: every number that measure, probe and the network report, with its label and kind.

One :class:`Metric` per stored metric name says which stage writes it (``measure``,
``probe``, or ``network`` for the network's own numbers read from a split's attributes),
its long label (an axis label) and short label (legends, titles), its unit, its kind, and
its column header in the command's stderr table. Probes, measures, the CLI tables and the
charts read names, labels and kinds from here. Other code may :func:`register` more metrics.

Kinds: ``accuracy`` (a fraction of correct predictions, in [0, 1]), ``ratio`` (another value
in [0, 1]), ``count``, ``distance`` (Hamming bits), ``flag`` (0 or 1) and ``value``.

Examples
--------
>>> METRICS["redundancy"].label, METRICS["knn_accuracy"].stage, METRICS["knn_accuracy"].is_accuracy
('redundancy ratio R', 'probe', True)
>>> [m.name for m in metrics_of("network")]
['net_accuracy', 'net_loss']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Stages that produce metrics.
STAGES = ("measure", "probe", "regions", "network")
#: Kinds of metric values.
KINDS = ("accuracy", "ratio", "count", "distance", "flag", "value")
#: Suffix of a distance divided by the scope's number of units.
NORM_SUFFIX = "_norm"


@dataclass(frozen=True)
class Metric:
    """One metric: its stored name, the stage that writes it, its labels, unit and kind."""

    name: str
    stage: str
    label: str
    short: str
    unit: str = ""
    kind: str = "value"
    #: Column header in the command's stderr table (None: not a column).
    column: str | None = None
    #: NaN on a split without labels (all -1, e.g. random inputs).
    needs_labels: bool = False

    @property
    def is_accuracy(self) -> bool:
        """True for accuracies (panels of accuracies share the y label "accuracy")."""
        return self.kind == "accuracy"

    @property
    def is_ratio(self) -> bool:
        """True when the values lie in [0, 1] (accuracies and ratios)."""
        return self.kind in ("accuracy", "ratio")


#: Registered metrics by name, in the order the command tables show them.
METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS` (replacing one of the same name) and return it."""
    if metric.stage not in STAGES or metric.kind not in KINDS:
        msg = f"metric {metric.name!r}: stage must be one of {STAGES} and kind one of {KINDS}."
        raise ValueError(msg)
    METRICS[metric.name] = metric
    return metric


def _m(name: str, stage: str, label: str, short: str, unit: str = "", kind: str = "value",
       column: str | None = None, needs_labels: bool = False) -> None:  # fmt: skip
    register(Metric(name, stage, label, short, unit, kind, column, needs_labels))


# --- actcode measure
_m("n_samples", "measure", "samples", "samples", "samples", "count", "N")
_m("n_units", "measure", "units (bits)", "units", "bits", "count", "D")
_m("n_distinct", "measure", "distinct codes", "distinct codes", "codes", "count", "distinct")
_m("redundancy", "measure", "redundancy ratio R", "R", "", "ratio", "R")
_m("n_collision_groups", "measure", "collision groups", "collision groups", "groups", "count")
_m("largest_group", "measure", "largest collision group (samples)", "largest group", "samples", "count",
   "largest")  # fmt: skip
_m("n_mixed_groups", "measure", "mixed-label collision groups", "mixed groups", "groups", "count", "mixed",
   needs_labels=True)  # fmt: skip
_m("rows_in_mixed_groups", "measure", "samples in mixed-label groups", "in mixed groups", "samples", "count",
   needs_labels=True)  # fmt: skip
_m("hash_hits", "measure", "test codes equal to a train code", "hash hits", "samples", "count")
_m("hash_hit_rate", "measure", "hash hit rate", "hash hit rate", "", "ratio", "hash hits")
_m("hash_lookup_accuracy", "measure", "hash-lookup accuracy", "hash lookup", "", "accuracy", "lookup acc",
   needs_labels=True)  # fmt: skip
_m("nn_within_mean", "measure", "mean NN distance, same class (bits)", "NN within (mean)", "bits", "distance",
   "NN within", needs_labels=True)  # fmt: skip
_m("nn_between_mean", "measure", "mean NN distance, other class (bits)", "NN between (mean)", "bits",
   "distance", "NN between", needs_labels=True)  # fmt: skip
_m("nn_within_median", "measure", "median NN distance, same class (bits)", "NN within (median)", "bits",
   "distance", needs_labels=True)  # fmt: skip
_m("nn_between_median", "measure", "median NN distance, other class (bits)", "NN between (median)", "bits",
   "distance", needs_labels=True)  # fmt: skip
_m("nn_mean", "measure", "mean NN Hamming distance (bits)", "NN distance", "bits", "distance")
_m("nn_median", "measure", "median NN Hamming distance (bits)", "NN distance (median)", "bits", "distance")
for _base in ("nn_within_mean", "nn_between_mean", "nn_within_median", "nn_between_median", "nn_mean",
              "nn_median"):  # fmt: skip
    _b = METRICS[_base]
    _m(_base + NORM_SUFFIX, "measure", _b.label.replace("(bits)", "(fraction of bits)"), _b.short + " / D",
       "fraction of bits", "ratio", needs_labels=_b.needs_labels)  # fmt: skip
_m("nn_queries", "measure", "nearest-neighbour query rows", "NN queries", "samples", "count")
_m("dead_units", "measure", "dead units", "dead units", "units", "count", "dead")
_m("always_on_units", "measure", "always-on units", "always-on units", "units", "count", "always on")
_m("mean_bit_entropy", "measure", "mean bit entropy (bits)", "bit entropy", "bits", "ratio", "H/bit")
# --- actcode probe
_m("network_accuracy", "probe", "network accuracy", "network", "", "accuracy", "network")
_m("knn_accuracy", "probe", "K-NN accuracy", "K-NN", "", "accuracy", "K-NN")
_m("knn_map", "probe", "K-NN mean average precision", "K-NN mAP", "", "ratio", "mAP")
_m("kmeans_majority_accuracy", "probe", "K-Means accuracy (majority)", "K-Means", "", "accuracy",
   "K-Means maj.")  # fmt: skip
_m("kmeans_hungarian_accuracy", "probe", "K-Means accuracy (Hungarian)", "K-Means (Hungarian)", "",
   "accuracy", "K-Means hung.")  # fmt: skip
_m("logreg_accuracy", "probe", "logistic-regression accuracy", "LR", "", "accuracy", "LR")
_m("kmeans_approximate", "probe", "K-Means on a column subset", "K-Means approx.", "", "flag", "approx.")
_m("logreg_approximate", "probe", "logistic regression on a column subset", "LR approx.", "", "flag")
# --- actcode regions (see actcode/regions/); lines_* and local_* come with _mean, _median, _q10 ...
for _rel, _what in (("same", "chords within a class"), ("different", "chords between classes"),
                    ("random", "random segments")):  # fmt: skip
    _m(f"lines_{_rel}_segments", "regions", f"segments walked ({_what})", f"segments ({_rel})", "segments",
       "count")  # fmt: skip
    for _stat in ("mean", "median", "q10", "q25", "q75", "q90"):
        _m(f"lines_{_rel}_regions_{_stat}", "regions", f"linear regions crossed, {_what} ({_stat})",
           f"regions/segment ({_rel}, {_stat})", "regions", "value",
           "regions/chord" if (_rel, _stat) == ("different", "mean") else None)  # fmt: skip
        _m(f"lines_{_rel}_density_{_stat}", "regions", f"linear regions per unit length, {_what} ({_stat})",
           f"region density ({_rel}, {_stat})", "regions per input unit", "value")  # fmt: skip
_m("lines_points_per_breakpoint", "regions", "network evaluations per breakpoint (exact walk)",
   "walk cost", "evaluations", "value")  # fmt: skip
_m("local_examples", "regions", "examples (local complexity)", "examples", "samples", "count")
for _stat in ("mean", "median", "q10", "q25", "q75", "q90"):
    _m(f"local_complexity_{_stat}", "regions", f"local complexity: units varying near an example ({_stat})",
       f"local complexity ({_stat})", "units", "value", "local" if _stat == "mean" else None)  # fmt: skip
_m("kernel_batch", "regions", "codes in the NAS batch", "batch", "samples", "count")
_m("naswot", "regions", "NASWOT score log|K| (-inf: singular K)", "NASWOT", "nats", "value", "NASWOT")
_m("naswot_duplicates", "regions", "codes equal to an earlier one in the NAS batch", "duplicates", "samples",
   "count")  # fmt: skip
_m("tenas_distinct", "regions", "distinct codes in the NAS batch (TE-NAS)", "TE-NAS distinct", "codes",
   "count", "distinct")  # fmt: skip
_m("plane_regions", "regions", "linear regions in the 2-D slice (connected sets of one code)",
   "slice regions", "regions", "count", "plane regions")  # fmt: skip
_m("plane_pieces", "regions", "affine pieces in the 2-D slice (regions cut at max-pool switches)",
   "slice pieces", "pieces", "count")  # fmt: skip
_m("plane_window_area", "regions", "area of the 2-D slice's window", "window area", "input units²", "value")
for _stat in ("mean", "median", "min", "max"):
    _m(f"plane_area_{_stat}", "regions", f"region area in the 2-D slice ({_stat})", f"region area ({_stat})",
       "input units²", "value")  # fmt: skip
_m("plane_regions_per_area", "regions", "linear regions per unit area of the 2-D slice", "slice density",
   "regions per input unit²", "value")  # fmt: skip
_m("plane_boundary_length", "regions", "length of the decision boundary in the 2-D slice",
   "boundary length", "input units", "value")  # fmt: skip

# --- the network's own numbers (split attributes, or provenance)
_m("net_accuracy", "network", "network accuracy", "network", "", "accuracy")
_m("net_loss", "network", "network loss (cross-entropy)", "network loss", "nats", "value")

#: Friendly names accepted in chart y specs, mapped to stored metric names.
ALIASES: dict[str, str] = {
    "r": "redundancy",
    "redundancy_ratio": "redundancy",
    "kmeans": "kmeans_majority_accuracy",
    "kmeans_majority": "kmeans_majority_accuracy",
    "kmeans_hungarian": "kmeans_hungarian_accuracy",
    "knn": "knn_accuracy",
    "logreg": "logreg_accuracy",
    "lr": "logreg_accuracy",
    "accuracy": "net_accuracy",
    "acc": "net_accuracy",
    "net_acc": "net_accuracy",
    "loss": "net_loss",
    "regions_per_chord": "lines_different_regions_mean",
    "region_density": "lines_different_density_mean",
    "local_complexity": "local_complexity_mean",
}


def metrics_of(stage: str) -> list[Metric]:
    """The registered metrics that ``stage`` produces, in table order."""
    return [m for m in METRICS.values() if m.stage == stage]


def names_of(stage: str) -> frozenset[str]:
    """Names of the metrics that ``stage`` produces."""
    return frozenset(m.name for m in metrics_of(stage))


def table_columns(stage: str) -> list[tuple[str, str]]:
    """(metric, header) of the columns of ``stage``'s stderr table."""
    return [(m.name, m.column) for m in metrics_of(stage) if m.column is not None]


def is_ratio(name: str) -> bool:
    """True for metrics whose values lie in [0, 1] (unregistered ``*_norm`` distances included)."""
    m = METRICS.get(name)
    return m.is_ratio if m is not None else name.endswith(NORM_SUFFIX)


def is_accuracy(name: str) -> bool:
    """True for registered accuracies."""
    m = METRICS.get(name)
    return m is not None and m.is_accuracy


def label_of(name: str) -> str:
    """Long label (an axis label); an unregistered name with '_' read as spaces.

    >>> label_of("redundancy"), label_of("custom_stat")
    ('redundancy ratio R', 'custom stat')
    """
    m = METRICS.get(name)
    return m.label if m is not None else name.replace("_", " ")


def short_of(name: str) -> str:
    """Short label for legends and titles; an unregistered name with '_' read as spaces."""
    m = METRICS.get(name)
    return m.short if m is not None else name.replace("_", " ")


def needs_labels(names: Iterable[str]) -> list[str]:
    """Those of ``names`` that are NaN on a split without labels."""
    return [n for n in names if (m := METRICS.get(n)) is not None and m.needs_labels]


__all__ = [
    "ALIASES",
    "KINDS",
    "METRICS",
    "STAGES",
    "Metric",
    "is_accuracy",
    "is_ratio",
    "label_of",
    "metrics_of",
    "names_of",
    "register",
    "short_of",
    "table_columns",
]
