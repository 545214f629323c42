"""Where ``extract`` writes: one output per checkpoint, ``-o`` for one input or ``--out-dir`` for many."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from actcode.errors import InvalidParameterError, OutputError
from actcode.extraction.api import default_output
from actcode.extraction.shards import Shard


def make_out_dir(out_dir: str | Path | None) -> Path | None:
    """``out_dir`` created if missing (``None`` stays ``None``); OutputError (exit 7) when it cannot be."""
    if out_dir is None:
        return None
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create --out-dir {folder}: {exc.strerror or exc}."
        raise OutputError(msg) from None
    return folder


def plan_outputs(
    inputs: Sequence[str | Path],
    *,
    output: str | Path | None = None,
    out_dir: str | Path | None = None,
    shard: Shard | None = None,
) -> list[Path | None]:
    """The output of each checkpoint, checked before any is read: ``output`` (one input only), else
    ``out_dir/NAME.h5`` (refused when two inputs share a name), else ``None`` (next to the checkpoint).

    Examples
    --------
    >>> plan_outputs(["runs/a.pt", "runs/b.pt"])
    [None, None]
    """
    if output is not None and len(inputs) > 1:
        msg = (
            f"-o/--output names one file but {len(inputs)} checkpoints were given; use --out-dir for several."
        )
        raise InvalidParameterError(msg)
    if output is not None and out_dir is not None:
        msg = "give -o/--output or --out-dir, not both."
        raise InvalidParameterError(msg)
    if output is not None:
        return [Path(output)]
    folder = make_out_dir(out_dir)
    if folder is None:
        return [None] * len(inputs)
    stems = [Path(p).stem for p in inputs]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        msg = f"--out-dir: several checkpoints share the name {dupes[0]!r}, so their outputs would collide."
        raise InvalidParameterError(msg)
    return [folder / default_output(stem + ".pt", shard).name for stem in stems]


def user_model_output(
    weights: str | None, output: str | Path | None, out_dir: str | Path | None
) -> Path | None:
    """The output of a user's model: ``output``, else ``out_dir/WEIGHTS.h5`` (after its weights file)."""
    folder = make_out_dir(out_dir)
    if output is not None or folder is None:
        return None if output is None else Path(output)
    if weights is None or weights == "DEFAULT":
        msg = "without a --weights file, name the output with -o/--output."
        raise InvalidParameterError(msg)
    return folder / (Path(weights).stem + ".h5")


__all__ = ["make_out_dir", "plan_outputs", "user_model_output"]
