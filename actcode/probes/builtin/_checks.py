"""Checks that several built-in probes share."""

from __future__ import annotations

from actcode.errors import ProbeError
from actcode.probes.registry import ProbeTask


def check_two_classes(title: str, task: ProbeTask) -> None:
    """Refuse a training split of a single class (nothing to separate)."""
    if task.classes.size < 2:
        msg = (
            f"the {title} probe cannot run on {task.where}: the training split {task.train!r} has a "
            f"single class (label {task.classes[0]}), so there is nothing to separate. "
            "Run only --probes knn, or use codes of two or more classes."
        )
        raise ProbeError(msg)
