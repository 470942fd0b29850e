"""PyTorch-style state dicts: a network's weights under the names ``torch.nn.Sequential`` gives them.

The equivalent PyTorch model of a :class:`~deltaprop.Network` is an ``nn.Sequential`` holding,
for each layer in order, an ``nn.Linear(n_in, n_out)`` followed by its activation module, which
each activation names itself (``Activation.torch`` in :mod:`deltaprop.core.activations`):
``nn.Sigmoid()``, ``nn.ReLU()``, ``nn.LeakyReLU(negative_slope=0.01)``, ``nn.Softmax(dim=1)``
(rows are examples in both libraries), ``nn.Softplus()``, ...; the identity has no module, its
``Linear`` is followed directly by the next one.

**Naming rule.** ``nn.Sequential`` numbers its modules 0, 1, 2, ... in order, and a ``Linear``
at position ``k`` contributes ``"k.weight"`` (``W``, shape ``(n_out, n_in)``, the same
orientation as deltaprop's) and ``"k.bias"`` (``b``, shape ``(n_out,)``). Activation modules
have no parameters but take a position. So the ``Linear`` of ``net.layers[i]`` sits at
``k_0 = 0`` and ``k_(i+1) = k_i + 2``, or ``k_i + 1`` when ``net.layers[i]`` is ``identity``.
Without identity hidden layers, layer ``i`` is therefore ``"{2i}.weight"``, ``"{2i}.bias"``:
``Network([4, 8, 3], output_activation="softmax")`` is
``nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 3), nn.Softmax(dim=1))`` with keys
``0.weight (8, 4)``, ``0.bias (8,)``, ``2.weight (3, 8)``, ``2.bias (3,)``.

Files are safetensors (``safetensors.numpy``; no code runs on load). :func:`save_file` also
stores the activations and the cost in the file's string metadata, so :func:`load_file` can
rebuild the network alone; a file written by ``safetensors.torch.save_file(model.state_dict())``
has no such metadata, and :func:`load_file` then needs ``activation=`` like
:func:`from_state_dict`.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from .core.activations import ACTIVATIONS, get_activation
from .core.checks import all_finite, as_dtype
from .core.layers import Dense
from .core.network import Network
from .errors import DeltapropError, ModelFileError, NonFiniteError, ShapeError

__all__ = [
    "from_state_dict",
    "from_torch",
    "load_file",
    "load_state_dict",
    "read_file",
    "save_file",
    "state_dict",
    "to_torch",
    "torch_indices",
]

_KEY = re.compile(r"^(\d+)\.(weight|bias)$")


def _activation_names(activations) -> list[str]:
    return [get_activation(a).name for a in activations]


def torch_indices(activations) -> list[int]:
    """Return the ``nn.Sequential`` position of each layer's ``Linear`` (see the naming rule).

    >>> torch_indices(["sigmoid", "identity", "relu", "softmax"])
    [0, 2, 3, 5]
    """
    indices, k = [], 0
    for activation in activations:
        indices.append(k)
        k += 2 if get_activation(activation).torch else 1  # a Linear, then its module if it has one
    return indices


def _expected(activations, shapes) -> dict[str, tuple]:
    """``{name: shape}`` for layers with these activations and ``(n_out, n_in)`` weight shapes."""
    expected = {}
    for k, (n_out, n_in) in zip(torch_indices(activations), shapes):
        expected[f"{k}.weight"], expected[f"{k}.bias"] = (n_out, n_in), (n_out,)
    return expected


def state_dict(net: Network) -> dict[str, np.ndarray]:
    """Return ``{"0.weight": W, "0.bias": b, ...}``: copies of the weights under PyTorch's names.

    >>> import deltaprop
    >>> net = deltaprop.Network([4, 8, 3], output_activation="softmax", cost="log_likelihood", seed=0)
    >>> {name: array.shape for name, array in state_dict(net).items()}
    {'0.weight': (8, 4), '0.bias': (8,), '2.weight': (3, 8), '2.bias': (3,)}
    """
    if not isinstance(net, Network):
        raise DeltapropError(f"state_dict() takes a deltaprop.Network, got {type(net).__name__}")
    state = {}
    for k, layer in zip(torch_indices(layer.activation for layer in net.layers), net.layers):
        state[f"{k}.weight"], state[f"{k}.bias"] = layer.W.copy(), layer.b.copy()
    return state


def _as_array(value, key: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, read without importing torch
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise DeltapropError(f"state dict entry {key!r} must hold numbers, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not all_finite(array):
        raise NonFiniteError(f"state dict entry {key!r} holds NaN or infinity")
    return array


def _check(state: dict, expected: dict, hint: str = "") -> dict[str, np.ndarray]:
    """Return ``state`` as arrays if its names and shapes are exactly ``expected``; else list every problem."""
    if not isinstance(state, dict):
        raise DeltapropError(f"state must be a dict of name -> array (a state dict), got {type(state).__name__}")
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    arrays = {key: _as_array(state[key], key) for key in expected if key in state}
    wrong = [f"{key!r} has shape {tuple(arrays[key].shape)}, expected {shape}"
             for key, shape in expected.items() if key in arrays and arrays[key].shape != shape]
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if wrong:
            problems.append("wrong shapes: " + "; ".join(wrong))
        error = ShapeError if not (missing or unexpected) else DeltapropError
        raise error(f"state dict does not match the network: {'; '.join(problems)}{hint}")
    return arrays


def _cast(arrays: dict, dtype) -> dict[str, np.ndarray]:
    """Every array in ``dtype``, each checked finite *after* the cast (1e300 is finite in float64 and
    infinite in float32): a value beyond ``dtype``'s range is refused, naming its entry."""
    dtype = np.dtype(dtype)
    cast = {}
    for key, array in arrays.items():
        with np.errstate(over="ignore", invalid="ignore"):
            cast[key] = array.astype(dtype)
        if not all_finite(cast[key]):
            largest = float(np.max(np.abs(array)))
            raise NonFiniteError(f"state dict entry {key!r} holds {largest:.4g}, beyond the range of {dtype.name} "
                                 f"(largest finite value {float(np.finfo(dtype).max):.4g}); nothing was loaded")
    return cast


def load_state_dict(net: Network, state: dict) -> None:
    """Copy the weights of ``state`` into ``net`` in place (cast to its dtype), like PyTorch's strict load.

    Every key of ``net``'s own :func:`state_dict` must be present with its shape, and no other, and
    every value finite in ``net``'s dtype: otherwise nothing is changed and the error lists the
    missing, unexpected and mis-shaped keys, or names the value that does not fit.
    """
    activations = [layer.activation for layer in net.layers]
    expected = _expected(activations, [layer.W.shape for layer in net.layers])
    arrays = _cast(_check(state, expected), net.dtype)  # all checked before any weight changes
    for k, layer in zip(torch_indices(activations), net.layers):
        np.copyto(layer.W, arrays[f"{k}.weight"])
        np.copyto(layer.b, arrays[f"{k}.bias"])


def _per_layer(activation, output_activation, n_layers: int) -> list[str]:
    if isinstance(activation, (list, tuple)):
        if output_activation is not None:
            raise DeltapropError("give output_activation only with a single activation name, not with a list")
        if len(activation) != n_layers:
            raise DeltapropError(
                f"activation lists {len(activation)} activations but the state dict holds {n_layers} layers"
            )
        return _activation_names(activation)
    last = activation if output_activation is None else output_activation
    return _activation_names([activation] * (n_layers - 1) + [last])


def _chained_shapes(state, indices) -> list[tuple]:
    """The ``(n_out, n_in)`` each layer must have: ``n_out`` from its own weight (or bias), ``n_in``
    from the previous layer's ``n_out`` (from its own weight for the first layer)."""
    shapes = []
    for k in indices:
        w_shape, b_shape = np.shape(state.get(f"{k}.weight")), np.shape(state.get(f"{k}.bias"))
        n_out = w_shape[0] if len(w_shape) == 2 else (b_shape[0] if len(b_shape) == 1 else None)
        n_in = shapes[-1][0] if shapes else (w_shape[1] if len(w_shape) == 2 else None)
        shapes.append((n_out, n_in))
    return shapes


def from_state_dict(state: dict, activation=None, output_activation=None, cost="quadratic", dtype=None) -> Network:
    """Build a :class:`~deltaprop.Network` from a state dict with PyTorch's ``nn.Sequential`` names.

    Parameters
    ----------
    state : dict
        ``{"0.weight": W, "0.bias": b, ...}`` of NumPy arrays or CPU ``torch.Tensor`` s.
    activation : str or list of str
        Required: activation of the hidden layers (and of the output unless ``output_activation``),
        or one name per layer. There is no default (a state dict records none, and guessing sigmoid
        for a ReLU model gives outputs far off without a word). The state dict holds no activations; its numbering says only where an
        activation module sits, so the names must agree with it (see the module's naming rule).
    output_activation : str, optional
    cost : str
    dtype : {"float32", "float64"}, optional
        Default: the state's floating dtype (float32 for anything else).

    A state dict with missing, unexpected or mis-shaped keys is rejected, listing them all.

    >>> import numpy as np
    >>> state = {"0.weight": np.ones((3, 2)), "0.bias": np.zeros(3), "2.weight": np.ones((1, 3)), "2.bias": np.zeros(1)}
    >>> from_state_dict(state, activation="relu", output_activation="identity").sizes
    [2, 3, 1]
    """
    if not isinstance(state, dict):
        raise DeltapropError(f"state must be a dict of name -> array (a state dict), got {type(state).__name__}")
    if activation is None:
        raise DeltapropError(
            "activation= is required: a state dict records no activations, e.g. from_state_dict(state, "
            "activation='relu', output_activation='softmax', cost='log_likelihood') for nn.Sequential(Linear, ReLU, "
            "..., Linear, Softmax); save_file/load_file record them for you"
        )
    indices = sorted({int(m.group(1)) for m in map(_KEY.match, map(str, state)) if m})
    if not indices:
        raise DeltapropError(
            f"state dict has no '<k>.weight' / '<k>.bias' entries of an nn.Sequential; keys: {sorted(map(str, state))}"
        )
    activations = _per_layer(activation, output_activation, len(indices))
    shapes = _chained_shapes(state, indices)
    hint = ""
    if torch_indices(activations) != indices:
        hint = (f" (the Linear layers sit at positions {indices}; activations {activations} would put them at "
                f"{torch_indices(activations)}: an identity layer has no module after its Linear)")
    arrays = _check(state, _expected(activations, shapes), hint)
    if dtype is None:
        first = arrays[f"{indices[0]}.weight"].dtype
        dtype = first if first in (np.dtype(np.float32), np.dtype(np.float64)) else np.float32
    dtype = as_dtype(dtype)
    arrays = _cast(arrays, dtype)
    layers = [Dense(n_in, n_out, name, W=arrays[f"{k}.weight"], b=arrays[f"{k}.bias"])
              for k, name, (n_out, n_in) in zip(indices, activations, shapes)]
    return Network(layers, cost=cost, dtype=dtype)


# -- safetensors files -------------------------------------------------------------------------


def save_file(net: Network, path, metadata: dict | None = None) -> None:
    """Write ``net``'s :func:`state_dict` to the safetensors file ``path`` (atomically).

    The file's metadata (strings) records ``format = "pt"`` (PyTorch names), the activations and
    the cost, plus any ``metadata`` strings given. ``torch`` reads it with
    ``model.load_state_dict(safetensors.torch.load_file(path))``.
    """
    from safetensors.numpy import save  # optional dependency (the safetensors extra)

    from .atomic import atomic_write

    extra = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise DeltapropError("metadata must map strings to strings (safetensors stores only strings)")
    header = {
        **extra,
        "format": "pt",
        "deltaprop.activations": json.dumps([layer.activation.name for layer in net.layers]),
        "deltaprop.cost": net.cost_function.name,
    }
    state = {key: np.ascontiguousarray(value) for key, value in state_dict(net).items()}
    with atomic_write(path, "wb") as handle:
        handle.write(save(state, metadata=header))


def read_file(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return ``(state, metadata)`` from a safetensors file (NumPy arrays, string metadata)."""
    from safetensors import SafetensorError, safe_open  # optional dependency (the safetensors extra)

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"safetensors file {path} does not exist")
    try:
        with safe_open(path, framework="numpy") as f:
            return {key: f.get_tensor(key) for key in f.keys()}, dict(f.metadata() or {})  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"safetensors file {path} could not be read: {error}") from None


def load_file(path, activation=None, output_activation=None, cost=None, dtype=None) -> Network:
    """Build a network from a safetensors state dict; see :func:`from_state_dict`.

    Activations and cost default to those :func:`save_file` recorded in the file; a file without
    them (e.g. written by PyTorch) needs ``activation=`` (and ``cost=``, default quadratic).
    """
    state, metadata = read_file(path)
    if activation is None:
        recorded = metadata.get("deltaprop.activations")
        if recorded is None:
            raise DeltapropError(
                f"{os.fspath(path)} records no activations (not written by deltaprop): pass activation=, "
                "e.g. load_file(path, activation='relu', output_activation='softmax', cost='log_likelihood')"
            )
        try:
            activation = json.loads(recorded)
        except ValueError:
            raise ModelFileError(f"{path}: metadata 'deltaprop.activations' is not JSON: {recorded!r}") from None
        if not isinstance(activation, list):
            raise ModelFileError(f"{path}: metadata 'deltaprop.activations' must be a list, got {recorded!r}")
    if cost is None:
        cost = metadata.get("deltaprop.cost", "quadratic")
    return from_state_dict(state, activation=activation, output_activation=output_activation, cost=cost, dtype=dtype)


# -- PyTorch modules (torch imported on use) -----------------------------------------------------


def to_torch(net: Network):
    """Return the equivalent ``torch.nn.Sequential`` holding ``net``'s weights (same dtype)."""
    import torch  # optional: imported only here
    from torch import nn

    parts = []
    for layer in net.layers:
        parts.append(nn.Linear(layer.n_in, layer.n_out))
        if layer.activation.torch is None:
            raise DeltapropError(f"activation {layer.activation.name!r} has no torch.nn equivalent")
        if layer.activation.torch:
            module, options = layer.activation.torch
            parts.append(getattr(nn, module)(**options))
    model = nn.Sequential(*parts).to(torch.float64 if net.dtype == np.float64 else torch.float32)
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state_dict(net).items()})
    return model


def _same_option(key, found, wanted) -> bool:
    # dim=-1 is dim=1 for the 2-D batches both libraries pass (rows are examples)
    return found == wanted or (key == "dim" and wanted == 1 and found == -1)


def from_torch(model, cost="quadratic", dtype=None) -> Network:
    """Return the network equivalent to an ``nn.Sequential`` of ``Linear`` and supported activations."""
    names = {g.torch[0]: g for g in ACTIVATIONS.values() if g.torch}
    activations, previous = [], None
    for index, module in enumerate(model):
        kind = type(module).__name__
        if kind == "Linear":
            activations.append("identity")
        elif kind in names and previous == "Linear":
            activation = names[kind]
            for key, wanted in activation.torch[1].items():
                found = getattr(module, key)
                if not _same_option(key, found, wanted):
                    raise DeltapropError(f"module {index} is {kind}({key}={found}); deltaprop's {activation.name} "
                                         f"is {kind}({key}={wanted})")
            activations[-1] = activation.name
        else:
            raise DeltapropError(
                f"module {index} is {kind}; deltaprop converts nn.Sequential of Linear layers, each optionally "
                f"followed by one of {sorted(names)}"
            )
        previous = kind
    return from_state_dict(dict(model.state_dict()), activation=activations, cost=cost, dtype=dtype)
