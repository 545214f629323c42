"""Metric specs of the charts: ``METRIC_SPLIT[@SCOPE]`` names, aliases, and checks that files hold them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actcode.errors import InvalidParameterError
from actcode.metrics import ALIASES, METRICS, names_of

if TYPE_CHECKING:
    from actcode.charts.runs import Run

#: Metric names of the network's own numbers, read from the split info (or provenance).
NET_METRICS = tuple(sorted(names_of("network")))
#: Metrics written by ``actcode probe`` (the others come from ``actcode measure``).
PROBE_METRICS = names_of("probe")
#: Split names recognised as a ``_<split>`` suffix even before any file is read.
KNOWN_SPLITS = ("train", "test", "random", "val")


@dataclass(frozen=True)
class YSpec:
    """One plotted quantity: a stored metric on a split and a scope.

    Examples
    --------
    >>> YSpec("redundancy", "test", "all").label
    'redundancy_test'
    """

    metric: str
    split: str
    scope: str = "all"

    @property
    def key(self) -> tuple[str, str, str]:
        """The key of :attr:`Run.metrics`."""
        return (self.metric, self.split, self.scope)

    @property
    def label(self) -> str:
        """Compact text of the spec (``metric_split[@scope]``)."""
        return f"{self.metric}_{self.split}" + ("" if self.scope == "all" else f"@{self.scope}")


def resolve_metric(name: str) -> str:
    """Stored metric name for a name or alias of a y spec.

    Examples
    --------
    >>> resolve_metric("kmeans"), resolve_metric("knn"), resolve_metric("redundancy")
    ('kmeans_majority_accuracy', 'knn_accuracy', 'redundancy')
    """
    return ALIASES.get(name.lower(), ALIASES.get(name, name))


def _resolve_in(name: str, runs: Sequence[Run]) -> str:
    """:func:`resolve_metric`; and a probe's name for its accuracy (``centroid`` for a plugin's
    ``centroid_accuracy``) when the runs hold that and not the name itself."""
    metric = resolve_metric(name)
    held = {k[0] for r in runs for k in r.metrics}
    accuracy = f"{metric}_accuracy"
    return accuracy if metric not in held and accuracy in held else metric


def parse_y(text: str, runs: Sequence[Run], scope: str = "all") -> list[list[YSpec]]:
    """Parse a y spec into panels of overlaid series.

    ``,`` separates panels and ``+`` overlays series in one panel. A series is
    ``METRIC_SPLIT`` (``redundancy_test``, ``knn_test``, ``kmeans_hungarian_train``), where
    the split is the text after the last underscore when it names a split; ``@SCOPE`` may
    follow (``redundancy_test@layer:fc2.relu``). A bare ``METRIC`` means its train and test
    series overlaid (those the files hold). Aliases: see :data:`ALIASES`.

    Examples
    --------
    >>> from pathlib import Path
    >>> from actcode.charts.runs import Run
    >>> run = Run(Path("a.h5"), {}, {("redundancy", "train", "all"): 0.1, ("redundancy", "test", "all"): 0.2,
    ...                              ("knn_accuracy", "test", "all"): 0.9})
    >>> [[s.label for s in p] for p in parse_y("redundancy,knn_test", [run])]
    [['redundancy_train', 'redundancy_test'], ['knn_accuracy_test']]
    """
    scope = normalise_scope(scope)
    present_splits = {k[1] for run in runs for k in run.metrics} | set(KNOWN_SPLITS)
    panels: list[list[YSpec]] = []
    for panel_text in text.split(","):
        series: list[YSpec] = []
        for token in panel_text.split("+"):
            token = token.strip()
            if not token:
                msg = (
                    f"empty entry in the y spec {text!r}; write METRIC_SPLIT entries joined by ',' (panels) "
                    "or '+' (overlay)."
                )
                raise InvalidParameterError(msg)
            tscope = scope
            if "@" in token:
                token, _, s = token.partition("@")
                tscope = normalise_scope(s)
            base, _, suffix = token.rpartition("_")
            if base and suffix in present_splits:
                series.append(YSpec(_resolve_in(base, runs), suffix, tscope))
            else:
                metric = _resolve_in(token, runs)
                splits = [s for s in ("train", "test") if any((metric, s, tscope) in r.metrics for r in runs)]
                if not splits:
                    splits = sorted(
                        {k[1] for r in runs for k in r.metrics if k[0] == metric and k[2] == tscope}
                    )
                if not splits:
                    raise InvalidParameterError(_unknown_metric_msg(token, metric, None, tscope, runs))
                series.extend(YSpec(metric, s, tscope) for s in splits)
        panels.append(series)
    return panels


def normalise_scope(scope: str) -> str:
    """``all``, ``layer:NAME`` or ``upto:NAME``; a bare site name means ``layer:NAME``."""
    scope = scope.strip()
    if scope == "all" or scope.startswith(("layer:", "upto:")):
        return scope
    if not scope:
        return "all"
    return f"layer:{scope}"


def _unknown_metric_msg(text: str, metric: str, split: str | None, scope: str, runs: Sequence[Run]) -> str:
    names = sorted({k[0] for r in runs for k in r.metrics if k[2] == scope})
    scopes = sorted({k[2] for r in runs for k in r.metrics})
    where = f"split {split!r}, scope {scope!r}" if split else f"scope {scope!r}"
    if not any(r.result_kinds for r in runs):
        return (
            f"the files hold no measure or probe results, so there is no {text!r} to chart. "
            "Run 'actcode measure' and 'actcode probe' on them first."
        )
    shown = ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")
    msg = (
        f"no file holds the metric {metric!r} ({where}) asked for by {text!r}. "
        f"Metrics present: {shown or '(none)'}"
    )
    if scope not in scopes:
        msg += f". Scopes present: {', '.join(scopes[:8])}{' ...' if len(scopes) > 8 else ''}"
    return msg + (
        ". Names are METRIC_SPLIT (redundancy_test); aliases: kmeans, kmeans_hungarian, knn, logreg (probe "
        "accuracies), accuracy and loss (the network's own)."
    )


def check_metrics(runs: Sequence[Run], specs: Iterable[YSpec]) -> None:
    """Raise unless every run holds every spec's (metric, split, scope)."""
    for spec in specs:
        missing = [r for r in runs if spec.key not in r.metrics]
        if not missing:
            continue
        if len(missing) == len(runs):
            raise InvalidParameterError(
                _unknown_metric_msg(spec.label, spec.metric, spec.split, spec.scope, runs)
            )
        r = missing[0]
        stage = METRICS[spec.metric].stage if spec.metric in METRICS else "measure"
        need = stage if stage != "network" else "measure"
        if not r.result_kinds:
            why = "it holds no measure or probe results"
        elif spec.metric in NET_METRICS:
            why = "its split information has no network accuracy/loss"
        else:
            why = f"it has results ({', '.join(r.result_kinds)}) but no row for {spec.key}"
        msg = (
            f"{r.path} (and {len(missing) - 1} more of {len(runs)} files) cannot give {spec.label}: {why}. "
            f"Run 'actcode {need}' on it, or leave it out."
        )
        raise InvalidParameterError(msg)


__all__ = [
    "ALIASES",
    "KNOWN_SPLITS",
    "NET_METRICS",
    "PROBE_METRICS",
    "YSpec",
    "check_metrics",
    "normalise_scope",
    "parse_y",
    "resolve_metric",
]
