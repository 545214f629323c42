"""The three expressivity regimes of the phase chart: codes, names, thresholds and the classification rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actcode.errors import InvalidParameterError

MISSING, UNDER, CRITICAL, SUFFICIENT = -1, 0, 1, 2
#: Regime codes returned by :func:`classify_regimes` and their names.
REGIME_NAMES = {
    MISSING: "no run",
    UNDER: "under-expressive",
    CRITICAL: "critically-expressive",
    SUFFICIENT: "sufficiently-expressive",
}
#: Hatch of each regime's cells (drawn over the colours).
REGIME_HATCHES = {UNDER: "////", CRITICAL: "....", SUFFICIENT: ""}


@dataclass(frozen=True)
class PhaseThresholds:
    """Thresholds of the regime rule (see :func:`classify_regimes` and formats/phase-chart.md).

    Parameters
    ----------
    r_high : float
        A cell whose redundancy ratio R exceeds it is under-expressive (default 0.1).
    r_low : float
        Sufficiently-expressive cells have R at most this (default 0.01).
    a_low : float
        A cell whose accuracy is below ``a_low`` times the plateau is under-expressive
        (default 0.75).
    a_high : float
        Sufficiently-expressive cells reach at least ``a_high`` times the plateau (default 0.95).
    plateau : float, optional
        The accuracy plateau A*; default: the largest cell mean of A over the grid.
    """

    r_high: float = 0.1
    r_low: float = 0.01
    a_low: float = 0.75
    a_high: float = 0.95
    plateau: float | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.r_low <= self.r_high):
            msg = (
                f"thresholds must satisfy 0 <= r_low <= r_high. Got r_low={self.r_low}, r_high={self.r_high}."
            )
            raise InvalidParameterError(msg)
        if not (0.0 <= self.a_low <= self.a_high):
            msg = (
                f"thresholds must satisfy 0 <= a_low <= a_high. Got a_low={self.a_low}, a_high={self.a_high}."
            )
            raise InvalidParameterError(msg)
        if self.plateau is not None and not (np.isfinite(self.plateau) and self.plateau > 0):
            msg = f"the accuracy plateau must be a positive number. Got {self.plateau}."
            raise InvalidParameterError(msg)


def accuracy_plateau(A: np.ndarray, thresholds: PhaseThresholds | None = None) -> float:
    """A*: ``thresholds.plateau`` when set, else the largest finite value of ``A`` (NaN if none)."""
    if thresholds is not None and thresholds.plateau is not None:
        return float(thresholds.plateau)
    finite = np.asarray(A, dtype=float)[np.isfinite(A)]
    return float(finite.max()) if finite.size else float("nan")


def classify_regimes(R: np.ndarray, A: np.ndarray, thresholds: PhaseThresholds | None = None) -> np.ndarray:
    """Classify cells into the three expressivity regimes.

    With A* the accuracy plateau (:func:`accuracy_plateau`), a cell is

    - UNDER-expressive (0) if ``R > r_high`` or ``A < a_low * A*``;
    - SUFFICIENTLY-expressive (2) if ``R <= r_low`` and ``A >= a_high * A*``;
    - CRITICALLY-expressive (1) otherwise;
    - missing (-1) where R or A is NaN (no run).

    Parameters
    ----------
    R : ndarray of shape (n_y, n_x)
        Redundancy ratio per cell (mean over seeds), NaN where there is no run.
    A : ndarray of shape (n_y, n_x)
        Categorization accuracy per cell (mean over seeds), NaN where there is no run.
    thresholds : PhaseThresholds, optional

    Returns
    -------
    regimes : ndarray of shape (n_y, n_x), dtype=np.int8

    Examples
    --------
    >>> R = np.array([[0.5, 0.05, 0.0, np.nan]])
    >>> A = np.array([[0.9, 0.9, 1.0, 1.0]])
    >>> classify_regimes(R, A).tolist()
    [[0, 1, 2, -1]]
    """
    t = thresholds or PhaseThresholds()
    R = np.asarray(R, dtype=float)
    A = np.asarray(A, dtype=float)
    if R.shape != A.shape:
        msg = f"R and A must have the same shape. Got {R.shape} and {A.shape}."
        raise InvalidParameterError(msg)
    missing = ~(np.isfinite(R) & np.isfinite(A))
    a_star = accuracy_plateau(np.where(missing, np.nan, A), t)
    out = np.full(R.shape, CRITICAL, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        under = (R > t.r_high) | (A < t.a_low * a_star)
        sufficient = (R <= t.r_low) & (A >= t.a_high * a_star) & ~under
    out[under] = UNDER
    out[sufficient] = SUFFICIENT
    out[missing] = MISSING
    return out


__all__ = [
    "CRITICAL",
    "MISSING",
    "REGIME_HATCHES",
    "REGIME_NAMES",
    "SUFFICIENT",
    "UNDER",
    "PhaseThresholds",
    "accuracy_plateau",
    "classify_regimes",
]
