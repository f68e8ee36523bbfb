"""Layers from plain dicts: the entries of a config's model.layers, each named by its "type".

    [{"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": 1, "activation": "relu"},
     {"type": "maxpool2d", "kernel_size": 2},
     {"type": "dense", "units": 64, "activation": "relu"}]

build_layers walks the entries with the per-sample shape, starting from the input's ((C, H, W)
for images, (C, L) for sequences, (features,) for a plain row), so that every layer gets its
geometry from the one before it, as Network does; a layer that does not fit raises one
ValueError line naming the entry, the layer, its input shape and what fits:

    model.layers[3] (maxpool2d): MaxPool2D(3x3): its 3x3 window does not fit its input of shape (32, 2, 2); ...

The channels of a convolution are not written: they are the input's. A convolution or a dense
entry may add BatchNorm (then the layer has no bias: the norm's shift replaces it), an
activation ("linear": none), and for dense, dropout and L1/L2 penalties, as model.hidden_layers does.
The options and their defaults are app/config.py's to check; this module only builds.
"""

import math

from activations import get_activation
from batchnorm2d import BatchNorm2D
from conv import Conv1D, Conv2D
from layers import BatchNorm, Dense, Dropout, flat_size
from pooling import AvgPool1D, AvgPool2D, Flatten, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D, MaxPool2D


def _activation(entry):
    name = entry.get("activation", "relu")
    return [] if name in ("linear", "pass") else [get_activation(name)]


class _NeedsImage(ValueError):
    """An image (or sequence) layer given a flat row; build_layers words the message."""

    def __init__(self, kind, rank, shape):
        super().__init__(kind, rank, shape)
        self.kind, self.rank, self.shape = kind, rank, shape


def _needs(shape, rank, kind):
    """ValueError unless the input is an image (rank 3) or a sequence (rank 2)."""
    if len(shape) == 1:
        raise _NeedsImage(kind, rank, shape)
    if len(shape) != rank:
        wanted = "images of shape (C, H, W)" if rank == 3 else "sequences of shape (C, L)"
        raise ValueError(f"{kind} takes {wanted}, but its input has shape {shape}")


def _needs_image_message(error, at_input, width_known):
    """The one line for an image layer that got a flat row: at the input, how to set data.image_shape."""
    wanted = "images of shape (C, H, W)" if error.rank == 3 else "sequences of shape (C, L)"
    size = error.shape[0]
    if not at_input:
        return f"{error.kind} takes {wanted}, but its input is a flat row of {size} values"
    if error.rank == 2:
        example = f"[C, L] (one channel: [1, {size}])" if width_known else "[C, L]"
    else:
        side = math.isqrt(size)
        example = "[C, H, W]" + (f" (one channel of {side}x{side} pixels: [1, {side}, {side}])"
                                 if width_known and side * side == size else "")
    row = f"a flat row of {size} values" if width_known else "a flat row of features"
    return (f"{error.kind} takes {wanted}, but its input is {row}; to read the feature columns as "
            f"{'an image' if error.rank == 3 else 'a sequence'}, set data.image_shape to {example}")


def _convolution(cls, rank):
    def build(entry, shape, init, rng):
        _needs(shape, rank, cls.kind)
        batch_norm = entry.get("batch_norm", False)
        conv = cls(shape[0], entry["filters"], entry["kernel_size"], entry.get("stride", 1), entry.get("padding", 0),
                   input_shape=shape, init=init, bias=not batch_norm, rng=rng)
        norm = [BatchNorm2D(entry["filters"])] if batch_norm and rank == 3 else []
        if batch_norm and rank == 2:
            raise ValueError("batch_norm is for conv2d (BatchNorm2D); a conv1d entry cannot take it")
        return [conv] + norm + _activation(entry)
    return build


def _pool(cls, rank):
    def build(entry, shape, init, rng):
        _needs(shape, rank, cls.kind)
        return [cls(entry["kernel_size"], entry.get("stride"), input_shape=shape)]
    return build


def _global_pool(cls, rank):
    def build(entry, shape, init, rng):
        _needs(shape, rank, cls.kind)
        return [cls(input_shape=shape)]
    return build


def _dense(entry, shape, init, rng):
    units, batch_norm, dropout = entry["units"], entry.get("batch_norm", False), entry.get("dropout", 0)
    layers = [Dense(flat_size(shape), units, init=init, rng=rng, bias=not batch_norm,
                    l1=entry.get("l1", 0.0), l2=entry.get("l2", 0.0))]
    if batch_norm:
        layers.append(BatchNorm(units))
    layers += _activation(entry)
    if dropout:
        layers.append(Dropout(dropout, rng=rng))
    return layers


def _batchnorm2d(entry, shape, init, rng):
    _needs(shape, 3, "BatchNorm2D")
    return [BatchNorm2D(shape[0], input_shape=shape)]


# config "type" -> function(entry, input shape, init, rng) -> the layers it stands for
BUILDERS = {
    "conv2d": _convolution(Conv2D, 3), "conv1d": _convolution(Conv1D, 2),
    "maxpool2d": _pool(MaxPool2D, 3), "avgpool2d": _pool(AvgPool2D, 3),
    "maxpool1d": _pool(MaxPool1D, 2), "avgpool1d": _pool(AvgPool1D, 2),
    "globalavgpool2d": _global_pool(GlobalAvgPool2D, 3), "globalavgpool1d": _global_pool(GlobalAvgPool1D, 2),
    "batchnorm2d": _batchnorm2d,
    "flatten": lambda entry, shape, init, rng: [Flatten()],
    "dense": _dense,
    "dropout": lambda entry, shape, init, rng: [Dropout(entry["p"], rng=rng)],
}


def build_layers(entries, input_shape, init="he", rng=None, where="model.layers"):
    """The layers the entries describe, from an input of per-sample shape input_shape; returns
    (layers, output shape). Raises ValueError naming the entry when a layer does not fit.
    input_shape None: a row of features of a width not known yet (a config checked before its
    data is read); a stand-in width of 1 is used, and no message quotes it."""
    width_known = input_shape is not None
    layers, shape = [], tuple(input_shape) if width_known else (1,)
    for index, entry in enumerate(entries):
        kind = entry.get("type")
        try:
            built = BUILDERS[kind](entry, shape, init, rng)
            for layer in built:
                shape = layer.build(shape)
        except _NeedsImage as error:
            message = _needs_image_message(error, not layers, width_known or bool(layers))
            raise ValueError(f"{where}[{index}] ({kind}): {message}") from None
        except ValueError as error:
            raise ValueError(f"{where}[{index}] ({kind}): {error}") from None
        layers += built
    return layers, shape
