"""Training: ``train(TrainConfig)`` writes one checkpoint per saved epoch and returns their paths.

The package splits the work into :mod:`~actcode.training.sampling` (which examples and labels),
:mod:`~actcode.training.optim` (device, optimizer, schedule, determinism) and
:mod:`~actcode.training.loop` (the loop and the checkpoints).
"""

from __future__ import annotations

from actcode.training.loop import EpochReport, checkpoint_name, evaluate, train
from actcode.training.sampling import Selection, apply_label_noise, make_selection, select_subset

__all__ = [
    "EpochReport",
    "Selection",
    "apply_label_noise",
    "checkpoint_name",
    "evaluate",
    "make_selection",
    "select_subset",
    "train",
]
