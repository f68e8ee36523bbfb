"""The framework's layers as the torch.nn modules of an nn.Sequential, and back.

Each layer of a Network becomes one module of an `nn.Sequential`, at the same index, and
its parameters and buffers become the tensors PyTorch's `state_dict()` would hold, under
the same keys and in PyTorch's layouts:

    layer                   module                       tensors (shape)
    Dense(in -> out)        Linear(in, out)              i.weight (out, in) = W.T   i.bias (out,)
    BatchNorm(F)            BatchNorm1d(F, eps, momentum) i.weight (F,) = gamma  i.bias (F,) = beta
                                                         i.running_mean (F,)  i.running_var (F,)
                                                         i.num_batches_tracked () int64
    ReLU, Sigmoid, Tanh     ReLU(), Sigmoid(), Tanh()    none
    LeakyReLU(alpha)        LeakyReLU(negative_slope=alpha)
    Linear (identity)       Identity()
    Softmax                 Softmax(dim=1)
    Dropout(p)              Dropout(p)                   none (it does nothing at inference)
    Embedding(V, D)         Embedding(V, D) on rows of ids  i.weight (V, D), the same table
    PositionwiseDense       Linear at every step            i.weight (out, in) = W.T   i.bias (out,)
    RNN, LSTM, GRU (D -> H) RNN / LSTM / GRU(D, H, batch_first=True), gates in PyTorch's order
                                                         i.weight_ih_l0 (G*H, D) = W_ih.T
                                                         i.weight_hh_l0 (G*H, H) = W_hh.T
                                                         i.bias_ih_l0 (G*H,)  i.bias_hh_l0 (G*H,)
                            (G = 1, 4, 3; model_torch.py wraps each so that it takes and gives
                            rows of T * D values, as here, and return_sequences picks all
                            hidden states or the last)
    Conv2D(C -> O, kH x kW) Conv2d(C, O, (kH, kW), stride, padding)
                                                         i.weight (O, C, kH, kW) = W.T  i.bias (O,)
    Conv1D(C -> O, k)       Conv1d(C, O, k, stride, padding)  i.weight (O, C, k) = W.T  i.bias (O,)
    BatchNorm2D(C)          BatchNorm2d(C, eps, momentum) as BatchNorm1d's five tensors
    MaxPool2D, AvgPool2D    MaxPool2d, AvgPool2d (kernel_size, stride); and the 1-D ones
    GlobalAvgPool2D / 1D    the mean of each channel     Flatten   Flatten()
                            (image and sequence modules carry their per-sample input_shape,
                            so model_torch.py can reshape each row to (C, H, W) or (C, L))

Dense keeps W as (in, out) so that Y = X @ W + b; torch.nn.Linear keeps (out, in) and
computes Y = X @ W.T + b: the same numbers, transposed. num_batches_tracked counts
training batches; torch reads it only with momentum=None, and this framework does not
count, so it is written as 0 (and ignored on import).

A module is described by a plain dict, {"module": "Linear", "in_features": 4,
"out_features": 16, "bias": true}: the `architecture` an exported file carries in its
metadata, the list `import` reads from an architecture file, and what model_torch.py
and the ONNX graph are generated from. New layers add one function to TO_TORCH and one
to FROM_TORCH (app/torch_transformer.py adds the Transformer's layers to both).
"""

import math
import random

from activations import LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from batchnorm2d import BatchNorm2D
from conv import Conv1D, Conv2D
from layers import BatchNorm, Dense, Dropout
from matrix import Matrix
from pooling import AvgPool1D, AvgPool2D, Flatten, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D, MaxPool2D
from recurrent import GRU, LSTM, RNN
from sequence import Embedding, PositionwiseDense

from app.safetensors_io import FLOAT_DTYPES, Tensor
from utils import InputError


class LayoutError(InputError):
    """A layer with no torch form, or weights that do not fit an architecture; one line."""


def transpose_flat(rows):
    """The entries of the (a, b) matrix `rows`, transposed to (b, a), flat in row-major order."""
    return [value for column in zip(*rows) for value in column]


def untranspose_flat(values, a, b):
    """The rows of the (a, b) matrix whose transpose (b, a) is `values`, flat row-major:
    row i is values[i], values[a + i], values[2a + i], ... ."""
    return [values[i::a] for i in range(a)]


def _row(matrix):
    return list(matrix.rows[0])


# ------------------------------------------------------- framework -> torch
def _dense(layer, dtype):
    module = {"module": "Linear", "in_features": layer.in_features, "out_features": layer.out_features,
              "bias": layer.bias is not None}
    tensors = {"weight": Tensor(dtype, (layer.out_features, layer.in_features), transpose_flat(layer.weight.value.rows))}
    if layer.bias is not None:
        tensors["bias"] = Tensor(dtype, (layer.out_features,), _row(layer.bias.value))
    return module, tensors


def _batch_norm(layer, dtype):
    features = getattr(layer, "features", None) or layer.channels  # BatchNorm or BatchNorm2D
    module = {"module": "BatchNorm1d", "num_features": features, "eps": layer.eps, "momentum": layer.momentum}
    shape = (features,)
    gamma, beta = (layer.gamma, layer.beta) if hasattr(layer, "gamma") else (layer.weight, layer.bias)
    tensors = {"weight": Tensor(dtype, shape, _row(gamma.value)),
               "bias": Tensor(dtype, shape, _row(beta.value)),
               "running_mean": Tensor(dtype, shape, _row(layer.running_mean)),
               "running_var": Tensor(dtype, shape, _row(layer.running_var)),
               "num_batches_tracked": Tensor("I64", (), [0])}
    return module, tensors


def _embedding(layer, dtype):
    module = {"module": "Embedding", "num_embeddings": layer.num_embeddings, "embedding_dim": layer.embedding_dim}
    rows = layer.weight.value.rows
    return module, {"weight": Tensor(dtype, (layer.num_embeddings, layer.embedding_dim), [v for row in rows for v in row])}


def _positionwise(layer, dtype):
    module, tensors = _dense(layer, dtype)
    return dict(module, module="PositionwiseLinear"), tensors


def _recurrent(layer, dtype):
    kind = type(layer).__name__
    module = {"module": kind, "input_size": layer.input_size, "hidden_size": layer.hidden_size,
              "return_sequences": layer.return_sequences}
    if kind == "RNN":
        module["nonlinearity"] = layer.nonlinearity
    width = layer.gates * layer.hidden_size
    tensors = {"weight_ih_l0": Tensor(dtype, (width, layer.input_size), transpose_flat(layer.weight_ih.value.rows)),
               "weight_hh_l0": Tensor(dtype, (width, layer.hidden_size), transpose_flat(layer.weight_hh.value.rows)),
               "bias_ih_l0": Tensor(dtype, (width,), _row(layer.bias_ih.value)),
               "bias_hh_l0": Tensor(dtype, (width,), _row(layer.bias_hh.value))}
    return module, tensors


def _input_shape(layer):
    if layer.input_shape is None:
        raise LayoutError(f"{layer!r} does not know its input shape (give the first layer input_shape)")
    return list(layer.input_shape)


def _conv(layer, dtype):
    one_d = type(layer).__name__ == "Conv1D"
    kernel, stride, padding = (tuple(getattr(layer, name)) for name in ("kernel_size", "stride", "padding"))
    module = {"module": "Conv1d" if one_d else "Conv2d", "in_channels": layer.in_channels,
              "out_channels": layer.out_channels,
              "kernel_size": kernel[1] if one_d else list(kernel), "stride": stride[1] if one_d else list(stride),
              "padding": padding[1] if one_d else list(padding), "bias": layer.bias is not None,
              "input_shape": _input_shape(layer)}
    # W (C*kH*kW, O): row c*kH*kW + i*kW + j, column o is weight[o, c, i, j], so W.T flat is (O, C, kH, kW) flat
    shape = (layer.out_channels, layer.in_channels) + ((kernel[1],) if one_d else kernel)
    tensors = {"weight": Tensor(dtype, shape, transpose_flat(layer.weight.value.rows))}
    if layer.bias is not None:
        tensors["bias"] = Tensor(dtype, (layer.out_channels,), _row(layer.bias.value))
    return module, tensors


def _batch_norm_2d(layer, dtype):
    module, tensors = _batch_norm(layer, dtype)
    return dict(module, module="BatchNorm2d", input_shape=_input_shape(layer)), tensors


def _pool(layer, dtype):
    kind = type(layer).__name__
    one_d = kind.endswith("1D")
    kernel, stride = tuple(layer.kernel_size), tuple(layer.stride)
    return {"module": kind[:-1] + "d", "kernel_size": kernel[1] if one_d else list(kernel),
            "stride": stride[1] if one_d else list(stride), "input_shape": _input_shape(layer)}, {}


def _no_tensors(module):
    return lambda layer, dtype: (dict(module), {})


TO_TORCH = {
    "Dense": _dense,
    "BatchNorm": _batch_norm,
    "Dropout": lambda layer, dtype: ({"module": "Dropout", "p": layer.p}, {}),
    "ReLU": _no_tensors({"module": "ReLU"}),
    "Sigmoid": _no_tensors({"module": "Sigmoid"}),
    "Tanh": _no_tensors({"module": "Tanh"}),
    "Linear": _no_tensors({"module": "Identity"}),
    "Softmax": _no_tensors({"module": "Softmax", "dim": 1}),
    "LeakyReLU": lambda layer, dtype: ({"module": "LeakyReLU", "negative_slope": layer.alpha}, {}),
    "Embedding": _embedding,
    "PositionwiseDense": _positionwise,
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "Conv2D": _conv,
    "Conv1D": _conv,
    "BatchNorm2D": _batch_norm_2d,
    "MaxPool2D": _pool,
    "AvgPool2D": _pool,
    "MaxPool1D": _pool,
    "AvgPool1D": _pool,
    "GlobalAvgPool2D": lambda layer, dtype: ({"module": "GlobalAvgPool", "input_shape": _input_shape(layer)}, {}),
    "GlobalAvgPool1D": lambda layer, dtype: ({"module": "GlobalAvgPool", "input_shape": _input_shape(layer)}, {}),
    "Flatten": _no_tensors({"module": "Flatten"}),
}


def layer_module(layer, where, dtype):
    """(module, tensors) of one layer; LayoutError naming it (`where`) when it has no torch form."""
    kind = type(layer).__name__
    if kind not in TO_TORCH:
        raise LayoutError(f"{where} ({layer!r}) has no PyTorch form here; exportable layers: "
                          f"{', '.join(sorted(TO_TORCH))}")
    return TO_TORCH[kind](layer, dtype)


def to_torch(network, dtype="F32"):
    """(modules, state_dict) of the nn.Sequential equivalent to `network`.

    modules: one dict per layer (see the module docstring); state_dict: {"0.weight": Tensor, ...}
    in PyTorch's order (by index, then as each module registers them). dtype "F32" or "F64".
    """
    if dtype not in ("F32", "F64"):
        raise LayoutError(f"dtype must be F32 or F64, got {dtype!r}")
    modules, state = [], {}
    for index, layer in enumerate(network.layers):
        module, tensors = layer_module(layer, f"layer {index}", dtype)
        modules.append(module)
        state.update({f"{index}.{name}": tensor for name, tensor in tensors.items()})
    return modules, state


# ------------------------------------------------------- torch -> framework
# module name -> (its options and their defaults in torch, the function building the layer)
def _number(value, where, low=None, high=None, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LayoutError(f"{where}: must be a number, got {value!r:.40}")
    if positive and not value > 0 or low is not None and value < low or high is not None and value > high:
        raise LayoutError(f"{where}: {value!r} is out of range")
    return value


def _agree(spec, where, tensor_name, shape, found, layout, stated=None):
    """Each (name, value) of `found`, read off a tensor's shape, must be what the architecture says
    of it (when it says anything): else one line naming both."""
    stated = spec if stated is None else stated
    for name, value in found:
        if stated.get(name, value) != value:
            raise LayoutError(f"{where}: the architecture says {name} {spec[name]!r}, but {tensor_name} has shape "
                              f"{list(shape)} ({layout})")


def _flag(spec, key, default, where):
    """spec[key] when it is true or false (default when absent); anything else is one line."""
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise LayoutError(f"{where}: {key} must be true or false, got {value!r:.40}")
    return value


def _linear_weights(spec, take, where):
    """(in_features, out_features, W as an (in, out) Matrix, bias (1, out) or None) of a Linear."""
    weight = take("weight", 2)
    out_features, in_features = weight.shape
    _agree(spec, where, "weight", weight.shape, (("in_features", in_features), ("out_features", out_features)),
           "out_features, in_features")
    # without "bias" in the architecture, the file says whether there is one
    bias = take("bias", 1, (out_features,), optional="bias" not in spec) if _flag(spec, "bias", True, where) else None
    weight = _matrix(untranspose_flat(weight.values, in_features, out_features), where + ".weight")
    return in_features, out_features, weight, None if bias is None else _matrix([bias.values], where + ".bias")


def _linear(spec, take, where, cls=Dense):
    in_features, out_features, weight, bias = _linear_weights(spec, take, where)
    layer = cls(in_features, out_features, init="zeros", bias=bias is not None)
    layer.weight.value = weight
    if bias is not None:
        layer.bias.value = bias
    return layer


def _embedding_table(spec, take, where):
    weight = take("weight", 2)
    count, dim = weight.shape
    _agree(spec, where, "weight", weight.shape, (("num_embeddings", count), ("embedding_dim", dim)),
           "num_embeddings, embedding_dim")
    layer = Embedding(count, dim, rng=random.Random(0))  # a private generator: the weights replace its draws
    layer.weight.value = _matrix([weight.values[k * dim:(k + 1) * dim] for k in range(count)], where + ".weight")
    return layer


_CELLS = {"RNN": (RNN, 1), "LSTM": (LSTM, 4), "GRU": (GRU, 3)}


def _recurrent_cell(spec, take, where):
    cls, gates = _CELLS[spec["module"]]
    weight_ih = take("weight_ih_l0", 2)
    width, input_size = weight_ih.shape
    if width % gates:
        raise LayoutError(f"{where}: weight_ih_l0 has shape {list(weight_ih.shape)}, but {spec['module']} needs "
                          f"{gates} gate blocks of hidden_size rows")
    hidden_size = width // gates
    _agree(spec, where, "weight_ih_l0", weight_ih.shape, (("input_size", input_size), ("hidden_size", hidden_size)),
           f"{gates} * hidden_size, input_size")
    options = {"return_sequences": spec.get("return_sequences", True), "rng": random.Random(0)}
    if spec["module"] == "RNN":
        options["nonlinearity"] = spec.get("nonlinearity", "tanh")
    try:
        layer = cls(input_size, hidden_size, **options)
    except ValueError as error:
        raise LayoutError(f"{where}: {error}") from None
    weight_hh = take("weight_hh_l0", 2, (width, hidden_size))
    layer.weight_ih.value = _matrix(untranspose_flat(weight_ih.values, input_size, width), where + ".weight_ih_l0")
    layer.weight_hh.value = _matrix(untranspose_flat(weight_hh.values, hidden_size, width), where + ".weight_hh_l0")
    layer.bias_ih.value = _matrix([take("bias_ih_l0", 1, (width,)).values], where + ".bias_ih_l0")
    layer.bias_hh.value = _matrix([take("bias_hh_l0", 1, (width,)).values], where + ".bias_hh_l0")
    return layer


def _layer(cls, where, *args, **options):
    """cls(*args, **options), its ValueError (a kernel larger than the input ...) as a LayoutError."""
    try:
        return cls(*args, **options)
    except (TypeError, ValueError) as error:
        raise LayoutError(f"{where}: {error}") from None


def _conv_from(spec, take, where):
    one_d = spec["module"] == "Conv1d"
    weight = take("weight", 3 if one_d else 4)
    out_channels, in_channels = weight.shape[:2]
    kernel = weight.shape[2] if one_d else list(weight.shape[2:])
    stated = dict(spec)
    if not one_d and isinstance(stated.get("kernel_size"), int):  # 3 means 3 x 3
        stated["kernel_size"] = [stated["kernel_size"]] * 2
    _agree(spec, where, "weight", weight.shape,
           (("in_channels", in_channels), ("out_channels", out_channels), ("kernel_size", kernel)),
           "out_channels, in_channels, kernel", stated)
    bias = take("bias", 1, (out_channels,), optional="bias" not in spec) if _flag(spec, "bias", True, where) else None
    layer = _layer(Conv1D if one_d else Conv2D, where, in_channels, out_channels, kernel,
                   spec.get("stride", 1), spec.get("padding", 0), spec.get("input_shape"), "zeros", bias is not None)
    receptive = layer.kernel_size[0] * layer.kernel_size[1]
    layer.weight.value = _matrix(untranspose_flat(weight.values, in_channels * receptive, out_channels),
                                 where + ".weight")
    if bias is not None:
        layer.bias.value = _matrix([bias.values], where + ".bias")
    return layer


def _batch_norm_2d_from(spec, take, where):
    norm = _batch_norm_1d(dict(spec, module="BatchNorm1d"), take, where)  # the same five tensors
    layer = _layer(BatchNorm2D, where, norm.features, spec.get("input_shape"), norm.momentum, norm.eps)
    layer.weight.value, layer.bias.value = norm.gamma.value, norm.beta.value
    layer.set_buffer("running_mean", norm.running_mean)
    layer.set_buffer("running_var", norm.running_var)
    return layer


_POOLS = {"MaxPool2d": MaxPool2D, "AvgPool2d": AvgPool2D, "MaxPool1d": MaxPool1D, "AvgPool1d": AvgPool1D}


def _pool_from(spec, take, where):
    return _layer(_POOLS[spec["module"]], where, spec.get("kernel_size"), spec.get("stride"), spec.get("input_shape"))


def _global_pool_from(spec, take, where):
    shape = spec.get("input_shape")
    cls = GlobalAvgPool1D if isinstance(shape, list) and len(shape) == 2 else GlobalAvgPool2D
    return _layer(cls, where, shape)


def _batch_norm_1d(spec, take, where):
    weight = take("weight", 1)
    features = weight.shape[0]
    if spec.get("num_features", features) != features:
        raise LayoutError(f"{where}: the architecture says num_features {spec['num_features']!r}, but weight "
                          f"has shape {list(weight.shape)}")
    layer = BatchNorm(features, momentum=_number(spec.get("momentum", 0.1), where + ".momentum", 0.0, 1.0),
                      eps=_number(spec.get("eps", 1e-5), where + ".eps", positive=True))
    layer.gamma.value = _matrix([weight.values], where + ".weight")
    layer.beta.value = _matrix([take("bias", 1, (features,)).values], where + ".bias")
    for name in ("running_mean", "running_var"):
        layer.set_buffer(name, _matrix([take(name, 1, (features,)).values], f"{where}.{name}"))
    take("num_batches_tracked", None, optional=True)  # torch always saves it; nothing here reads it
    return layer


def _softmax(spec, take, where):
    if spec.get("dim", 1) not in (1, -1):
        raise LayoutError(f"{where}: Softmax over dim {spec.get('dim')!r}; rows of (batch, features) need dim 1 or -1")
    return Softmax()


def _leaky_relu(spec, take, where):
    return LeakyReLU(_number(spec.get("negative_slope", 0.01), where + ".negative_slope", 0.0, 0.999999))


FROM_TORCH = {
    "Linear": (("in_features", "out_features", "bias"), _linear),
    "BatchNorm1d": (("num_features", "eps", "momentum"), _batch_norm_1d),
    "Dropout": (("p",), lambda spec, take, where: Dropout(_number(spec.get("p", 0.5), where + ".p", 0.0, 0.999999))),
    "ReLU": ((), lambda spec, take, where: ReLU()),
    "Sigmoid": ((), lambda spec, take, where: Sigmoid()),
    "Tanh": ((), lambda spec, take, where: Tanh()),
    "Identity": ((), lambda spec, take, where: Linear()),
    "Softmax": (("dim",), _softmax),
    "LeakyReLU": (("negative_slope",), _leaky_relu),
    "Embedding": (("num_embeddings", "embedding_dim"), _embedding_table),
    "PositionwiseLinear": (("in_features", "out_features", "bias"),
                           lambda spec, take, where: _linear(spec, take, where, PositionwiseDense)),
    "RNN": (("input_size", "hidden_size", "nonlinearity", "return_sequences"), _recurrent_cell),
    "LSTM": (("input_size", "hidden_size", "return_sequences"), _recurrent_cell),
    "GRU": (("input_size", "hidden_size", "return_sequences"), _recurrent_cell),
    "Conv2d": (("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias", "input_shape"), _conv_from),
    "Conv1d": (("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias", "input_shape"), _conv_from),
    "BatchNorm2d": (("num_features", "eps", "momentum", "input_shape"), _batch_norm_2d_from),
    "MaxPool2d": (("kernel_size", "stride", "input_shape"), _pool_from),
    "AvgPool2d": (("kernel_size", "stride", "input_shape"), _pool_from),
    "MaxPool1d": (("kernel_size", "stride", "input_shape"), _pool_from),
    "AvgPool1d": (("kernel_size", "stride", "input_shape"), _pool_from),
    "GlobalAvgPool": (("input_shape",), _global_pool_from),
    "Flatten": ((), lambda spec, take, where: Flatten()),
}


def _matrix(rows, where):
    try:
        return Matrix(rows)
    except ValueError as error:  # a NaN or infinite weight
        raise LayoutError(f"{where}: {error}") from None


def module_spec(spec, where):
    """A checked module description: {"module": name, options...}; a bare "ReLU" means {"module": "ReLU"}."""
    if isinstance(spec, str):
        spec = {"module": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("module"), str):
        raise LayoutError(f"{where}: must be an object with a \"module\" name such as \"Linear\", got {spec!r:.60}")
    name = spec["module"]
    if name not in FROM_TORCH:
        raise LayoutError(f"{where}: unknown module {name!r:.40}; supported: {', '.join(sorted(FROM_TORCH))}")
    unknown = sorted(set(spec) - {"module"} - set(FROM_TORCH[name][0]))
    if unknown:
        raise LayoutError(f"{where}: {name} takes no option {unknown[0]!r:.40}; its options: "
                          f"{', '.join(FROM_TORCH[name][0]) or 'none'}")
    return spec


def from_torch(modules, state, source="weights"):
    """The framework layers of an nn.Sequential given by `modules` (dicts, see module_spec) and
    its state_dict `state` ({"0.weight": Tensor, ...}). Every tensor must be used, with the
    shape the architecture implies; LayoutError names the first one that is not."""
    if not isinstance(modules, list) or not modules:
        raise LayoutError(f"{source}: the architecture must be a non-empty list of modules")
    used, layers = set(), []
    for index, spec in enumerate(modules):
        where = f"{source}: module {index}"
        spec = module_spec(spec, f"architecture module {index}")

        def take(name, ndim, shape=None, optional=False, index=index, where=where):
            key = f"{index}.{name}"
            if key not in state:
                if optional:
                    return None
                raise LayoutError(f"{where} ({spec['module']}) needs tensor {key!r}, which the file does not hold")
            tensor = state[key]
            used.add(key)
            if ndim is None:  # read by nothing here
                return tensor
            if tensor.dtype not in FLOAT_DTYPES:
                raise LayoutError(f"{source}: tensor {key!r} is {tensor.dtype}; weights must be floats "
                                  f"({', '.join(FLOAT_DTYPES)})")
            if len(tensor.shape) != ndim or (shape is not None and tuple(tensor.shape) != shape):
                wanted = list(shape) if shape is not None else f"{ndim} dimensions"
                raise LayoutError(f"{source}: tensor {key!r} has shape {list(tensor.shape)}, but {spec['module']} "
                                  f"module {index} needs {wanted}")
            if 0 in tensor.shape:
                raise LayoutError(f"{source}: tensor {key!r} is empty (shape {list(tensor.shape)})")
            return tensor

        layers.append(FROM_TORCH[spec["module"]][1](spec, take, where))
    unused = [key for key in state if key not in used]
    if unused:
        raise LayoutError(f"{source}: tensor {unused[0]!r} belongs to no module of the architecture "
                          f"({len(modules)} modules, indices 0-{len(modules) - 1})")
    return layers


# the Transformer's layers add themselves to TO_TORCH and FROM_TORCH (imported last: it uses this module)
from app import torch_transformer  # noqa: E402,F401
