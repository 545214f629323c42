"""The affine piece of a ReLU network around a point: pre-activations a + Σ_k s_k·b_k, exactly.

For a fixed activation pattern a ReLU-like network is affine in its input. So along
``x + s·u`` (or on the plane ``x + s1·u1 + s2·u2``) every pre-activation is ``a + s·b`` as
long as the pattern holds. :class:`PieceRunner` obtains ``a`` and ``b`` from one forward
pass of a stacked batch ``[x, x + u_1, ..., x + u_K]``: at each activation site the pattern
is read from the first block and applied to every block, so all blocks run through the
same affine map and ``b_k = z(x + u_k) - z(x)`` exactly (up to float64 rounding).

- The pattern read at ``x`` is the *right limit* along ``u_1``: a unit is on when
  ``a + tau·b_1 > 0`` (``tau = 0``: plain ``a > 0``, the code's own bit). A unit whose
  pre-activation is exactly 0 at ``x`` takes the state it has just after ``x``.
- ReLU, LeakyReLU, PReLU and RReLU (eval: the mean slope) are sites. BatchNorm in eval
  mode, convolutions, linear layers, average pooling and residual additions are affine and
  need nothing. ``nn.MaxPool2d`` selects the maximum of each window by the same right-limit
  rule and gathers that element in every block; where another element of a window
  overtakes the chosen one the affine piece changes while the code does not, so the
  runner also returns the nearest such *switch* along ``u_1``. Padding and ``ceil_mode``
  (every torchvision and timm ResNet) change nothing: padded elements are ``-inf`` and never
  win, so a padded max-pool is still a max of affine pieces.
- Sites are found as the code file's extraction found them (``mode``). With ``"modules"``
  the activation modules are hooked and :func:`find_sites` refuses functional ReLUs; with
  ``"ops"`` a ``TorchDispatchMode`` freezes every ReLU-like ATen op whatever its spelling
  (``F.relu``, ``x.clamp(min=0)``, in-place, ...), keyed as extraction keys it.
- Anything else that is not affine (a sigmoid, a LayerNorm) would break the construction;
  :meth:`PieceRunner.check_affine` detects it from three collinear points.

The model is copied to float64 (the caller's model is not touched) and runs in eval mode.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from actcode.errors import InvalidParameterError
from actcode.extraction.sites import Site, find_sites

__all__ = ["NotPiecewiseAffineError", "Piece", "PieceRunner", "PoolWindows", "site_offsets"]


class NotPiecewiseAffineError(InvalidParameterError):
    """A model is not affine between its activation sites, so its code does not name a linear region."""


@dataclass
class Piece:
    """Pre-activations of every site on the affine piece at the base points.

    Attributes
    ----------
    a : Tensor of shape (n, D), float64
        Pre-activations at the base points (all sites, in forward order, flattened).
    b : Tensor of shape (K, n, D), float64
        Their change per unit step along each direction, on the frozen pattern.
    bits : Tensor of shape (n, D), bool
        The pattern used (the right limit along the first direction when ``tau > 0``).
    out_a, out_b : Tensor of shape (n, C) and (K, n, C)
        The network's output (logits) and its slopes, on the same piece.
    switch : Tensor of shape (n,)
        Smallest step along the first direction at which a max-pool's choice changes
        (``inf`` without max-pools or when not requested).
    windows : PoolWindows, optional
        The windows of the max-pool call asked for (:meth:`PieceRunner.stage`), else None.
    """

    a: torch.Tensor
    b: torch.Tensor
    bits: torch.Tensor
    out_a: torch.Tensor
    out_b: torch.Tensor
    switch: torch.Tensor
    windows: PoolWindows | None = None


@dataclass
class PoolWindows:
    """The candidates of every window of one max-pool call, on the frozen piece.

    Attributes
    ----------
    a : Tensor of shape (n, C, kk, L), float64
        Each window's kk elements at the base points (``-inf`` where the window covers padding),
        for C channels and L output positions.
    b : Tensor of shape (K, n, C, kk, L)
        Their change per unit step along each direction (0 on padding).
    """

    a: torch.Tensor
    b: torch.Tensor


def site_offsets(sites: Sequence[Site]) -> np.ndarray:
    """Start of each site's units in the flattened pattern, plus the total (length n_sites + 1).

    Examples
    --------
    >>> site_offsets([Site("a", "a", "ReLU", (3,), 0, "output"), Site("b", "b", "ReLU", (2, 2), 0, "output")])
    array([0, 3, 7])
    """
    return np.concatenate([[0], np.cumsum([s.n_units for s in sites])]).astype(np.int64)


def _negative_slope(module: nn.Module, pre: torch.Tensor) -> torch.Tensor | float:
    """Slope of a site module below zero (0 for ReLU), broadcastable to ``pre`` (batch first)."""
    if isinstance(module, nn.PReLU):
        w = module.weight.to(pre.dtype)
        if w.numel() == 1:
            return w.reshape(())
        return w.reshape((1, -1) + (1,) * (pre.ndim - 2))
    if isinstance(module, nn.LeakyReLU):
        return float(module.negative_slope)
    if isinstance(module, nn.RReLU):
        return (float(module.lower) + float(module.upper)) / 2.0
    return 0.0


class _StageDone(Exception):
    """Raised by a hook to end a forward pass once the stage asked for has been recorded."""


class PieceRunner:
    """Evaluate a network's affine pieces at batches of points, with their directions.

    Parameters
    ----------
    model : torch.nn.Module
        A network whose nonlinearities are ReLU-like modules and (optionally) ``MaxPool2d``.
    example : Tensor of shape (n, *input_shape)
        Inputs the sites are discovered on.
    device : torch.device, optional
        Where to run (default: CPU).
    mode : {"modules", "ops"}
        How sites are found and frozen: activation-module hooks, or every ReLU-like op
        under a dispatch mode (the code file's extraction mode; see :func:`find_sites`).
    analysis : str
        The analysis the runner serves, named when a network is refused.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    ...     _ = net[0].bias.zero_()
    >>> with PieceRunner(net, torch.zeros(1, 1)) as run:
    ...     p = run(torch.tensor([[0.0]]), torch.tensor([[[1.0]]]), tau=1e-9)
    >>> p.bits.tolist(), p.b[0].tolist()
    ([[True, False]], [[1.0, -1.0]])
    """

    def __init__(
        self,
        model: nn.Module,
        example: torch.Tensor,
        device: torch.device | None = None,
        *,
        mode: str = "modules",
        analysis: str = "lines and plane",
    ) -> None:
        self.device = device or torch.device("cpu")
        self.analysis = analysis
        self.model = copy.deepcopy(model).to(self.device, torch.float64).eval()
        self.mode = mode
        ex = example.to(self.device, torch.float64)
        probe = ex[: max(1, min(2, ex.shape[0]))]
        self.sites = find_sites(self.model, probe, check_functional=True, mode=mode)
        self.offsets = site_offsets(self.sites)
        self.n_units = int(self.offsets[-1])
        self.input_shape = tuple(int(s) for s in ex.shape[1:])
        modules = dict(self.model.named_modules())
        self._plan: dict[tuple[str, str], list[int]] = {}
        for i, s in enumerate(self.sites):
            self._plan.setdefault((s.module, s.op), [-1] * s.module_calls)[s.call_index] = i
        self._site_modules = {
            path: modules["" if path == "(root)" else path] for path, _op in self._plan if mode == "modules"
        }
        self._pools = [(p, m) for p, m in modules.items() if isinstance(m, nn.MaxPool2d)]
        for path, m in modules.items():
            if isinstance(m, nn.MaxPool1d | nn.MaxPool3d | nn.AdaptiveMaxPool1d | nn.AdaptiveMaxPool2d):
                msg = (
                    f"the {analysis} analysis: module {path!r} ({type(m).__name__}) is not supported "
                    "(MaxPool2d is, with any padding and ceil_mode); choose local or kernel for this network."
                )
                raise NotPiecewiseAffineError(msg)
        self._handles: list[Any] = []
        self._stack: Any = None
        self._freeze_mode: Any = None
        self._state: dict[str, Any] = {}
        self.points = 0  # network evaluations so far (one per stacked row)
        #: The nonlinearities in the order the last call ran them: ("site", k) and ("pool", j).
        self.stages: tuple[tuple[str, int], ...] = ()

    # -- hooks ---------------------------------------------------------------------------
    def _freeze(self, key: tuple[str, str], pre: torch.Tensor, slope: torch.Tensor | float) -> torch.Tensor:
        """The activation's output on the pattern read at the first block; records the site's a, b, bits."""
        st = self._state
        k = st["calls"].get(key, 0)
        st["calls"][key] = k + 1
        blocks = pre.reshape((st["K"] + 1, st["n"], *pre.shape[1:]))
        a = blocks[0]
        lead = a + st["tau"] * (blocks[1] - a) if st["tau"] > 0 and st["K"] > 0 else a
        mask = lead > 0
        factor = torch.where(mask, torch.ones_like(a), torch.zeros_like(a) + slope)
        plan = self._plan.get(key, [])
        site = plan[k] if k < len(plan) else -1
        if site >= 0:
            st["events"].append(("site", site))
            st["a"][site] = a.reshape(st["n"], -1).clone()  # an in-place op overwrites pre
            st["b"][site] = (blocks[1:] - a.unsqueeze(0)).reshape(st["K"], st["n"], -1)
            st["bits"][site] = mask.reshape(st["n"], -1)
            if st["until"] == ("site", site):
                raise _StageDone
        return (blocks * factor.unsqueeze(0)).reshape(pre.shape)

    def _site_hook(self, path: str) -> Any:
        run = self

        def pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            pre = args[0]
            run._state["out"][path] = run._freeze((path, ""), pre, _negative_slope(module, pre))

        def hook(_m: nn.Module, _args: tuple[Any, ...], _out: Any) -> torch.Tensor:
            out: torch.Tensor = run._state["out"].pop(path)
            return out

        return pre_hook, hook

    def _pool_hook(self, m: nn.MaxPool2d) -> Any:
        run = self
        kernel, stride, dil = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.dilation)
        pad, ceil = _pair(m.padding), bool(m.ceil_mode)

        def hook(_m: nn.Module, args: tuple[Any, ...], _out: Any) -> torch.Tensor:
            st = run._state
            x = args[0]
            blocks = x.reshape((st["K"] + 1, st["n"], *x.shape[1:]))
            a = blocks[0]
            lead = a + st["tau"] * (blocks[1] - a) if st["tau"] > 0 and st["K"] > 0 else a
            # padding is -inf to max_pool2d (it never wins), and the indices address the unpadded plane
            pooled, idx = F.max_pool2d(lead, kernel, stride, pad, dil, ceil, return_indices=True)
            flat = blocks.flatten(3)
            gidx = idx.flatten(2).unsqueeze(0).expand(st["K"] + 1, -1, -1, -1)
            out = flat.gather(3, gidx).reshape((st["K"] + 1, *pooled.shape))
            call = len([e for e in st["events"] if e[0] == "pool"])
            st["events"].append(("pool", call))
            if st["switches"] and st["K"] > 0:
                st["switch"] = torch.minimum(
                    st["switch"], _pool_switch(a, blocks[1] - a, idx, kernel, stride, dil, pad)
                )
            if st["until"] == ("pool", call):
                st["pool"] = _pool_windows(a, blocks[1:] - a.unsqueeze(0), idx, kernel, stride, dil, pad)
                raise _StageDone
            res: torch.Tensor = out.reshape((-1, *pooled.shape[1:]))
            return res

        return hook

    def __enter__(self) -> PieceRunner:
        try:
            if self.mode == "ops":
                from actcode.extraction.ops import ModuleStack

                self._stack = ModuleStack(self.model).__enter__()
                self._freeze_mode = _FrozenOps(self)
            for path, module in self._site_modules.items():
                pre, post = self._site_hook(path)
                self._handles.append(module.register_forward_pre_hook(pre))
                self._handles.append(module.register_forward_hook(post))
            for _path, m in self._pools:
                self._handles.append(m.register_forward_hook(self._pool_hook(m)))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._stack is not None:
            self._stack.__exit__(None, None, None)
            self._stack = None
            self._freeze_mode = None

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- evaluation ----------------------------------------------------------------------
    def __call__(
        self, x: torch.Tensor, dirs: torch.Tensor, *, tau: float = 0.0, switches: bool = False
    ) -> Piece:
        """The affine piece at points ``x`` along directions ``dirs``.

        Parameters
        ----------
        x : Tensor of shape (n, *input_shape)
        dirs : Tensor of shape (K, n, *input_shape)
            ``b[k]`` is the change of the pre-activations from ``x`` to ``x + dirs[k]`` on the piece.
        tau : float
            The pattern is that at ``x + tau·dirs[0]`` on the piece (0: at ``x``).
        switches : bool
            Compute :attr:`Piece.switch` (max-pool choices changing along ``dirs[0]``).
        """
        out = self._forward(x, dirs, tau=tau, switches=switches, until=None)
        st, n_sites = self._state, len(self.sites)
        missing = [self.sites[i].name for i in range(n_sites) if st["a"][i] is None]
        if missing or out is None:
            msg = (
                f"activation site(s) {', '.join(missing[:5])} did not run; the model's forward pass changed."
            )
            raise NotPiecewiseAffineError(msg)
        self.stages = tuple(st["events"])
        ob = out.reshape(st["K"] + 1, st["n"], -1)
        return Piece(
            a=torch.cat(st["a"], dim=1),
            b=torch.cat(st["b"], dim=2),
            bits=torch.cat(st["bits"], dim=1),
            out_a=ob[0],
            out_b=ob[1:] - ob[0].unsqueeze(0),
            switch=st["switch"],
        )

    def stage(self, x: torch.Tensor, dirs: torch.Tensor, stage: tuple[str, int]) -> Piece:
        """The piece of one stage (:attr:`stages`) at ``x``; the forward pass stops after it.

        For ``("site", k)`` the result's ``a``, ``b`` and ``bits`` hold site k's units only; for
        ``("pool", j)`` its ``windows`` hold the j-th max-pool call's. The outputs are empty.
        """
        self._forward(x, dirs, tau=0.0, switches=False, until=stage)
        st = self._state
        if stage not in st["events"]:
            msg = f"stage {stage} did not run; the model's forward pass changed."
            raise NotPiecewiseAffineError(msg)
        kind, k = stage
        n, none = st["n"], torch.zeros((st["n"], 0), dtype=torch.float64, device=self.device)
        a, b, bits = (
            (st["a"][k], st["b"][k], st["bits"][k]) if kind == "site" else (none, none[None], none > 0)
        )
        return Piece(a, b, bits, none, none[None].expand(st["K"], n, 0), st["switch"], windows=st["pool"])

    @torch.no_grad()
    def _forward(
        self,
        x: torch.Tensor,
        dirs: torch.Tensor,
        *,
        tau: float,
        switches: bool,
        until: tuple[str, int] | None,
    ) -> torch.Tensor | None:
        """Run the stacked batch, the hooks recording into ``_state``; the output (None when stopped)."""
        if not self._handles and self._freeze_mode is None:
            msg = "PieceRunner must be used as a context manager (with PieceRunner(...) as run)."
            raise RuntimeError(msg)
        x = x.to(self.device, torch.float64)
        dirs = dirs.to(self.device, torch.float64)
        n, k = int(x.shape[0]), int(dirs.shape[0])
        n_sites = len(self.sites)
        self._state = {
            "n": n,
            "K": k,
            "tau": float(tau),
            "calls": {},
            "out": {},
            "a": [None] * n_sites,
            "b": [None] * n_sites,
            "bits": [None] * n_sites,
            "switches": switches,
            "switch": torch.full((n,), float("inf"), dtype=torch.float64, device=self.device),
            "events": [],
            "until": until,
            "pool": None,
        }
        stacked = torch.cat([x.unsqueeze(0), x.unsqueeze(0) + dirs], dim=0).reshape((k + 1) * n, *x.shape[1:])
        self.points += (k + 1) * n
        try:
            if self._freeze_mode is not None:
                self._stack.reset()
                with self._freeze_mode:
                    out = self.model(stacked)
            else:
                out = self.model(stacked)
        except _StageDone:
            return None
        res: torch.Tensor = out[0] if isinstance(out, tuple | list) else out
        return res

    def check_affine(self, x: torch.Tensor, u: torch.Tensor, rtol: float = 1e-7) -> None:
        """Raise :class:`NotPiecewiseAffineError` unless every site is affine on the frozen pattern.

        Evaluates ``x``, ``x + u`` and ``x + 2u`` on the pattern at ``x``: an affine map gives
        ``z(x + 2u) - z(x) = 2 (z(x + u) - z(x))`` at every site and at the output.
        """
        p = self(x, torch.stack([u, 2 * u]))
        for name, b, scale in (
            ("the activation sites", p.b, p.a.abs().amax() + p.b.abs().amax()),
            ("the output", p.out_b, p.out_a.abs().amax() + p.out_b.abs().amax()),
        ):
            err = (b[1] - 2 * b[0]).abs()
            if bool((err > rtol * (scale + 1e-300)).any()):
                where = name
                if name != "the output":
                    col = int(err.amax(dim=0).argmax())
                    site = int(np.searchsorted(self.offsets, col, side="right") - 1)
                    where = f"activation site {self.sites[site].name!r}"
                msg = (
                    f"the network is not affine between its activation sites (checked at {where}): it "
                    "applies a nonlinearity that is not a ReLU-like module or MaxPool2d (a functional relu, "
                    f"a sigmoid, a norm layer in train mode, ...). The {self.analysis} analysis needs a "
                    "piecewise-affine network; kernel needs only the codes."
                )
                raise NotPiecewiseAffineError(msg)


class _FrozenOps(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Dispatch mode of op sites: every ReLU-like ATen op applies the pattern of the first block.

    The op is keyed as extraction keys it (innermost running module, op name or ``""`` for an
    activation module's own call), so its calls line up with :attr:`PieceRunner.sites`; an
    in-place op writes the frozen output into its input.
    """

    def __init__(self, run: PieceRunner) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.run = run

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        from actcode.extraction.ops import relu_like

        kw = kwargs or {}
        op = relu_like(func, args, kw)
        if op is None:
            return func(*args, **kw)
        stack = self.run._stack
        path = stack.innermost()
        key = (path or "(root)", "" if path in stack.site_kind else op)
        pre = args[0]
        out = self.run._freeze(key, pre, _op_slope(func, args, kw, pre))
        if func._schema.is_mutable:
            return pre.copy_(out)
        return out


def _op_slope(
    func: Any, args: tuple[Any, ...], kw: dict[str, Any], pre: torch.Tensor
) -> torch.Tensor | float:
    """Slope below zero of a ReLU-like ATen op (0 for relu, threshold(0, 0) and clamp(min=0))."""
    name = func.overloadpacket.__name__.rstrip("_")
    if name == "leaky_relu":
        return float(args[1] if len(args) > 1 else kw.get("negative_slope", 0.01))
    if name in ("prelu", "_prelu_kernel"):
        w: torch.Tensor = (args[1] if len(args) > 1 else kw["weight"]).to(pre.dtype)
        if w.numel() == 1:
            return w.reshape(())
        if w.ndim == 1 and pre.ndim > 2:
            return w.reshape((1, -1) + (1,) * (pre.ndim - 2))
        return w
    if name in ("rrelu", "rrelu_with_noise"):
        first = 2 if name == "rrelu_with_noise" else 1
        lower = args[first] if len(args) > first else kw.get("lower", 1.0 / 8)
        upper = args[first + 1] if len(args) > first + 1 else kw.get("upper", 1.0 / 3)
        return (float(lower) + float(upper)) / 2.0
    return 0.0


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, tuple | list):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _pool_windows(
    a: torch.Tensor,
    b: torch.Tensor,
    idx: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dil: tuple[int, int],
    pad: tuple[int, int] = (0, 0),
) -> PoolWindows:
    """The windows of ``max_pool2d`` over values ``a`` (n, C, H, W) and slopes ``b`` (K, n, C, H, W).

    Windows are those of ``max_pool2d`` with padding ``pad`` and the output size of ``idx``
    (``ceil_mode`` windows that hang over the edge included): the padding is ``-inf`` with
    slope 0, so it never wins.
    """
    n, c, h, w = a.shape
    oh, ow = int(idx.shape[-2]), int(idx.shape[-1])
    # top/left padding, then bottom/right so that unfold gives exactly the pool's windows
    bottom = (oh - 1) * stride[0] + dil[0] * (kernel[0] - 1) + 1 - h - pad[0]
    right = (ow - 1) * stride[1] + dil[1] * (kernel[1] - 1) + 1 - w - pad[1]
    sides = (pad[1], right, pad[0], bottom)
    kk = kernel[0] * kernel[1]

    def windows(t: torch.Tensor, fill: float) -> torch.Tensor:
        # strided views, then one copy (F.unfold's im2col is ~100x slower on the CPU)
        padded = F.pad(t, sides, value=fill) if any(sides) else t
        span = (dil[0] * (kernel[0] - 1) + 1, dil[1] * (kernel[1] - 1) + 1)
        v = padded.unfold(2, span[0], stride[0]).unfold(3, span[1], stride[1])[..., :: dil[0], :: dil[1]]
        return v.reshape(t.shape[0], t.shape[1], oh * ow, kk).transpose(2, 3)

    ub = windows(b.reshape(-1, c, h, w), 0.0)
    return PoolWindows(windows(a, -math.inf), ub.reshape(b.shape[0], n, c, kk, -1))


def _pool_switch(
    a: torch.Tensor,
    b: torch.Tensor,
    idx: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dil: tuple[int, int],
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Per row, the smallest step s > 0 at which another element of a window overtakes its chosen maximum.

    ``a`` and ``b`` (n, C, H, W) are the pool's input and its slope along the first direction;
    ``idx`` is the pool's choice (flat indices into the unpadded plane, as ``max_pool2d`` returns
    them). Padding never overtakes (:func:`_pool_windows`).
    """
    win = _pool_windows(a, b.unsqueeze(0), idx, kernel, stride, dil, pad)
    ua, ub = win.a, win.b[0]
    # the chosen element, gathered from the input plane by the pool's own flat index
    at = idx.flatten(2)
    am = a.flatten(2).gather(2, at).unsqueeze(2)
    bm = b.flatten(2).gather(2, at).unsqueeze(2)
    gain = ub - bm
    with torch.no_grad():
        ok = (gain > 0) & torch.isfinite(ua)
        s = torch.where(ok, (am - ua) / gain.clamp_min(1e-300), torch.full_like(ua, math.inf))
    return s.flatten(1).amin(dim=1)
