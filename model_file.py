"""The model file: which layer types a saved model may name, and each layer to and from JSON.

    LAYER_TYPES        type name -> class: loading looks names up here and nowhere else,
                       so a model file can never make the program run anything else
    register_layer     add a custom layer class (an AutogradLayer, say) to that table
    layer_to_dict      a layer as plain JSON-ready data: type, options, weights, buffers
    layer_from_dict    the reverse, checking every field; ModelFileError names the field

Network.save / load / to_dict / from_dict (network.py) use these for the whole model.
"""

from activations import ACTIVATIONS
from attention import MultiHeadSelfAttention
from batchnorm2d import BatchNorm2D
from conv import Conv1D, Conv2D
from layers import BatchNorm, Dense, Dropout, Layer
from matrix import Matrix
from normalization import LayerNorm, RMSNorm
from pooling import AvgPool1D, AvgPool2D, Flatten, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D, MaxPool2D
from recurrent import GRU, LSTM, RNN
from sequence import Embedding, PositionwiseDense
from transformer import PositionEmbedding, Residual
from utils import InputError

FORMAT_NAME = "pure-python-neural-network"
FORMAT_VERSION = 1


class ModelFileError(InputError):
    """A saved model that cannot be read; the message names the file and the field."""


# Layer type name in a saved model -> class. Loading looks names up here and
# nowhere else, so a model file can never make us run anything else.
LAYER_TYPES = {cls.__name__: cls for cls in (
    Dense, Dropout, BatchNorm, Conv2D, Conv1D, BatchNorm2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D,
    MaxPool1D, AvgPool1D, GlobalAvgPool1D, Flatten)}
LAYER_TYPES.update({cls.__name__: cls for cls in (Embedding, PositionwiseDense, RNN, LSTM, GRU)})
LAYER_TYPES.update({cls.__name__: cls for cls in ACTIVATIONS.values()})
LAYER_TYPES.update({cls.__name__: cls for cls in (LayerNorm, RMSNorm, MultiHeadSelfAttention, PositionEmbedding,
                                                  Residual)})


def register_layer(cls):
    """Make a custom layer class loadable: a saved model names it by class name. A class with a
    config `name` (an activation-like layer, such as an AutogradLayer Swish with name = "swish")
    is also registered as an activation, so a config's "activation" can name it. Returns cls,
    so that it can decorate the class."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer needs a subclass of layers.Layer, got {cls!r:.60}")
    kind = cls.__name__
    if LAYER_TYPES.get(kind, cls) is not cls:
        raise ValueError(f"a different layer class is already registered as {kind!r}")
    if cls.name is not None:
        if ACTIVATIONS.get(cls.name, cls) is not cls:
            raise ValueError(f"activation name {cls.name!r} is already taken by {ACTIVATIONS[cls.name].__name__}")
        ACTIVATIONS[cls.name] = cls
    LAYER_TYPES[kind] = cls
    return cls


def layer_to_dict(layer):
    """A layer's entry in a saved model: its type, options and weights; a container (Residual)
    holds its layers' entries under "layers" instead of weights."""
    entry = {"type": type(layer).__name__, "config": layer.get_config()}
    inner = layer.sublayers()
    if inner:
        entry["layers"] = [layer_to_dict(sublayer) for sublayer in inner]
        return entry
    params = layer.parameters()
    if params:
        entry["parameters"] = {p.name: p.value.tolist() for p in params}
    buffers = layer.buffers()
    if buffers:
        entry["buffers"] = {name: matrix.tolist() for name, matrix in buffers.items()}
    return entry


# The parameter whose shape a layer's config declares, and that shape.
_DECLARED_SHAPES = {
    "Dense": lambda config: ("weight", (config.get("in_features"), config.get("out_features"))),
    "BatchNorm": lambda config: ("gamma", (1, config.get("features"))),
    "Embedding": lambda config: ("weight", (config.get("num_embeddings"), config.get("embedding_dim"))),
    "PositionwiseDense": lambda config: ("weight", (config.get("in_features"), config.get("out_features"))),
    "BatchNorm2D": lambda config: ("weight", (1, config.get("channels"))),
    "Conv2D": lambda config: ("weight", (_conv_rows(config, 2), config.get("out_channels"))),
    "Conv1D": lambda config: ("weight", (_conv_rows(config, 1), config.get("out_channels"))),
}
for _cls in (RNN, LSTM, GRU):
    _DECLARED_SHAPES[_cls.__name__] = lambda config, gates=_cls.gates: (
        "weight_ih", (config.get("input_size"), _times(gates, config.get("hidden_size"))))


def _times(gates, size):
    """gates * size for a valid size; anything else as it is, for the layer's constructor to name."""
    return gates * size if isinstance(size, int) and not isinstance(size, bool) else size


def _conv_rows(config, dimensions):
    """in_channels * kH * kW, the rows of a saved Conv2D's (or Conv1D's) weight; None when the config
    is malformed (the layer's constructor then names the problem)."""
    channels, kernel = config.get("in_channels"), config.get("kernel_size")
    sizes = list(kernel) if isinstance(kernel, list) and len(kernel) == dimensions == 2 else [kernel] * dimensions
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in [channels] + sizes):
        return None
    rows = channels
    for size in sizes:
        rows *= size
    return rows


def _check_declared_shape(kind, config, saved, where):
    """The sizes in a layer's config must match its saved weights, checked before the layer is
    built: a damaged file declaring in_features 10**9 must not make us allocate 10**9 zeros first."""
    if kind not in _DECLARED_SHAPES:
        return
    name, shape = _DECLARED_SHAPES[kind](config)
    if not all(isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in shape):
        return  # the layer's constructor names the bad size
    if name not in saved:
        raise ModelFileError(f"{where}.parameters: missing {name!r}")
    try:
        found = Matrix(saved[name]).shape
    except ValueError as error:
        raise ModelFileError(f"{where}.parameters.{name}: {error}") from None
    if found != shape:
        raise ModelFileError(f"{where}.parameters.{name}: shape {found} does not match the layer's {shape}")


def layer_from_dict(entry, where):
    if not isinstance(entry, dict):
        raise ModelFileError(f"{where}: must be an object")
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in LAYER_TYPES:  # a list or dict here is unhashable
        raise ModelFileError(f"{where}: unknown layer type {kind!r}; valid: {', '.join(sorted(LAYER_TYPES))} "
                             "(a custom layer must be registered first: network.register_layer)")
    config = entry.get("config", {})
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}.config: must be an object")
    if "rng" in config:  # a layer's random generator comes from the program, never from a file
        raise ModelFileError(f"{where}.config: unexpected key 'rng'")
    saved = entry.get("parameters", {})
    if not isinstance(saved, dict):
        raise ModelFileError(f"{where}.parameters: must be an object")
    _check_declared_shape(kind, config, saved, where)
    if "layers" in entry:  # a container: its layers first, each loaded with its own weights
        inner = entry["layers"]
        if not isinstance(inner, list) or not inner:
            raise ModelFileError(f"{where}.layers: must be a non-empty list")
        if saved or entry.get("buffers"):
            raise ModelFileError(f"{where}: a container keeps its weights in its layers' entries, not its own")
        config = dict(config, layers=[layer_from_dict(sub, f"{where}.layers[{i}]") for i, sub in enumerate(inner)])
    try:
        layer = LAYER_TYPES[kind].from_config(config)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{where}.config: {error}") from None
    if "layers" in entry:
        return layer
    for param in layer.parameters():
        if param.name not in saved:
            raise ModelFileError(f"{where}.parameters: missing {param.name!r}")
        try:
            value = Matrix(saved[param.name])
        except ValueError as error:
            raise ModelFileError(f"{where}.parameters.{param.name}: {error}") from None
        if value.shape != param.value.shape:
            raise ModelFileError(
                f"{where}.parameters.{param.name}: shape {value.shape} does not match the layer's {param.value.shape}"
            )
        param.value = value
        param.zero_grad()
    extra = set(saved) - {p.name for p in layer.parameters()}
    if extra:
        raise ModelFileError(f"{where}.parameters: unexpected {', '.join(sorted(extra))}")
    saved_buffers = entry.get("buffers", {})
    for name, current in layer.buffers().items():
        try:
            value = Matrix(saved_buffers[name])
        except (KeyError, TypeError):
            raise ModelFileError(f"{where}.buffers: missing {name!r}") from None
        except ValueError as error:
            raise ModelFileError(f"{where}.buffers.{name}: {error}") from None
        if value.shape != current.shape:
            raise ModelFileError(f"{where}.buffers.{name}: shape {value.shape} does not match the layer's "
                                 f"{current.shape}")
        layer.set_buffer(name, value)
    return layer
