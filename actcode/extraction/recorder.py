"""Forward hooks that turn the selected sites of each batch into packed code rows, where the model runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import nn

from actcode.extraction.packing import pack_padded, padded_width
from actcode.extraction.sites import DynamicSitesError, Site

#: Backends: ``torch`` keeps masks on the model's device (CUDA, MPS), ``numpy`` is the fast
#: path when the model runs on the CPU (NumPy's comparison and packbits are several times
#: faster than torch's on CPU tensors); ``auto`` picks by device.
BACKENDS = ("auto", "torch", "numpy")


class SiteRecorder:
    """Record ``pre-activation > 0`` of the selected sites during forward passes and pack them.

    One hook per activation module: a forward hook reading ``output > 0`` for ReLU, a forward
    pre-hook reading ``input > 0`` for LeakyReLU, PReLU and RReLU (before an in-place module
    overwrites its input). Each hook counts the module's calls in the batch; when the call is
    a selected site it turns the activation into a 1-byte mask at once (no activation is
    kept). The masks are laid out exactly as the packed row: each site's units, then zero
    columns up to a whole byte.

    - ``torch`` backend (CUDA, MPS): the masks are collected in a list, concatenated once
      and packed on the device by :func:`~actcode.extraction.packing.pack_padded`; only the
      packed bytes are copied to the host.
    - ``numpy`` backend (model on the CPU, whose memory is the host's): each mask is written
      by ``np.greater`` straight into its columns of one preallocated bool matrix, packed by
      ``np.packbits``. Same bits, fewer passes.

    Parameters
    ----------
    model : torch.nn.Module
    sites : list of Site
        The sites to record, in forward order (all of :func:`find_sites`'s or a selection).
    backend : {"auto", "torch", "numpy"}

    Examples
    --------
    >>> from actcode.extraction.sites import find_sites
    >>> model = nn.Sequential(nn.Linear(3, 5), nn.ReLU())
    >>> sites = find_sites(model, torch.zeros(2, 3))
    >>> with SiteRecorder(model, sites) as rec, torch.inference_mode():
    ...     rec.begin(4, torch.device("cpu"))
    ...     _ = model(torch.ones(4, 3))
    ...     rec.packed().shape
    (4, 1)
    """

    def __init__(self, model: nn.Module, sites: Sequence[Site], *, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            msg = f"backend must be one of {BACKENDS}. Got {backend!r} instead."
            raise ValueError(msg)
        self.model = model
        self.sites = list(sites)
        self.backend = backend
        if not self.sites:
            msg = "SiteRecorder needs at least one site to record."
            raise ValueError(msg)
        modules = dict(model.named_modules())
        for s in self.sites:
            if s.module not in modules and not (s.module == "(root)" and "" in modules):
                msg = f"site {s.name!r} names module {s.module!r}, which the model does not have."
                raise ValueError(msg)
        plan, reads = self._plan(self.sites)
        self._keys = list(plan)
        self._modules = [
            (key, modules["" if key[0] == "(root)" else key[0]], plan[key], reads[key]) for key in plan
        ]
        self._expected = [len(p) for _, _, p, _ in self._modules]
        self.width = padded_width([s.n_units for s in self.sites])
        self.n_bytes = self.width // 8
        self._calls: list[int] = [0] * len(self._modules)
        self._masks: list[torch.Tensor] = []
        self._pads: dict[tuple[int, int, torch.device], torch.Tensor] = {}
        self._buf = np.zeros((0, self.width), dtype=bool)
        self._rows = 0
        self._numpy = False
        self._error: str | None = None
        self._handles: list[Any] = []

    def _plan(
        self, sites: Sequence[Site], census: Sequence[Site] = ()
    ) -> tuple[dict[tuple[str, str], list[tuple[int, int, int] | None]], dict[tuple[str, str], str]]:
        """Per (module, op) key and per call: None (not recorded) or (first column, units, pad columns).

        ``census`` adds the calls of sites that are counted but not recorded.
        """
        plan: dict[tuple[str, str], list[tuple[int, int, int] | None]] = {}
        reads: dict[tuple[str, str], str] = {}
        for s in census:
            plan.setdefault((s.module, s.op), [None] * s.module_calls)
            reads[(s.module, s.op)] = s.read
        col = 0
        for s in sites:
            p = plan.setdefault((s.module, s.op), [None] * s.module_calls)
            pad = (-s.n_units) % 8
            p[s.call_index] = (col, s.n_units, pad)
            col += s.n_units + pad
            reads[(s.module, s.op)] = s.read
        return plan, reads

    def _pad(self, rows: int, cols: int, device: torch.device) -> torch.Tensor:
        key = (rows, cols, device)
        t = self._pads.get(key)
        if t is None:
            t = torch.zeros((rows, cols), dtype=torch.bool, device=device)
            self._pads[key] = t
        return t

    def _make_record(self, i: int, plan: list[tuple[int, int, int] | None]) -> Callable[[torch.Tensor], None]:
        rec = self
        n_calls = len(plan)

        def record(t: torch.Tensor) -> None:
            calls = rec._calls
            k = calls[i]
            calls[i] = k + 1
            if k >= n_calls or (where := plan[k]) is None:
                return
            start, n, pad = where
            rows = t.shape[0]
            if rows != rec._rows or t.numel() != rows * n:
                rec._error = rec._error or (
                    f"an activation of shape {tuple(t.shape)} arrived where site columns "
                    f"{start}..{start + n} expect ({rec._rows}, {n})"
                )
                return
            if rec._numpy:
                out = rec._buf[:rows, start : start + n]
                np.greater(t.detach().numpy().reshape(rows, n), 0, out=out)
            else:
                rec._masks.append((t > 0).reshape(rows, n))
                if pad:
                    rec._masks.append(rec._pad(rows, pad, t.device))

        return record

    def _make_hook(self, i: int, plan: list[tuple[int, int, int] | None], read_input: bool) -> Any:
        record = self._make_record(i, plan)
        if read_input:

            def pre_hook(_m: nn.Module, args: tuple[Any, ...]) -> None:
                record(args[0])

            return pre_hook

        def hook(_m: nn.Module, _args: tuple[Any, ...], out: torch.Tensor) -> None:
            record(out)

        return hook

    def forward(self, x: torch.Tensor) -> Any:
        """Run the model on one batch (after :meth:`begin`)."""
        return self.model(x)

    def __enter__(self) -> SiteRecorder:
        try:
            for i, (_path, module, plan, read) in enumerate(self._modules):
                if read == "input":
                    self._handles.append(module.register_forward_pre_hook(self._make_hook(i, plan, True)))
                else:
                    self._handles.append(module.register_forward_hook(self._make_hook(i, plan, False)))
        except BaseException:
            self.close()
            raise
        return self

    def begin(self, rows: int, device: torch.device) -> None:
        """Start a batch of ``rows`` examples run on ``device``: reset call counts and masks."""
        self._calls = [0] * len(self._modules)
        self._masks = []
        self._error = None
        self._rows = int(rows)
        self._numpy = self.backend == "numpy" or (self.backend == "auto" and device.type == "cpu")
        if self._numpy and self._buf.shape[0] < rows:
            self._buf = np.zeros((rows, self.width), dtype=bool)  # pad columns are never written: stay 0

    def _check(self) -> None:
        if self._calls != self._expected:
            diffs = [
                f"{_key_name(key)!r} ran {got} time(s), expected {exp}"
                for (key, _, _, _), got, exp in zip(self._modules, self._calls, self._expected, strict=True)
                if got != exp
            ]
            msg = (
                "the model's ReLU-like activations were not called as in the probe pass: "
                + "; ".join(diffs[:5])
                + ". Extraction needs the same activation calls for every batch "
                "(no data-dependent control flow)."
            )
            raise DynamicSitesError(msg)
        if self._error is not None:
            msg = f"{self._error}; the activation shapes changed since the probe pass."
            raise DynamicSitesError(msg)

    def bits(self) -> torch.Tensor | np.ndarray:
        """The batch's bits as one padded bool matrix of shape (rows, width).

        A device tensor with the ``torch`` backend; with the ``numpy`` backend, a view of the
        reused host buffer (valid until the next batch). Raises :class:`DynamicSitesError`
        when the modules were not called as in the probe pass (data-dependent control flow
        would shift bits between sites) or an activation changed shape.
        """
        self._check()
        if self._numpy:
            return self._buf[: self._rows]
        masks, self._masks = self._masks, []
        return masks[0] if len(masks) == 1 else torch.cat(masks, dim=1)

    def packed(self) -> np.ndarray:
        """The batch's packed code rows on the host.

        Returns
        -------
        codes : ndarray of shape (rows, n_bytes), dtype=np.uint8
        """
        bits = self.bits()
        if isinstance(bits, np.ndarray):
            return np.packbits(bits, axis=1, bitorder="big")
        return pack_padded(bits).cpu().numpy()

    def close(self) -> None:
        """Remove every hook."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._masks = []

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _key_name(key: tuple[str, str]) -> str:
    return key[0] if not key[1] else f"{key[0]}:{key[1]}"


class OpRecorder(SiteRecorder):
    """Record every selected site at the operator level, whatever the ReLU's spelling.

    A :class:`~actcode.extraction.ops.ReluOpMode` around each forward pass sees each
    ReLU-like ATen op (module or functional call, in-place or not, inside TorchScript too),
    charges it to the innermost running module and keys it ``(module, op)``; the mask is
    ``input > 0``, taken before the op runs, so an in-place op cannot have overwritten it.
    Every ReLU-like op of the model is counted against the probe pass (``census``: all of
    :func:`~actcode.extraction.sites.find_sites`'s sites), so a data-dependent sequence of
    activations is refused, selected or not. Masks are laid out and packed as in
    :class:`SiteRecorder`, whose bytes they equal.

    Parameters
    ----------
    model : torch.nn.Module
    sites : list of Site
        The sites to record, in forward order.
    census : list of Site
        Every site of the model (the probe pass), for the call counts.
    backend : {"auto", "torch", "numpy"}
    """

    def __init__(
        self, model: nn.Module, sites: Sequence[Site], census: Sequence[Site], *, backend: str = "auto"
    ) -> None:
        self._census = list(census)
        super().__init__(model, sites, backend=backend)
        plan, reads = self._plan(self.sites, self._census)
        self._keys = list(plan)
        modules = dict(model.named_modules())
        self._modules = [
            (key, modules.get("" if key[0] == "(root)" else key[0], model), plan[key], reads[key])
            for key in plan
        ]
        self._expected = [len(p) for _, _, p, _ in self._modules]
        self._calls = [0] * len(self._modules)
        self._records = {key: self._make_record(i, plan[key]) for i, key in enumerate(self._keys)}
        self._unknown: list[str] = []
        self._capture: Any = None
        self._mode: Any = None

    def _on_op(self, path: str, op: str, t: torch.Tensor) -> None:
        record = self._records.get((path or "(root)", op))
        if record is None:
            if len(self._unknown) < 5:
                self._unknown.append(_key_name((path or "(root)", op)))
            return
        record(t)

    def begin(self, rows: int, device: torch.device) -> None:
        """Start a batch (see :meth:`SiteRecorder.begin`)."""
        super().begin(rows, device)
        self._unknown = []
        if self._capture is not None:
            self._capture[0].reset()

    def forward(self, x: torch.Tensor) -> Any:
        """Run the model on one batch under the dispatch mode."""
        with self._mode:
            return self.model(x)

    def _check(self) -> None:
        if self._unknown:
            msg = (
                "the model applied ReLU-like activations that the probe pass did not see: "
                + ", ".join(repr(u) for u in self._unknown)
                + ". Extraction needs the same activation calls for every batch "
                "(no data-dependent control flow)."
            )
            raise DynamicSitesError(msg)
        super()._check()

    def __enter__(self) -> OpRecorder:
        from actcode.extraction.ops import ModuleStack, ReluOpMode

        stack = ModuleStack(self.model)
        stack.__enter__()
        self._capture = (stack,)
        self._mode = ReluOpMode(stack, self._on_op)
        return self

    def close(self) -> None:
        """Remove the global hooks."""
        if self._capture is not None:
            self._capture[0].__exit__(None, None, None)
            self._capture = None
        super().close()


__all__ = ["BACKENDS", "OpRecorder", "SiteRecorder"]
