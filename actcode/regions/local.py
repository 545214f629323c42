"""``local``: local complexity, the units whose bit is not constant on a small star around each example.

For an example x, P random orthonormal directions u_1..u_P (seeded, per example) and a radius
r, the 2P + 1 points x and x ± r·u_k are encoded by extract's own path (its recorder, ``pre > 0``,
packed rows). A unit counts when its bit is not the same at all of them: the packed rows'
OR differs from their AND at that bit. This is the local complexity of Humayun, Balestriero
and Baraniuk (2024, "Deep networks always grok"), counted per site and over the whole code.

For a first-layer unit with pre-activation w·x + b the count is exactly
``|w·x + b| < r·max_k |w·u_k|`` (up to the bit's ``> 0`` at equality), and it tends to 0 as r -> 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from actcode.codes import LayerInfo
from actcode.errors import InvalidParameterError
from actcode.extraction.run import make_recorder
from actcode.extraction.sites import Site, exact_fp32
from actcode.regions.lines import QUANTILES
from actcode.results import SCOPE_ALL, layer_scope

__all__ = ["data_scale", "local_complexity", "local_rows", "star_directions", "varying_bits"]


def data_scale(x: torch.Tensor | np.ndarray) -> float:
    """Root-mean-square distance of the rows to their mean: the data's scale.

    Examples
    --------
    >>> data_scale(np.array([[0.0, 0.0], [2.0, 0.0]]))
    1.0
    """
    a = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return float(np.sqrt(((a - a.mean(axis=0)) ** 2).sum(axis=1).mean()))


def star_directions(n: int, dim: int, p: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sets of ``p`` random orthonormal directions in R^dim (QR of Gaussian matrices).

    Returns
    -------
    ndarray of shape (n, p, dim), float64
    """
    if p > dim:
        msg = f"--directions must be at most the input dimension {dim}. Got {p} instead."
        raise InvalidParameterError(msg)
    g = rng.standard_normal((n, dim, p))
    q, _ = np.linalg.qr(g)
    return np.ascontiguousarray(np.swapaxes(q, 1, 2))


def varying_bits(codes: np.ndarray, group: int) -> np.ndarray:
    """Packed mask of the bits that are not constant within each run of ``group`` rows.

    Parameters
    ----------
    codes : ndarray of shape (n * group, n_bytes), dtype=np.uint8

    Returns
    -------
    ndarray of shape (n, n_bytes), dtype=np.uint8
        ``OR(rows) XOR AND(rows)`` per group.
    """
    c = codes.reshape(-1, group, codes.shape[1])
    out: np.ndarray = np.bitwise_or.reduce(c, axis=1) ^ np.bitwise_and.reduce(c, axis=1)
    return out


def local_complexity(
    model: nn.Module,
    sites: Sequence[Site],
    layers: Sequence[LayerInfo],
    x: torch.Tensor,
    *,
    radius: float,
    directions: int = 8,
    seed: int = 0,
    batch: int = 64,
    census: Sequence[Site] | None = None,
) -> np.ndarray:
    """Per example and per site, the number of units whose bit varies on the star of radius ``radius``.

    Parameters
    ----------
    model : torch.nn.Module
        Run as extract runs it (its own dtype, eval mode, TF32 off).
    sites, layers : the sites to count and their laid-out layer table (as in the code file).
        Op sites (``Site.op``, from ``find_sites(..., mode="ops")``) are recorded at the
        operator level as extract records them, module sites by module hooks.
    census : list of Site, optional
        Every site of the model (the probe pass), when ``sites`` has op sites and is a
        selection: each ReLU-like op is counted against it (default: ``sites``).
    x : Tensor of shape (n, *input_shape)

    Returns
    -------
    counts : ndarray of shape (n, n_sites), dtype=np.int64
    """
    n = int(x.shape[0])
    dim = int(np.prod(x.shape[1:]))
    rng = np.random.default_rng(seed)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    group = 2 * directions + 1
    out = np.zeros((n, len(sites)), np.int64)
    was = model.training
    model.eval()
    try:
        with exact_fp32(), torch.inference_mode(), make_recorder(model, sites, census) as rec:
            for lo in range(0, n, batch):
                xb = x[lo : lo + batch].to(torch.float64)
                m = int(xb.shape[0])
                u = torch.as_tensor(star_directions(m, dim, directions, rng)) * radius
                flat = xb.reshape(m, 1, dim)
                star = torch.cat([flat, flat + u, flat - u], dim=1).reshape(m * group, *x.shape[1:])
                star = star.to(dev, dtype)
                rec.begin(m * group, dev)
                rec.forward(star)
                var = varying_bits(rec.packed(), group)
                for k, layer in enumerate(layers):
                    out[lo : lo + m, k] = np.bitwise_count(var[:, layer.byte_offset : layer.byte_stop]).sum(
                        axis=1
                    )
    finally:
        model.train(was)
    return out


def local_rows(
    counts: np.ndarray, site_names: Sequence[str], selected: Sequence[int]
) -> list[tuple[str, str, float]]:
    """(scope, metric, value) rows: mean, median and quantiles of the local complexity, all and per site."""
    rows: list[tuple[str, str, float]] = []
    scopes: list[tuple[str, np.ndarray]] = [(SCOPE_ALL, counts.sum(axis=1))]
    scopes += [(layer_scope(site_names[k]), counts[:, k]) for k in selected]
    for scope, v in scopes:
        vals: dict[str, Any] = {
            "local_examples": float(v.size),
            "local_complexity_mean": float(v.mean()),
            "local_complexity_median": float(np.median(v)),
        }
        for q in QUANTILES:
            vals[f"local_complexity_q{round(q * 100):02d}"] = float(np.quantile(v, q))
        rows.extend((scope, m, float(val)) for m, val in vals.items())
    return rows
