"""Convolutional square detectors for demos/square_detector.py (--model cnn, --model conv1d).

Two networks that read shapes left wherever they were drawn (no centring):

  cnn      Conv2D over the (1, size, size) image, row by row (a row of size*size pixels,
           as the framework's images always travel):
               Conv2D(1->16, 3x3, pad 1) ReLU  MaxPool2D(2)
               Conv2D(16->32, 3x3, pad 1) ReLU MaxPool2D(2)
               Conv2D(32->32, 3x3, pad 1) ReLU
               GlobalAvgPool2D -> Dense(32->32) ReLU -> Dense(32->2) -> Softmax
           Every weight is shared across positions, so a shape moved anywhere gives the
           same features moved with it, and the global average forgets where they were:
           no centring is needed. Nothing in it depends on the image side, so the same
           weights read 8x8 and 32x32 images directly (with_image_size).
  conv1d   Conv1D over the Hilbert-ordered vector (1, size*size), as wide:
               Conv1D(1->16, k 4, stride 4) ReLU, Conv1D(16->32, k 4, stride 4) ReLU,
               Conv1D(32->32, k 4, stride 4) ReLU, GlobalAvgPool1D -> Dense(32->32) ReLU
               -> Dense(32->2) -> Softmax.
           Four consecutive curve positions, starting at a multiple of 4, are one 2x2 block
           of pixels (16 are a 4x4 block, ...), so each stride-4 kernel reads one block: a
           quadtree. But the curve visits the blocks in different orientations in different
           places, and moving a shape by one pixel is not moving it along the curve, so the
           kernel sees a moved shape through different weights.

Training (train): every epoch draws new images (training_images), a quarter of them at
half the model's side, half at its side and a quarter at double it, each brought to the
model's side by the demo's resizing (2x2 block averages, or each pixel repeated as a 2x2
block), so that the model has seen what a resized 8x8 or 32x32 picture looks like. The
cnn also trains, through the same weights (reading_at), on pictures drawn at double and
half its side read as they are (native_sizes: a sixth as many at 32x32, a third at 8x8,
for a 16x16 model), so that it can read them without resizing. No image of the held-out
family (HELD_OUT_KIND) is ever drawn for training or validation. Adam's learning rate
falls along a cosine to 0 over the epochs.

Both are saved and loaded by Network like the dense model; the metadata's "architecture"
and "flattening" say how --predict and --draw prepare an image
(square_detector.image_to_vector, never centred: cnn row_major, conv1d hilbert).
"""

import time
from contextlib import contextmanager

from activations import ReLU, Softmax
from app.progress import format_epoch
from conv import Conv1D, Conv2D
from demos.square_options import MODEL_SIZES
from demos.square_shapes import POSITIVE_KINDS, _NEGATIVE_WEIGHTS, generate_image, label_of
from layers import Dense
from losses import CrossEntropy
from network import Network
from optimizers import Adam
from pooling import GlobalAvgPool1D, GlobalAvgPool2D, MaxPool2D
from schedulers import CosineAnnealingLR

ARCHITECTURES = ("cnn", "conv1d")
HELD_OUT_KIND = "triangle"  # the shape family the convolutional runs never train on
CHANNELS, HIDDEN = (16, 32, 32), 32  # (8, 16, 16) and 16 reached only 0.87 on the same budget
# the sides training images are drawn at, as multiples of the model's, and how often
SOURCE_SCALES = ((0.5, 1), (1, 2), (2, 1))
# the cnn also reads pictures of these sides as they are, this share of the epoch's images each:
# without them it never sees a shape larger than its last layer's 18x18 view (32x32 read natively: 0.715)
NATIVE_SCALES = ((2, 1 / 6), (0.5, 1 / 3))
PARTS = 4  # slices an epoch alternates between the sides in


def build_cnn(image_size, seed_rng, metadata, channels=CHANNELS, hidden=HIDDEN):
    """The fully convolutional network above, for (1, image_size, image_size) images."""
    c1, c2, c3 = channels
    layers = [Conv2D(1, c1, 3, padding=1, input_shape=(1, image_size, image_size), rng=seed_rng), ReLU(),
              MaxPool2D(2), Conv2D(c1, c2, 3, padding=1, rng=seed_rng), ReLU(), MaxPool2D(2),
              Conv2D(c2, c3, 3, padding=1, rng=seed_rng), ReLU(), GlobalAvgPool2D(),
              Dense(c3, hidden, init="he", rng=seed_rng), ReLU(),
              Dense(hidden, 2, init="xavier", rng=seed_rng), Softmax()]
    return Network(layers, dict(metadata, architecture="cnn", flattening="row_major", centered=False))


def build_conv1d(image_size, seed_rng, metadata, channels=CHANNELS, hidden=HIDDEN):
    """The Conv1D quadtree over the Hilbert-ordered (1, image_size**2) vector."""
    c1, c2, c3 = channels
    layers = [Conv1D(1, c1, 4, stride=4, input_shape=(1, image_size * image_size), rng=seed_rng), ReLU(),
              Conv1D(c1, c2, 4, stride=4, rng=seed_rng), ReLU(),
              Conv1D(c2, c3, 4, stride=4, rng=seed_rng), ReLU(), GlobalAvgPool1D(),
              Dense(c3, hidden, init="he", rng=seed_rng), ReLU(),
              Dense(hidden, 2, init="xavier", rng=seed_rng), Softmax()]
    return Network(layers, dict(metadata, architecture="conv1d", flattening="hilbert", centered=False))


def build(architecture, image_size, seed_rng, metadata):
    """build_cnn or build_conv1d, by name."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
    maker = build_cnn if architecture == "cnn" else build_conv1d
    return maker(image_size, seed_rng, metadata)


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


def source_sizes(size):
    """[(side, weight)]: the sides training images for a size x size model are drawn at
    (SOURCE_SCALES, where the generator can draw them and the curve read them)."""
    sides = [(int(size * scale), weight) for scale, weight in SOURCE_SCALES]
    return [(side, weight) for side, weight in sides if side in MODEL_SIZES]


def training_images(n, size, rng, exclude=()):
    """n balanced images for a size x size model, each drawn at one of source_sizes(size)
    (so they come in several sides: the caller brings them to the model's), of every kind
    but those in `exclude`. Returns (images, labels)."""
    sides, weights = zip(*source_sizes(size))
    negatives = [kind for kind in _NEGATIVE_WEIGHTS if kind not in exclude]
    negative_weights = [_NEGATIVE_WEIGHTS[kind] for kind in negatives]
    positives = [kind for kind in POSITIVE_KINDS if kind not in exclude]
    labels = [1] * (n // 2) + [0] * (n - n // 2)
    rng.shuffle(labels)
    images = []
    for label in labels:
        kind = rng.choice(positives) if label else rng.choices(negatives, negative_weights)[0]
        images.append(generate_image(kind, rng.choices(sides, weights)[0], rng))
    return images, labels


def native_sizes(size):
    """[(side, share)]: besides the resized images, the cnn trains on images drawn at these
    sides and read as they are, `share` times as many as at the model's size per epoch
    (NATIVE_SCALES, where the generator can draw them and two poolings leave a 2x2 map)."""
    sides = [(int(size * scale), share) for scale, share in NATIVE_SCALES]
    return [(side, share) for side, share in sides if side in MODEL_SIZES]


@contextmanager
def reading_at(network, side):
    """The network itself, its layers rebuilt for side x side pictures (the same Parameters, so
    training through it trains the network); rebuilt back afterwards. side None: unchanged."""
    if side is None:
        yield network
        return
    first = network.layers[0]
    own_shape = first.input_shape
    first.build((1, side, side))
    try:
        yield Network(network.layers, network.metadata)
    finally:
        first.build(own_shape)
        Network(network.layers)


def train(network, draw, n_train, epochs, batch_size, lr, data_rng, shuffle_rng, validation=None,
          native=(), verbose=True):
    """Fit with Adam and cross-entropy on fresh images every epoch; returns (history, seconds, cpu_seconds).

    draw(n, rng, side=None) -> (X, Y): n new training rows and their one-hot labels, prepared
    as the network reads them (side None), or drawn at `side` and read natively (row by row).
    native: [(side, n)], n images of each such side per epoch besides the n_train at the
    model's: the epoch alternates between the sides in PARTS slices, so that no side's
    batches all come at its end. Epoch e (from 0) runs at lr * (1 + cos(pi * e / epochs)) / 2
    (CosineAnnealingLR): large steps while the network is far off, small ones at the end.
    validation: (X, Y) at the model's side, scored after each epoch, or None. seconds is the
    time on the clock, cpu_seconds the processor time of this process.
    """
    optimizer = Adam(network.parameters(), lr=lr)
    schedule = CosineAnnealingLR(optimizer, t_max=epochs)
    loss = CrossEntropy()
    history = {"loss": [], "accuracy": []}
    if validation is not None:
        history.update(val_loss=[], val_accuracy=[])
    history["lr"] = []
    parts = PARTS if native else 1
    started, cpu_started = time.perf_counter(), time.process_time()
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        sets = [(None, draw(n_train, data_rng))] + [(side, draw(n, data_rng, side)) for side, n in native]
        total_loss = correct = count = 0.0
        for part in range(parts):
            for side, (X, Y) in sets:
                rows = list(range(len(X) * part // parts, len(X) * (part + 1) // parts))
                if not rows:  # fewer images of this side than parts
                    continue
                with reading_at(network, side) as reader:
                    result = reader.fit(X.take(rows), Y.take(rows), loss, optimizer, epochs=1,
                                        batch_size=batch_size, shuffle=True, rng=shuffle_rng)
                total_loss += result["loss"][0] * len(rows)
                correct += result["accuracy"][0] * len(rows)
                count += len(rows)
        history["loss"].append(total_loss / count)
        history["accuracy"].append(correct / count)
        if validation is not None:
            scores = network.evaluate(*validation, loss)
            history["val_loss"].append(scores["loss"])
            history["val_accuracy"].append(scores["accuracy"])
        history["lr"].append(optimizer.lr)
        if verbose:
            print(format_epoch(epoch, epochs, history, time.perf_counter() - epoch_started), flush=True)
        schedule.step()
    return history, time.perf_counter() - started, time.process_time() - cpu_started
