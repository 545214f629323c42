"""How an image becomes a model's input: resize, centre crop, scale, normalise (shared by models and data)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from actcode.errors import InvalidParameterError


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the model's input: resize the shorter side, centre-crop, scale, normalise.

    Attributes
    ----------
    resize : int
        Length of the shorter side after resizing (pixels).
    crop : tuple of (int, int)
        Height and width of the centre crop, the model's input size.
    mean, std : tuple of float
        Per-channel normalisation after scaling pixels to [0, 1].
    interpolation : {"bilinear", "bicubic", "nearest"}
    source : str
        Where the values come from (weights metadata, options), for provenance.
    """

    resize: int
    crop: tuple[int, int]
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    interpolation: str = "bilinear"
    source: str = "defaults"

    def with_overrides(
        self,
        input_size: int | None = None,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
    ) -> Preprocess:
        """The same with ``--input-size`` (the crop; the resize keeps its ratio to it), ``--mean``, ``--std``.

        Examples
        --------
        >>> Preprocess(256, (224, 224)).with_overrides(input_size=112).resize
        128
        """
        out = self
        notes = []
        if input_size is not None:
            if input_size < 1:
                msg = f"--input-size must be a positive number of pixels. Got {input_size} instead."
                raise InvalidParameterError(msg)
            ratio = self.resize / max(self.crop)
            out = replace(out, crop=(input_size, input_size), resize=int(math.floor(input_size * ratio)))
            notes.append("--input-size")
        for name, value in (("mean", mean), ("std", std)):
            if value is None:
                continue
            if len(value) not in (1, len(self.mean)) or (name == "std" and min(value) <= 0):
                msg = (
                    f"--{name} must be one number or {len(self.mean)} comma-separated numbers"
                    + (" > 0" if name == "std" else "")
                    + f". Got {','.join(map(str, value))} instead."
                )
                raise InvalidParameterError(msg)
            full = tuple(float(v) for v in value) * (len(self.mean) if len(value) == 1 else 1)
            out = replace(out, mean=full) if name == "mean" else replace(out, std=full)
            notes.append(f"--{name}")
        if notes:
            out = replace(out, source=f"{self.source}, overridden by {', '.join(notes)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, for provenance."""
        d = asdict(self)
        d["crop"] = list(self.crop)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


__all__ = ["Preprocess"]
