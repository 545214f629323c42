"""ReLU-like ATen operators, whatever the Python spelling: which ops count, and which module runs them.

A ``TorchDispatchMode`` sees every operator after the Python spelling is gone (``F.relu``,
``torch.relu``, ``x.relu()``, ``nn.ReLU``, ``inplace=True``, ``x.clamp(min=0)``), inside
TorchScript modules too, and it sees an in-place op's input BEFORE the op writes it (a forward
hook on an in-place ``nn.ReLU`` does not: pytorch issue 95617). Global module forward pre/post
hooks keep the stack of running modules, so each op is charged to the innermost one.

Caught (bit = input > 0): ``relu``, ``relu_``, ``leaky_relu(_)`` (any slope), ``prelu`` /
``_prelu_kernel``, ``rrelu(_)`` / ``rrelu_with_noise(_)``, ``threshold(_)`` with threshold 0 and
value 0, ``clamp(_)`` with a scalar min 0 and no max, ``clamp_min(_)`` with 0.

Not caught (not ReLU-like, or not recognisable as one): ``hardtanh`` / ReLU6 and clamps with a
max (three pieces), ``clamp`` with a tensor bound, ``torch.maximum(x, 0)``, ``x * (x > 0)``,
``torch.where(x > 0, x, 0)``, and every smooth activation (GELU, SiLU, ELU, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

_aten = torch.ops.aten


def _packets(names: Mapping[str, str]) -> dict[Any, str]:
    out: dict[Any, str] = {}
    for name, base in names.items():
        packet = getattr(_aten, name, None)
        if packet is not None:
            out[packet] = base
    return out


#: ATen operator packets that apply a ReLU-like activation, to the op name used in site names.
RELU_LIKE_OPS: dict[Any, str] = _packets(
    {
        "relu": "relu",
        "relu_": "relu",
        "leaky_relu": "leaky_relu",
        "leaky_relu_": "leaky_relu",
        "prelu": "prelu",
        "_prelu_kernel": "prelu",
        "rrelu": "rrelu",
        "rrelu_": "rrelu",
        "rrelu_with_noise": "rrelu",
        "rrelu_with_noise_": "rrelu",
        "threshold": "threshold",
        "threshold_": "threshold",
        "clamp": "clamp",
        "clamp_": "clamp",
        "clamp_min": "clamp",
        "clamp_min_": "clamp",
    }
)

#: Activation ops that are NOT sites; named in the "no sites" error when a model has only these.
OTHER_ACTIVATION_OPS: dict[Any, str] = _packets(
    {
        "gelu": "gelu",
        "gelu_": "gelu",
        "silu": "silu",
        "silu_": "silu",
        "hardtanh": "hardtanh (ReLU6/Hardtanh)",
        "hardtanh_": "hardtanh (ReLU6/Hardtanh)",
        "elu": "elu",
        "elu_": "elu",
        "selu": "selu",
        "celu": "celu",
        "mish": "mish",
        "hardswish": "hardswish",
        "hardsigmoid": "hardsigmoid",
        "softplus": "softplus",
        "sigmoid": "sigmoid",
        "tanh": "tanh",
        "glu": "glu",
    }
)

#: Spellings that are NOT caught, for the docs and ``--help``.
UNCAUGHT = (
    "torch.maximum(x, 0)",
    "x * (x > 0)",
    "torch.where(x > 0, x, 0)",
    "clamp with a tensor bound",
    "ReLU6/Hardtanh and clamp with a max (clipped: three pieces, excluded on purpose)",
)

#: Activation modules whose calls keep today's site names (``path`` or ``path#k``).
SITE_MODULES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU)


def _is_zero(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == 0


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], i: int, name: str) -> Any:
    return args[i] if len(args) > i else kwargs.get(name)


def relu_like(func: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    """The op name (``relu``, ``leaky_relu``, ...) when ``func(*args, **kwargs)`` is ReLU-like, else None.

    Examples
    --------
    >>> relu_like(torch.ops.aten.clamp.default, (torch.zeros(1), 0), {})
    'clamp'
    >>> relu_like(torch.ops.aten.clamp.default, (torch.zeros(1), 0, 6), {}) is None
    True
    """
    base = RELU_LIKE_OPS.get(getattr(func, "overloadpacket", None))
    if base is None or not args or not isinstance(args[0], torch.Tensor):
        return None
    if base == "threshold":
        ok = _is_zero(_arg(args, kwargs, 1, "threshold")) and _is_zero(_arg(args, kwargs, 2, "value"))
        return base if ok else None
    if base == "clamp":
        if func.overloadpacket in (_aten.clamp_min, _aten.clamp_min_):
            return base if _is_zero(_arg(args, kwargs, 1, "min")) else None
        lo, hi = _arg(args, kwargs, 1, "min"), _arg(args, kwargs, 2, "max")
        return base if _is_zero(lo) and hi is None else None
    return base


class ModuleStack:
    """Global forward pre/post hooks that keep the paths of the model's running modules.

    Only modules of ``model`` are pushed (by their ``named_modules`` path, ``""`` for the
    root); a module built on the fly inside ``forward`` is charged to its known caller.
    ``calls[path]`` counts the calls of each activation module (:data:`SITE_MODULES`).
    """

    def __init__(self, model: nn.Module) -> None:
        self.paths: dict[int, str] = {id(m): p for p, m in model.named_modules()}
        self.site_kind: dict[str, str] = {
            p: type(m).__name__ for p, m in model.named_modules() if isinstance(m, SITE_MODULES)
        }
        self.stack: list[str] = []
        self._handles: list[Any] = []

    def reset(self) -> None:
        """Forget modules left on the stack by a forward pass that raised."""
        self.stack.clear()

    def innermost(self) -> str:
        """Path of the innermost running module of the model (``""``: the root)."""
        return self.stack[-1] if self.stack else ""

    def __enter__(self) -> ModuleStack:
        paths, stack = self.paths, self.stack

        def pre(m: nn.Module, _args: Any) -> None:
            p = paths.get(id(m))
            if p is not None:
                stack.append(p)

        def post(m: nn.Module, _args: Any, _out: Any) -> None:
            if id(m) in paths and stack:
                stack.pop()

        self._handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self.stack.clear()


#: Called for each ReLU-like op: (module path, op name, input tensor) -> None, BEFORE the op runs.
OpCallback = Callable[[str, str, torch.Tensor], None]


class ReluOpMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Dispatch mode that calls ``on_op(path, op, pre_activation)`` before each ReLU-like op runs.

    ``path`` is the innermost running module of the model; ``op`` is the op's name, or ``""``
    when that module is an activation module (``nn.ReLU``, ...) whose call is the site. Other
    activation ops (GELU, SiLU, hardtanh, ...) are counted in ``others`` by (name, path).
    The mode is off inside its own handler, so an op that decomposes is seen once.
    """

    def __init__(self, stack: ModuleStack, on_op: OpCallback, *, watch_others: bool = False) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.modules = stack
        self.on_op = on_op
        self.watch_others = watch_others
        self.others: dict[tuple[str, str], int] = {}

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kw = kwargs or {}
        if func.overloadpacket in RELU_LIKE_OPS:
            op = relu_like(func, args, kw)
            if op is not None:
                path = self.modules.innermost()
                self.on_op(path, "" if path in self.modules.site_kind else op, args[0])
        elif self.watch_others and func.overloadpacket in OTHER_ACTIVATION_OPS:
            key = (OTHER_ACTIVATION_OPS[func.overloadpacket], self.modules.innermost() or "(root)")
            self.others[key] = self.others.get(key, 0) + 1
        return func(*args, **kw)


@contextmanager
def capture_ops(
    model: nn.Module, on_op: OpCallback, *, watch_others: bool = False
) -> Iterator[tuple[ModuleStack, ReluOpMode]]:
    """Hooks and dispatch mode around a forward pass: ``on_op`` sees every ReLU-like op of ``model``."""
    with ModuleStack(model) as stack:
        mode = ReluOpMode(stack, on_op, watch_others=watch_others)
        yield stack, mode


__all__ = [
    "OTHER_ACTIVATION_OPS",
    "RELU_LIKE_OPS",
    "SITE_MODULES",
    "UNCAUGHT",
    "ModuleStack",
    "OpCallback",
    "ReluOpMode",
    "capture_ops",
    "relu_like",
]
