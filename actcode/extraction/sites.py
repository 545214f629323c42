"""Activation sites of a network: discovery in forward order, functional-ReLU detection, and hooks."""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from actcode.codes import LayerInfo
from actcode.errors import ActcodeError, InvalidParameterError
from actcode.lists import select_indices

#: Activation modules whose bit is read from the OUTPUT (``out > 0`` iff ``pre > 0``); safe for
#: ``inplace=True`` because the hook runs right after the module, before anything reuses it.
OUTPUT_READ: tuple[type[nn.Module], ...] = (nn.ReLU,)
#: Activation modules whose bit is read from the INPUT by a forward PRE-hook (``pre > 0``):
#: with a zero or negative slope the output's sign is not the input's, and an in-place module
#: overwrites its input, so the bit must be taken before the module runs.
INPUT_READ: tuple[type[nn.Module], ...] = (nn.LeakyReLU, nn.PReLU, nn.RReLU)
#: Clipped activations that are not two-piece linear (three pieces): never sites.
EXCLUDED: tuple[type[nn.Module], ...] = (nn.ReLU6, nn.Hardtanh)
#: Names (``func.__name__``) of the torch functions and Tensor methods that apply a ReLU-like
#: activation: ``F.relu``, ``torch.relu``, ``x.relu()``, ``relu_``, ``F.leaky_relu``, ...
FUNCTIONAL_NAMES = frozenset(
    {
        "relu",
        "relu_",
        "leaky_relu",
        "leaky_relu_",
        "prelu",
        "_prelu_kernel",
        "rrelu",
        "rrelu_",
        "rrelu_with_noise",
    }
)


class FunctionalActivationError(InvalidParameterError):
    """A model applies ReLU-like functions outside activation modules, so hooks would miss them."""


class NoSitesError(InvalidParameterError):
    """A model has no ReLU-like activation module that runs in its forward pass."""


class ModelInputError(InvalidParameterError):
    """A model cannot run on the inputs it was given (shape, dtype or device mismatch)."""


class DynamicSitesError(ActcodeError):
    """A model's sequence of activation calls changed between batches (data-dependent control flow)."""


@dataclass(frozen=True)
class Site:
    """One call of a ReLU-like module in a forward pass: one segment of the code row.

    Attributes
    ----------
    name : str
        ``module.path`` for a module called once per forward pass, ``module.path#k`` for
        its k-th call (0-based) when it is called several times.
    module : str
        The module's path in ``model.named_modules()``.
    kind : str
        The module's class name (``"ReLU"``, ``"LeakyReLU"``, ``"PReLU"``, ...).
    shape : tuple of int
        The activation's shape for one example (the batch dimension dropped).
    call_index : int
        Calls of the same module before this one in the forward pass.
    read : {"output", "input"}
        Where the bit is taken: ``output > 0`` (ReLU) or ``input > 0`` in a pre-hook.
    module_calls : int
        How many times the module runs per forward pass (the sites sharing ``module``);
        for an op site, how many times the module applies ``op``.
    op : str
        ``""`` for a call of an activation module (``nn.ReLU``, ...); else the ReLU-like
        ATen op applied inside ``module`` (``relu``, ``leaky_relu``, ``prelu``, ``rrelu``,
        ``threshold``, ``clamp``), and the site is named ``module:op#k``.
    """

    name: str
    module: str
    kind: str
    shape: tuple[int, ...]
    call_index: int
    read: str
    module_calls: int = 1
    op: str = ""

    @property
    def n_units(self) -> int:
        """Bits of the site for one example."""
        n = 1
        for s in self.shape:
            n *= int(s)
        return n

    def layer_info(self) -> LayerInfo:
        """The site as a layer-table entry (byte offset assigned by the writer)."""
        return LayerInfo(self.name, self.kind, tuple(self.shape), 0, self.call_index)


def is_site_module(module: nn.Module) -> bool:
    """Whether ``module`` is a ReLU-like activation that extraction hooks."""
    return isinstance(module, OUTPUT_READ + INPUT_READ) and not isinstance(module, EXCLUDED)


def excluded_modules(model: nn.Module) -> list[str]:
    """Paths of clipped activations (ReLU6, Hardtanh) that are deliberately not sites."""
    return [path or "(root)" for path, m in model.named_modules() if isinstance(m, EXCLUDED)]


@contextlib.contextmanager
def exact_fp32() -> Iterator[dict[str, Any]]:
    """Turn TF32 off for CUDA matmuls and cuDNN convolutions; restore the settings afterwards.

    Yields the settings in force inside the block, for provenance.
    """
    b = torch.backends
    saved = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
    precisions: list[tuple[Any, str]] = []
    for name in ("matmul", "conv"):  # the newer fp32_precision settings, where this torch has them
        obj: Any = getattr(b.cuda, name, None) if name == "matmul" else getattr(b.cudnn, name, None)
        with contextlib.suppress(AttributeError):
            precisions.append((obj, obj.fp32_precision))
    b.cuda.matmul.allow_tf32 = False
    b.cudnn.allow_tf32 = False
    try:
        yield {"dtype": "float32", "allow_tf32": False, "autocast": False}
    finally:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = saved
        for obj, value in precisions:
            with contextlib.suppress(AttributeError, RuntimeError, ValueError):
                obj.fp32_precision = value


class _FunctionalWatch(TorchFunctionMode):
    """Record ReLU-like torch functions called while no activation module is running."""

    def __init__(self, depth: list[int], stack: list[tuple[str, str]]) -> None:
        super().__init__()
        self.depth = depth
        self.stack = stack
        self.found: list[tuple[str, str, str]] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        name = getattr(func, "__name__", "")
        if name in FUNCTIONAL_NAMES and self.depth[0] == 0:
            where, cls = self.stack[-1] if self.stack else ("(outside any module)", "")
            self.found.append((name, where, cls))
        return func(*args, **(kwargs or {}))


def _describe_functional(found: list[tuple[str, str, str]], model: nn.Module) -> str:
    counts = Counter(found)
    parts = [
        f"{name}() x{n} in {where!r}" + (f" ({cls})" if cls else "")
        for (name, where, cls), n in counts.items()
    ]
    shown = "; ".join(parts[:6]) + (f"; and {len(parts) - 6} more" if len(parts) > 6 else "")
    return (
        f"the model ({type(model).__name__}) applies ReLU-like functions outside activation modules, which "
        f"forward hooks cannot see, so those units would be silently missing from its codes: {shown}. "
        "Use --sites ops (the default), which captures every spelling, or create an nn.ReLU (nn.LeakyReLU, "
        "nn.PReLU) module in __init__ and call it in forward instead of F.relu / torch.relu / x.relu()."
    )


#: Site discovery modes: every ReLU-like op (``ops``, the default) or activation-module calls only.
SITE_MODES = ("ops", "modules")


def find_sites(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    check_functional: bool = True,
    mode: str = "modules",
) -> list[Site]:
    """Run one probe batch and list the model's activation sites in forward order.

    With ``mode="ops"`` (what extraction uses by default) every ReLU-like ATen op is a site, whatever its
    spelling (see :mod:`actcode.extraction.ops`): a call of an ``nn.ReLU``, ``nn.LeakyReLU``,
    ``nn.PReLU`` or ``nn.RReLU`` module keeps the module's name (``path``, or ``path#k``
    for its k-th call), exactly as with ``mode="modules"``; any other ReLU-like op is named
    ``module:op#k``, after the innermost running module and the k-th call (from 0) of that
    op in it, e.g. ``layer1.0:relu#1`` or ``(root):relu#0``. Inside a TorchScript module
    the ops are charged to the scripted module. ``mode="modules"`` is the module-hook-only
    discovery of :func:`find_module_sites` (``check_functional`` applies to it only); it is
    this function's default, for compatibility.

    Examples
    --------
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc, self.act = nn.Linear(4, 3), nn.ReLU()
    ...     def forward(self, x):
    ...         return torch.relu(self.act(self.fc(x))).clamp(min=0)
    >>> [s.name for s in find_sites(Net(), torch.zeros(2, 4), mode="ops")]
    ['act', '(root):relu#0', '(root):clamp#0']
    """
    if mode not in SITE_MODES:
        msg = f"--sites must be one of {', '.join(SITE_MODES)}. Got {mode!r} instead."
        raise InvalidParameterError(msg)
    if mode == "modules":
        return find_module_sites(model, example_input, check_functional=check_functional)
    return _find_op_sites(model, example_input)


def _find_op_sites(model: nn.Module, example_input: torch.Tensor) -> list[Site]:
    from actcode.extraction.ops import ModuleStack, ReluOpMode

    batch = int(example_input.shape[0])
    calls: list[tuple[str, str, tuple[int, ...]]] = []

    def on_op(path: str, op: str, t: torch.Tensor) -> None:
        where = path or "(root)"
        if t.ndim < 1 or t.shape[0] != batch:
            name = where if not op else f"{where}:{op}"
            msg = (
                f"activation {name!r} got a tensor of shape {tuple(t.shape)} for a batch of {batch}; "
                "extraction needs activations whose first dimension is the batch."
            )
            raise ModelInputError(msg)
        calls.append((where, op, tuple(int(s) for s in t.shape[1:])))

    with ModuleStack(model) as stack:
        watch = ReluOpMode(stack, on_op, watch_others=True)
        _probe(model, example_input, watch)
        kinds = {p or "(root)": k for p, k in stack.site_kind.items()}
    if not calls:
        raise NoSitesError(_no_sites_message(model, watch.others))
    n_calls = Counter((path, op) for path, op, _ in calls)
    seen: Counter[tuple[str, str]] = Counter()
    sites = []
    for path, op, shape in calls:
        k = seen[(path, op)]
        seen[(path, op)] += 1
        n = n_calls[(path, op)]
        if op:
            sites.append(Site(f"{path}:{op}#{k}", path, op, shape, k, "input", n, op))
            continue
        kind = kinds[path]
        name = path if n == 1 else f"{path}#{k}"
        read = "output" if kind == "ReLU" else "input"
        sites.append(Site(name, path, kind, shape, k, read, n))
    return sites


def _no_sites_message(model: nn.Module, others: dict[tuple[str, str], int]) -> str:
    excluded = excluded_modules(model)
    extra = (
        f" ReLU6/Hardtanh modules are not two-piece linear and not sites: {', '.join(excluded[:5])}."
        if excluded
        else ""
    )
    acts: Counter[str] = Counter()
    where: dict[str, str] = {}
    for (op, path), n in others.items():
        acts[op] += n
        where.setdefault(op, path)
    seen = (
        " Its activations are "
        + ", ".join(f"{op} x{n} (first in {where[op]!r})" for op, n in acts.most_common(6))
        + ", none of them ReLU-like."
        if acts
        else ""
    )
    return (
        f"the model ({type(model).__name__}) applies no ReLU-like activation (relu, leaky_relu, prelu, "
        f"rrelu, threshold(0, 0), clamp(min=0), in any spelling) in its forward pass, "
        "so it has no neural code."
        f"{seen}{extra}"
    )


def find_module_sites(
    model: nn.Module, example_input: torch.Tensor, *, check_functional: bool = True
) -> list[Site]:
    """Run one probe batch and list the model's activation-module sites in forward order.

    Every call of an ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.PReLU`` or ``nn.RReLU`` module (in-place
    or not) is a site; a module called twice gives two sites (``name#0``, ``name#1``).
    ``nn.ReLU6`` and ``nn.Hardtanh`` are not two-piece linear and are never sites. The model
    runs in eval mode under ``torch.inference_mode`` with TF32 off; its mode is restored.

    Parameters
    ----------
    model : torch.nn.Module
    example_input : Tensor of shape (n, *input_shape)
        A small batch on the model's device (two rows are enough).
    check_functional : bool
        Refuse models that call ReLU-like functions (``F.relu``, ``torch.relu``, ``x.relu()``,
        ``F.leaky_relu``, ...) outside activation modules; detected by counting such calls
        under a ``TorchFunctionMode`` while no activation module runs.

    Returns
    -------
    list of Site

    Raises
    ------
    FunctionalActivationError, NoSitesError, ModelInputError

    Examples
    --------
    >>> relu = nn.ReLU()
    >>> class Block(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc, self.relu = nn.Linear(4, 3), relu
    ...     def forward(self, x):
    ...         return self.relu(self.fc(self.relu(x)))
    >>> [(s.name, s.shape) for s in find_module_sites(Block(), torch.zeros(2, 4))]
    [('relu#0', (4,)), ('relu#1', (3,))]
    """
    mods = [(path, m) for path, m in model.named_modules() if is_site_module(m)]
    batch = int(example_input.shape[0])
    calls: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    depth = [0]
    stack: list[tuple[str, str]] = []
    handles: list[Any] = []

    def enter(_m: nn.Module, _args: Any) -> None:
        depth[0] += 1

    def make_leave(path: str) -> Callable[..., None]:
        def leave(m: nn.Module, _args: Any, out: Any) -> None:
            depth[0] -= 1
            if not isinstance(out, torch.Tensor) or out.ndim < 1 or out.shape[0] != batch:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                msg = (
                    f"activation {path!r} returned {shape} for a batch of {batch}; "
                    "extraction needs activations whose first dimension is the batch."
                )
                raise ModelInputError(msg)
            calls.append((path, m, tuple(int(s) for s in out.shape[1:])))

        return leave

    try:
        for path, m in mods:
            handles.append(m.register_forward_pre_hook(enter))
            handles.append(m.register_forward_hook(make_leave(path or "(root)")))
        if check_functional:

            def push(m: nn.Module, _args: Any, *, name: str) -> None:
                stack.append((name, type(m).__name__))

            def pop(_m: nn.Module, _args: Any, _out: Any) -> None:
                if stack:
                    stack.pop()

            for path, m in model.named_modules():
                handles.append(m.register_forward_pre_hook(functools.partial(push, name=path or "(root)")))
                handles.append(m.register_forward_hook(pop))
        watch = _FunctionalWatch(depth, stack)
        _probe(model, example_input, watch if check_functional else contextlib.nullcontext())
    finally:
        for h in handles:
            h.remove()
    if check_functional and watch.found:
        raise FunctionalActivationError(_describe_functional(watch.found, model))
    if not calls:
        excluded = excluded_modules(model)
        extra = (
            f" (ReLU6/Hardtanh modules are not two-piece linear and not sites: {', '.join(excluded[:5])})"
            if excluded
            else ""
        )
        msg = (
            f"the model ({type(model).__name__}) has no nn.ReLU, nn.LeakyReLU, nn.PReLU or nn.RReLU "
            f"module that runs in its forward pass, so it has no neural code{extra}."
        )
        raise NoSitesError(msg)
    n_calls = Counter(path for path, _, _ in calls)
    seen: Counter[str] = Counter()
    sites = []
    for path, m, shape in calls:
        k = seen[path]
        seen[path] += 1
        name = path if n_calls[path] == 1 else f"{path}#{k}"
        read = "output" if isinstance(m, OUTPUT_READ) and not isinstance(m, INPUT_READ) else "input"
        sites.append(Site(name, path, type(m).__name__, shape, k, read, n_calls[path]))
    return sites


def _probe(model: nn.Module, x: torch.Tensor, mode: Any) -> Any:
    was_training = model.training
    model.eval()
    try:
        with exact_fp32(), torch.inference_mode(), mode:
            return model(x)
    except ActcodeError:
        raise
    except Exception as exc:  # the user's model failed on these inputs
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        msg = (
            f"the model ({type(model).__name__}) cannot run on inputs of shape {tuple(x.shape)} "
            f"({x.dtype}, {x.device}): {type(exc).__name__}: {text}. "
            "Check that the dataset's input shape fits "
            "the model."
        )
        raise ModelInputError(msg) from None
    finally:
        model.train(was_training)


def select_sites(sites: Sequence[Site], selection: str | Sequence[str] | None) -> list[Site]:
    """Sites chosen by names, fnmatch globs or integer indices (negative allowed), in forward order.

    Same rules as :meth:`actcode.io.CodeFile.select_layers`: ``None`` or empty means all;
    a string is split on commas.

    Examples
    --------
    >>> sites = [Site(n, n, "ReLU", (2,), 0, "output") for n in ("fc1.relu", "fc2.relu", "out")]
    >>> [s.name for s in select_sites(sites, "fc*,-1")]
    ['fc1.relu', 'fc2.relu', 'out']
    """
    names = [s.name for s in sites]
    picked = select_indices(
        names, selection, where="--layers", what="activation site", owner="the model",
        listing="The model's sites are",
    )  # fmt: skip
    return [sites[i] for i in picked]


__all__ = [
    "EXCLUDED",
    "FUNCTIONAL_NAMES",
    "INPUT_READ",
    "OUTPUT_READ",
    "DynamicSitesError",
    "FunctionalActivationError",
    "ModelInputError",
    "NoSitesError",
    "Site",
    "excluded_modules",
    "SITE_MODES",
    "exact_fp32",
    "find_module_sites",
    "find_sites",
    "is_site_module",
    "select_sites",
]
