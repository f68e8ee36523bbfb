"""Convolutional square detectors for demos/square_detector.py (--model cnn, --model conv1d).

Two networks that read shapes left wherever they were drawn (no centring):

  cnn      Conv2D over the (1, size, size) image, row by row (a row of size*size pixels,
           as the framework's images always travel):
               Conv2D(1->8, 3x3, pad 1) ReLU  MaxPool2D(2)
               Conv2D(8->16, 3x3, pad 1) ReLU MaxPool2D(2)
               Conv2D(16->16, 3x3, pad 1) ReLU
               GlobalAvgPool2D -> Dense(16->16) ReLU -> Dense(16->2) -> Softmax
           Every weight is shared across positions, so a shape moved anywhere gives the
           same features moved with it, and the global average forgets where they were:
           no centring is needed. Nothing in it depends on the image side, so the same
           weights read 8x8 and 32x32 images directly (with_image_size).
  conv1d   Conv1D over the Hilbert-ordered vector (1, size*size):
               Conv1D(1->8, k 4, stride 4) ReLU, Conv1D(8->16, k 4, stride 4) ReLU,
               Conv1D(16->16, k 4, stride 4) ReLU, GlobalAvgPool1D -> Dense(16->16) ReLU
               -> Dense(16->2) -> Softmax.
           Four consecutive curve positions, starting at a multiple of 4, are one 2x2 block
           of pixels (16 are a 4x4 block, ...), so each stride-4 kernel reads one block: a
           quadtree. But the curve visits the blocks in different orientations in different
           places, and moving a shape by one pixel is not moving it along the curve, so the
           kernel sees a moved shape through different weights.

Both are saved and loaded by Network like the dense model; the metadata's "architecture"
and "flattening" say how --predict and --draw prepare an image
(square_detector.image_to_vector, never centred: cnn row_major, conv1d hilbert).
"""

from activations import ReLU, Softmax
from conv import Conv1D, Conv2D
from demos.square_shapes import POSITIVE_KINDS, _NEGATIVE_WEIGHTS, generate_image, label_of
from layers import Dense
from network import Network
from pooling import GlobalAvgPool1D, GlobalAvgPool2D, MaxPool2D

ARCHITECTURES = ("cnn", "conv1d")
HELD_OUT_KIND = "triangle"  # the shape family the convolutional runs never train on


def build_cnn(image_size, seed_rng, metadata, channels=(8, 16, 16), hidden=16):
    """The fully convolutional network above, for (1, image_size, image_size) images."""
    c1, c2, c3 = channels
    layers = [Conv2D(1, c1, 3, padding=1, input_shape=(1, image_size, image_size), rng=seed_rng), ReLU(),
              MaxPool2D(2), Conv2D(c1, c2, 3, padding=1, rng=seed_rng), ReLU(), MaxPool2D(2),
              Conv2D(c2, c3, 3, padding=1, rng=seed_rng), ReLU(), GlobalAvgPool2D(),
              Dense(c3, hidden, init="he", rng=seed_rng), ReLU(),
              Dense(hidden, 2, init="xavier", rng=seed_rng), Softmax()]
    return Network(layers, dict(metadata, architecture="cnn", flattening="row_major", centered=False))


def build_conv1d(image_size, seed_rng, metadata, channels=(8, 16, 16), hidden=16):
    """The Conv1D quadtree over the Hilbert-ordered (1, image_size**2) vector."""
    c1, c2, c3 = channels
    layers = [Conv1D(1, c1, 4, stride=4, input_shape=(1, image_size * image_size), rng=seed_rng), ReLU(),
              Conv1D(c1, c2, 4, stride=4, rng=seed_rng), ReLU(),
              Conv1D(c2, c3, 4, stride=4, rng=seed_rng), ReLU(), GlobalAvgPool1D(),
              Dense(c3, hidden, init="he", rng=seed_rng), ReLU(),
              Dense(hidden, 2, init="xavier", rng=seed_rng), Softmax()]
    return Network(layers, dict(metadata, architecture="conv1d", flattening="hilbert", centered=False))


def architecture_of(model):
    """'dense', 'cnn' or 'conv1d', from a square-detector model's metadata."""
    return model.metadata.get("architecture", "dense")


def with_image_size(model, image_size):
    """The same weights in a network built for image_size x image_size inputs (cnn only).

    The CNN has no layer whose weights depend on the image side (the convolutions slide,
    the global average takes any number of pixels), so this is the model itself, reading
    a bigger or smaller picture without resizing it."""
    if architecture_of(model) != "cnn":
        raise ValueError("only the cnn reads other image sizes natively")
    data = model.to_dict()
    data["layers"][0]["config"]["input_shape"] = [1, image_size, image_size]
    data["metadata"] = dict(data["metadata"], image_size=image_size)
    return Network.from_dict(data)


def kinds_dataset(n, size, rng, exclude=()):
    """n balanced images of the generator's kinds, as generate_dataset draws them, except
    that kinds in `exclude` never appear. Returns (images, labels, kinds)."""
    negatives = [kind for kind in _NEGATIVE_WEIGHTS if kind not in exclude]
    weights = [_NEGATIVE_WEIGHTS[kind] for kind in negatives]
    positives = [kind for kind in POSITIVE_KINDS if kind not in exclude]
    labels = [1] * (n // 2) + [0] * (n - n // 2)
    rng.shuffle(labels)
    kinds = [rng.choice(positives) if label else rng.choices(negatives, weights)[0] for label in labels]
    return [generate_image(kind, size, rng) for kind in kinds], labels, kinds


def family_sets_one(kind, count, size, rng):
    """(images, labels): count fresh images of one kind."""
    label_of(kind)
    return [generate_image(kind, size, rng) for _ in range(count)], [label_of(kind)] * count
