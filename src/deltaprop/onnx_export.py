"""ONNX export: a network as an ONNX graph of ``Gemm`` and activation operators.

Each layer ``z = W a + b``, ``a = g(z)`` becomes ``Gemm(a, W, b, transB=1)`` (ONNX's ``Gemm`` is
``Y = A B^T + C`` with ``transB=1``, and deltaprop's rows are examples, so ``W`` of shape
``(n_out, n_in)`` is stored as it is) followed by the activation's operator, which each activation
names itself (``Activation.onnx`` in :mod:`deltaprop.core.activations`): ``Sigmoid``, ``Relu``,
``LeakyRelu`` with ``alpha = 0.01``, ``Softmax`` on axis 1, ``Softplus``, ...; the identity has
none, its ``Gemm`` output is used as it is. A network with input standardisation
(:meth:`Network.standardize`) begins with ``Sub(input, input_mean)`` and ``Div(., input_scale)``,
so the graph takes the raw inputs, as :meth:`Network.predict` does.

The graph takes ``input`` of shape ``(batch, n_in)`` and returns ``output`` of shape
``(batch, n_L)``, the output activations ``a^L`` (probabilities for a softmax classifier; take
the argmax for labels). Graphs are ``float`` (float32) by default, the type every runtime
implements for every operator, whatever the network's dtype; ``dtype="float64"`` keeps ``double``
(valid ONNX, but onnxruntime's CPU provider has no double ``LeakyRelu``). Weights are stored as
initialisers named as in :mod:`deltaprop.state_dict` (``0.weight``, ``0.bias``, ...). The model is
checked by ``onnx.checker`` before it is returned or written. ``onnx`` is imported on use (the
``onnx`` extra).
"""

from __future__ import annotations

import numpy as np

from .core.checks import as_dtype, is_count
from .core.network import Network
from .errors import DeltapropError
from .state_dict import state_dict, torch_indices

__all__ = ["OPSET", "to_onnx"]

OPSET = 13
"""The ONNX opset the graphs use: ``Softmax`` works on one axis since opset 13."""

def _operator(activation, index: int):
    """The ONNX operator of ``net.layers[index]``'s activation (``Activation.onnx``; ``()``: no node)."""
    if activation.onnx is None:
        from .core.activations import ACTIVATIONS

        exportable = ", ".join(repr(name) for name, g in ACTIVATIONS.items() if g.onnx is not None)
        raise DeltapropError(f"layer {index} has activation {activation.name!r}, which deltaprop cannot express in "
                             f"ONNX; exportable activations: {exportable}")
    if activation.name == "leaky_relu" and getattr(activation, "slope", 0.01) != 0.01:
        raise DeltapropError(
            f"layer {index}: leaky_relu with slope {activation.slope} is exported only with slope 0.01"
        )
    return activation.onnx


def to_onnx(net: Network, path=None, *, dtype="float32", opset: int = OPSET, graph_name: str = "deltaprop"):
    """Return the ONNX model (an ``onnx.ModelProto``) of ``net``; also write it to ``path`` if given.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike, optional
        Written atomically; ``.onnx`` by convention.
    dtype : {"float32", "float64"}
        Element type of the graph's input, weights and output (default float32).
    opset : int
        ONNX opset version (>= 13, the first with a per-axis ``Softmax``).

    Raises
    ------
    DeltapropError
        If an activation has no ONNX operator (the message names it and the layer).

    Examples
    --------
    >>> import deltaprop
    >>> net = deltaprop.Network([4, 8, 3], output_activation="softmax", cost="log_likelihood", seed=0)
    >>> [node.op_type for node in to_onnx(net).graph.node]
    ['Gemm', 'Sigmoid', 'Gemm', 'Softmax']
    """
    if not isinstance(net, Network):
        raise DeltapropError(f"to_onnx() takes a deltaprop.Network, got {type(net).__name__}")
    if not is_count(opset, minimum=13):
        raise DeltapropError(f"opset={opset!r} must be an integer >= 13 (Softmax over one axis)")
    dtype = as_dtype(dtype)
    operators = [_operator(layer.activation, i) for i, layer in enumerate(net.layers)]  # fail before importing onnx

    import onnx  # optional dependency, imported on use
    from onnx import TensorProto, helper, numpy_helper

    element = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    weights = {name: array.astype(dtype) for name, array in state_dict(net).items()}
    nodes, initializers, a = [], [], "input"
    if net.input_mean is not None:  # x -> (x - mean) / scale, as Network._inputs
        initializers += [numpy_helper.from_array(net.input_mean.astype(dtype), "input_mean"),
                         numpy_helper.from_array(net.input_scale.astype(dtype), "input_scale")]
        nodes += [helper.make_node("Sub", ["input", "input_mean"], ["centred"], name="standardize_sub"),
                  helper.make_node("Div", ["centred", "input_scale"], ["standardized"], name="standardize_div")]
        a = "standardized"
    last = len(net.layers) - 1
    for i, (k, layer, op) in enumerate(zip(torch_indices(l.activation for l in net.layers), net.layers, operators)):
        W, b = f"{k}.weight", f"{k}.bias"
        initializers += [numpy_helper.from_array(weights[W], W), numpy_helper.from_array(weights[b], b)]
        z = "output" if i == last and not op else f"z{i}"
        nodes.append(helper.make_node("Gemm", [a, W, b], [z], name=f"gemm{i}", transB=1))  # z = a W^T + b
        a = z
        if op:
            op_type, attributes = op
            a = "output" if i == last else f"a{i}"
            name = f"{layer.activation.name}{i}"
            nodes.append(helper.make_node(op_type, [z], [a], name=name, **attributes))  # a = g(z)
    graph = helper.make_graph(
        nodes, graph_name,
        inputs=[helper.make_tensor_value_info("input", element, ["batch", net.sizes[0]])],
        outputs=[helper.make_tensor_value_info("output", element, ["batch", net.sizes[-1]])],
        initializer=initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="deltaprop",
                              ir_version=helper.find_min_ir_version_for(opsets, ignore_unknown=True),
                              doc_string=f"deltaprop network {net.sizes}, cost {net.cost_function.name}")
    helper.set_model_props(model, {
        "deltaprop.activations": ",".join(layer.activation.name for layer in net.layers),
        "deltaprop.cost": net.cost_function.name,
    })
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        from .atomic import atomic_write

        with atomic_write(path, "wb") as handle:
            handle.write(model.SerializeToString())
    return model
