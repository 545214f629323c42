"""The paper's MLP: Flatten, then per hidden layer Linear -> BatchNorm -> activation [-> Dropout]."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from actcode.errors import InvalidParameterError


def make_activation(name: str, n_units: int = 1) -> nn.Module:
    """A new ReLU-like activation module.

    Parameters
    ----------
    name : str
        ``relu``, ``leaky_relu`` (negative slope 0.01, PyTorch's default) or ``prelu``.
    n_units : int
        Units (MLP) or channels (CNN) of the input, for PReLU's one learnt slope per unit.

    Examples
    --------
    >>> make_activation("leaky_relu")
    LeakyReLU(negative_slope=0.01)
    """
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name == "prelu":
        return nn.PReLU(num_parameters=n_units)
    msg = f"--activation must be one of relu, leaky_relu, prelu. Got {name!r} instead."
    raise InvalidParameterError(msg)


class MLP(nn.Sequential):
    """A fully connected ReLU network as in the paper's ``create_mlp``.

    Hidden layer ``i`` (1-based) is the modules ``fc{i}``, ``bn{i}`` (when ``bn``), the
    activation ``relu{i}`` (``leaky_relu{i}``, ``prelu{i}``) and ``dropout{i}`` (when
    ``dropout > 0``); then ``out`` gives the logits. BatchNorm comes before the activation,
    so a unit's code bit is the sign of its post-BN, pre-activation value.

    Parameters
    ----------
    input_shape : tuple of int
        One example's shape; it is flattened first.
    n_classes : int
    widths : sequence of int
        Units of each hidden layer.
    activation : str
    bn : bool
    dropout : float

    Examples
    --------
    >>> m = MLP((1, 8, 8), 10, [5, 4], dropout=0.1)
    >>> [name for name, _ in m.named_children()]
    ['flatten', 'fc1', 'bn1', 'relu1', 'dropout1', 'fc2', 'bn2', 'relu2', 'dropout2', 'out']
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        widths: Sequence[int],
        *,
        activation: str = "relu",
        bn: bool = True,
        dropout: float = 0.0,
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["flatten"] = nn.Flatten()
        fan_in = int(math.prod(input_shape))
        for i, w in enumerate(widths, start=1):
            layers[f"fc{i}"] = nn.Linear(fan_in, int(w))
            if bn:
                layers[f"bn{i}"] = nn.BatchNorm1d(int(w))
            layers[f"{activation}{i}"] = make_activation(activation, int(w))
            if dropout > 0:
                layers[f"dropout{i}"] = nn.Dropout(dropout)
            fan_in = int(w)
        layers["out"] = nn.Linear(fan_in, n_classes)
        super().__init__(layers)
        self.widths = tuple(int(w) for w in widths)
