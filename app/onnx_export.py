"""A Network as an ONNX graph (opset 13) that ONNX Runtime runs with the same predictions.

The graph takes `input`, the raw feature rows (batch, features), and gives `output`, what
`python main.py predict` reports: each class's probability (batch, classes), or the
predicted values in the target's own units (batch, targets). Node by node:

    input -> Sub(shift) -> Div(scale)                  the normalization fitted on the training rows
          -> one node per layer, from its torch form (torch_layout.py):
             Linear       Gemm(x, weight, bias, transB=1)  Y = X @ weight.T + bias, weight (out, in)
             BatchNorm1d  BatchNormalization(x, weight, bias, running_mean, running_var, epsilon)
                          (float64: (x - running_mean) * inv_std * weight + bias, see _batch_norm)
             ReLU, Sigmoid, Tanh, LeakyRelu(alpha) (float64: Max(x, alpha * x)), Softmax(axis=1);
             Identity, Dropout and Flatten: Identity
             Conv2d/1d, MaxPool, AvgPool, BatchNorm2d: Reshape(x, [0, C, H, W]) (0 keeps the batch),
                          the op (Conv, MaxPool, AveragePool, BatchNormalization), Reshape(y, [0, -1])
             GlobalAvgPool  Reshape(x, [0, C, -1]) then ReduceMean over axis 2
             Embedding    Cast(x, int64), Gather(weight, ids), Reshape [0, -1]
             PositionwiseDense  Reshape [0, -1, in], MatMul(W (in, out)), Add(bias), Reshape [0, -1]
             RNN, LSTM, GRU  Reshape [0, -1, D], Transpose to (T, n, D), the ONNX op with torch's
                          gate blocks reordered (LSTM i f g o -> i o f c, GRU r z n -> z r h,
                          linear_before_reset=1), then every step's output or the last
          -> the prediction head (export.output_steps): Softmax or Sigmoid for a model that outputs
             scores, [1 - p, p] for a single sigmoid unit, y * scale + shift for a normalized target
          -> output
The weights are initializers named as in the safetensors file (0.weight, 0.bias, ...).
"""

import math

from app import onnx_io
from app.safetensors_io import encode_values, Tensor
from app.torch_layout import LayoutError, to_torch


def _gemm(index, module, x, out, constant):
    inputs = [x, f"{index}.weight"] + ([f"{index}.bias"] if module["bias"] else [])
    return [("Gemm", inputs, out, {"transB": 1})]


def _batch_norm(index, module, x, out, constant):
    names = [f"{index}.{name}" for name in ("weight", "bias", "running_mean", "running_var")]
    if constant.dtype == "F32":
        return [("BatchNormalization", [x] + names, out, {"epsilon": float(module["eps"])})]
    # float64: an attribute is a float32, which would round eps; with 1 / sqrt(var + eps) computed here as
    # BatchNorm.forward computes it, (x - mean) * inv_std * gamma + beta gives its very bits
    variance = constant.state[f"{index}.running_var"].values
    inv_std = constant(f"{index}.inv_std", [1.0 / math.sqrt(v + module["eps"]) for v in variance])
    centered, x_hat, scaled = f"{index}.centered", f"{index}.x_hat", f"{index}.scaled"
    return [("Sub", [x, names[2]], centered, {}), ("Mul", [centered, inv_std], x_hat, {}),
            ("Mul", [x_hat, names[0]], scaled, {}), ("Add", [scaled, names[1]], out, {})]


def _leaky_relu(index, module, x, out, constant):
    alpha = float(module["negative_slope"])
    if constant.dtype == "F32":
        return [("LeakyRelu", [x], out, {"alpha": alpha})]
    # ONNX Runtime has no float64 LeakyRelu; for 0 <= alpha < 1, max(x, alpha * x) is the same number
    scaled = f"{index}.scaled"
    return [("Mul", [x, constant(f"{index}.alpha", [alpha])], scaled, {}), ("Max", [x, scaled], out, {})]


def _image(module, x, index, constant):
    """The nodes that give a row back its (C, H, W) or (C, L) shape: Reshape(x, [0, C, H, W]),
    where 0 keeps the batch size; with the name of the result."""
    shape = constant(f"{index}.input_shape", [0] + list(module["input_shape"]), dtype="I64")
    return [("Reshape", [x, shape], f"{index}.image", {})], f"{index}.image"


def _flat(index, y, out, constant):
    """Reshape(y, [0, -1]): the result as one row per sample again."""
    return [("Reshape", [y, constant("flat_shape", [0, -1], dtype="I64")], out, {})]


def _pairs(module, one_d):
    def listed(value):
        return [value] if one_d else list(value)
    return listed(module["kernel_size"]), listed(module["stride"])


def _conv(index, module, x, out, constant):
    nodes, image = _image(module, x, index, constant)
    one_d = module["module"] == "Conv1d"
    kernel, stride = _pairs(module, one_d)
    padding = [module["padding"]] if one_d else list(module["padding"])
    inputs = [image, f"{index}.weight"] + ([f"{index}.bias"] if module["bias"] else [])
    nodes.append(("Conv", inputs, f"{index}.conv", {"kernel_shape": kernel, "strides": stride,
                                                    "pads": padding + padding}))  # begins, then ends
    return nodes + _flat(index, f"{index}.conv", out, constant)


def _pool(index, module, x, out, constant):
    nodes, image = _image(module, x, index, constant)
    kernel, stride = _pairs(module, module["module"].endswith("1d"))
    op_type = "MaxPool" if module["module"].startswith("Max") else "AveragePool"
    nodes.append((op_type, [image], f"{index}.pooled", {"kernel_shape": kernel, "strides": stride}))
    return nodes + _flat(index, f"{index}.pooled", out, constant)


def _global_pool(index, module, x, out, constant):
    channels = constant(f"{index}.channels", [0, module["input_shape"][0], -1], dtype="I64")
    return [("Reshape", [x, channels], f"{index}.channels_out", {}),
            ("ReduceMean", [f"{index}.channels_out"], out, {"axes": [2], "keepdims": 0})]


def _batch_norm_2d(index, module, x, out, constant):
    if constant.dtype == "F32":
        nodes, image = _image(module, x, index, constant)
        names = [f"{index}.{name}" for name in ("weight", "bias", "running_mean", "running_var")]
        nodes.append(("BatchNormalization", [image] + names, f"{index}.normalized", {"epsilon": float(module["eps"])}))
        return nodes + _flat(index, f"{index}.normalized", out, constant)
    # float64, as _batch_norm: per-channel vectors of shape (C, 1) broadcast over (n, C, H*W)
    channels = module["input_shape"][0]
    grouped = constant(f"{index}.channels", [0, channels, -1], dtype="I64")
    variance = constant.state[f"{index}.running_var"].values
    vectors = {"inv_std": [1.0 / math.sqrt(v + module["eps"]) for v in variance]}
    for name in ("running_mean", "weight", "bias"):
        vectors[name] = constant.state[f"{index}.{name}"].values
    column = {name: constant(f"{index}.{name}_column", values, shape=(channels, 1)) for name, values in vectors.items()}
    return [("Reshape", [x, grouped], f"{index}.grouped", {}),
            ("Sub", [f"{index}.grouped", column["running_mean"]], f"{index}.centered", {}),
            ("Mul", [f"{index}.centered", column["inv_std"]], f"{index}.x_hat", {}),
            ("Mul", [f"{index}.x_hat", column["weight"]], f"{index}.scaled", {}),
            ("Add", [f"{index}.scaled", column["bias"]], f"{index}.shifted", {})] + _flat(
                index, f"{index}.shifted", out, constant)


def _embedding(index, module, x, out, constant):
    ids = f"{index}.ids"
    return [("Cast", [x], ids, {"to": 7}),  # the ids come as numbers like every input; Gather takes int64
            ("Gather", [f"{index}.weight", ids], f"{index}.vectors", {"axis": 0})] + _flat(
                index, f"{index}.vectors", out, constant)


def _positionwise(index, module, x, out, constant):
    n_in, n_out = module["in_features"], module["out_features"]
    steps = constant(f"{index}.steps_shape", [0, -1, n_in], dtype="I64")
    weight = constant.state[f"{index}.weight"].values  # (out, in): MatMul wants (in, out)
    matrix = constant(f"{index}.weight_in_out", [weight[o * n_in + i] for i in range(n_in) for o in range(n_out)],
                      shape=(n_in, n_out))
    nodes = [("Reshape", [x, steps], f"{index}.steps", {}), ("MatMul", [f"{index}.steps", matrix], f"{index}.y", {})]
    y = f"{index}.y"
    if module["bias"]:
        nodes.append(("Add", [y, f"{index}.bias"], f"{index}.y_bias", {}))
        y = f"{index}.y_bias"
    return nodes + _flat(index, y, out, constant)


# torch's gate blocks -> ONNX's: LSTM i, f, g, o -> i, o, f, c; GRU r, z, n -> z, r, h
_GATE_ORDER = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def _recurrent(index, module, x, out, constant):
    kind, size, hidden = module["module"], module["input_size"], module["hidden_size"]
    order = _GATE_ORDER[kind]
    width = len(order) * hidden

    def reordered(name, columns):  # the rows of a (G*H, columns) tensor, gate block by gate block
        values = constant.state[f"{index}.{name}"].values
        return [v for block in order for v in values[block * hidden * columns:(block + 1) * hidden * columns]]

    w = constant(f"{index}.W", reordered("weight_ih_l0", size), shape=(1, width, size))
    r = constant(f"{index}.R", reordered("weight_hh_l0", hidden), shape=(1, width, hidden))
    b = constant(f"{index}.B", reordered("bias_ih_l0", 1) + reordered("bias_hh_l0", 1), shape=(1, 2 * width))
    attributes = {"hidden_size": hidden}
    if kind == "GRU":
        attributes["linear_before_reset"] = 1  # torch: r * (W_hn h + b_hn), not W_hn (r * h) + b_hn
    if kind == "RNN" and module["nonlinearity"] == "relu":
        attributes["activations"] = ["Relu"]
    steps = constant(f"{index}.steps_shape", [0, -1, size], dtype="I64")
    nodes = [("Reshape", [x, steps], f"{index}.steps", {}),
             ("Transpose", [f"{index}.steps"], f"{index}.time_major", {"perm": [1, 0, 2]}),  # (T, n, D)
             (kind, [f"{index}.time_major", w, r, b], [f"{index}.Y", f"{index}.Y_h"], attributes)]
    if module["return_sequences"]:  # Y (T, 1, n, H) -> (n, T, 1, H) -> rows of T * H
        nodes.append(("Transpose", [f"{index}.Y"], f"{index}.batch_major", {"perm": [2, 0, 1, 3]}))
        return nodes + _flat(index, f"{index}.batch_major", out, constant)
    last = constant(f"{index}.last_shape", [-1, hidden], dtype="I64")
    return nodes + [("Reshape", [f"{index}.Y_h", last], out, {})]  # Y_h (1, n, H) -> (n, H)


def _plain(op_type, attributes=None):
    return lambda index, module, x, out, constant: [(op_type, [x], out, dict(attributes or {}))]


ONNX_FORMS = {
    "Linear": _gemm,
    "BatchNorm1d": _batch_norm,
    "ReLU": _plain("Relu"),
    "Sigmoid": _plain("Sigmoid"),
    "Tanh": _plain("Tanh"),
    "Identity": _plain("Identity"),
    "Dropout": _plain("Identity"),  # inference: dropout does nothing
    "Softmax": _plain("Softmax", {"axis": 1}),
    "LeakyReLU": _leaky_relu,
    "Conv2d": _conv,
    "Conv1d": _conv,
    "MaxPool2d": _pool,
    "AvgPool2d": _pool,
    "MaxPool1d": _pool,
    "AvgPool1d": _pool,
    "GlobalAvgPool": _global_pool,
    "BatchNorm2d": _batch_norm_2d,
    "Flatten": _plain("Identity"),  # a sample is one row already
    "Embedding": _embedding,
    "PositionwiseLinear": _positionwise,
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
}


class _Constants:
    """The graph's initializers: the state dict, and the vectors the nodes add (called as a function)."""

    def __init__(self, state, dtype):
        self.state, self.dtype, self.tensors = state, dtype, dict(state)

    def __call__(self, name, values, dtype=None, shape=None):
        self.tensors[name] = Tensor(dtype or self.dtype, shape or (len(values),), list(values))
        return name


def onnx_model(network, steps, file_metadata, dtype="F32"):
    """The bytes of an ONNX model computing the network's predictions from raw rows.

    steps: export.output_steps of the network; file_metadata: {str: str} stored in the
    model's metadata_props (feature names, class names, ...). LayoutError names a layer
    that has no ONNX form.
    """
    modules, state = to_torch(network, dtype)
    first = network.layers[0].input_shape  # None for a first layer of any width (an Embedding)
    n_inputs = first[0] if first is not None and len(first) == 1 else None
    constant = _Constants(state, dtype)
    nodes, x = [], "input"

    def add(op_type, inputs, output, attributes=None):
        nodes.append([op_type, inputs, output, attributes])
        return output

    stats = network.metadata.get("normalization")
    if stats and stats.get("method") != "none":
        x = add("Sub", [x, constant("normalization.shift", stats["shift"])], "centered")
        x = add("Div", [x, constant("normalization.scale", stats["scale"])], "normalized")
    for index, module in enumerate(modules):
        if module["module"] not in ONNX_FORMS:
            raise LayoutError(f"layer {index} ({network.layers[index]!r}, torch {module['module']}) has no ONNX "
                              f"form here; ONNX export covers {', '.join(sorted(ONNX_FORMS))}")
        for op_type, inputs, output, attributes in ONNX_FORMS[module["module"]](index, module, x, f"{index}.out",
                                                                               constant):
            x = add(op_type, inputs, output, attributes)
    n_outputs = network.shapes[-1][0] if network.shapes[-1] else None
    for step in steps:
        if step == "softmax":
            x = add("Softmax", [x], "probabilities", {"axis": 1})
        elif step == "sigmoid":
            x = add("Sigmoid", [x], "probabilities")
        elif step == "two_classes":  # P(first class) = 1 - p beside P(second class) = p
            other = add("Sub", [constant("one", [1.0]), x], "first_class")
            x = add("Concat", [other, x], "both_classes", {"axis": 1})
            n_outputs = 2
        elif step == "unscale":
            target = network.metadata["target_normalization"]
            x = add("Mul", [x, constant("target.scale", target["scale"])], "unscaled")
            x = add("Add", [x, constant("target.shift", target["shift"])], "values")
    nodes[-1][2] = "output"  # no node reads the last one's result, so it can take the graph's output name
    # only the constants some node reads: not num_batches_tracked, nor a float64 BatchNorm's running_var
    used = {name for _, inputs, _, _ in nodes for name in inputs}
    nodes = [onnx_io.node_proto(op_type, inputs, output if isinstance(output, list) else [output],
                                f"{op_type}_{number}", attributes)
             for number, (op_type, inputs, output, attributes) in enumerate(nodes)]
    initializers = [onnx_io.tensor_proto(name, t.dtype, t.shape, encode_values(t, name))
                    for name, t in constant.tensors.items() if name in used]
    graph = onnx_io.graph_proto(
        "network", nodes, initializers,
        [onnx_io.value_info_proto("input", dtype, ["batch", n_inputs if n_inputs else "features"])],
        [onnx_io.value_info_proto("output", dtype, ["batch", n_outputs if n_outputs else "outputs"])],
        doc="exported by python main.py export --format onnx")
    return onnx_io.model_proto(graph, metadata=file_metadata)
