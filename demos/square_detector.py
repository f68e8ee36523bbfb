"""Square or not? A dense network that reads shape images along a Hilbert curve.

    python demos/square_detector.py                   train, test, save the model, show examples
    python demos/square_detector.py --predict FILE..  classify '#'/'.' image files with the saved model
    python demos/square_detector.py --draw            draw a shape with the mouse and see the verdict
    python demos/square_detector.py --size 32         the classic 1024 -> 32 -> 2 configuration

The images come from demos/square_shapes.py: squares (filled, outlined, drawn
by an unsteady hand) against hard negatives (rectangles whose sides differ by
at least 2, discs, triangles, lines, empty and speckled images). Each image

  1. is centred: the box around its pixels is moved to the middle, so that the
     network need not learn every square at every position (MNIST centres its
     digits for the same reason; --no-center shows the difference);
  2. is read along a Hilbert curve (utils.hilbert_flatten), so that each 2x2
     block of pixels is 4 consecutive values; and
  3. is brought to the model's resolution by utils.hilbert_resample, which on
     a curve-ordered vector is 2x2 block averaging (or pixel repetition going
     up). A model trained on 16x16 images so reads 8x8 and 32x32 ones as well.

The network is the framework's own, Dense -> LeakyReLU -> Dense -> Softmax,
trained with CrossEntropy and Adam by Network.fit and saved by Network.save;
the model's metadata records the image size, the flattening and the centring,
so that --predict and --draw prepare their images exactly as training did.
docs/square_detector.md has a full run, and what the Hilbert order changes
(and what it does not).
"""

import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from activations import LeakyReLU, Softmax  # noqa: E402
from app.progress import Progress  # noqa: E402  (needs the repo root on sys.path)
from layers import Dense  # noqa: E402
from losses import CrossEntropy, predicted_classes  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import ModelFileError, Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from datasets import one_hot  # noqa: E402
from demos.hilbert import hilbert_flatten, hilbert_resample, hilbert_unflatten  # noqa: E402
from metrics import confusion_matrix, format_confusion_matrix  # noqa: E402
from utils import InputError, check_writable, make_rng  # noqa: E402
from demos import square_cnn  # noqa: E402
from demos.square_options import (CNN_EPOCHS, DEFAULT_MODEL, DRAW_GRID, MODEL_SIZES,  # noqa: E402,F401
                                  CommandLineError, make_parser, parse_arguments)
from demos.square_drawing import open_window  # noqa: E402  (tkinter only when drawing)
from demos.square_shapes import (KINDS, blur_image, center_image, generate_dataset,  # noqa: E402
                                 read_image_file, render, shift_image)

CLASS_NAMES = ("not square", "square")  # class 1 is "square", as in square_shapes' labels
FLATTENINGS = ("hilbert", "row_major")
VALIDATION_IMAGES = 200  # scored after each epoch; the test sets are separate


# ------------------------------------------------------------ images -> inputs
def image_to_vector(image, size, flattening="hilbert", center=True):
    """One square image of any power-of-two side -> the size*size input vector of a model.

    hilbert:    flatten along the curve, hilbert_resample to size*size
    row_major:  the same resizing (2x2 block averages), then read row by row
    With center=True the shape is first moved to the middle (center_image).
    """
    if center:
        image = center_image(image)
    vector = hilbert_resample(hilbert_flatten(image), size * size)
    if flattening == "hilbert":
        return vector
    if flattening == "row_major":
        return [value for row in hilbert_unflatten(vector) for value in row]
    raise ValueError(f"unknown flattening {flattening!r}; valid: {', '.join(FLATTENINGS)}")


def naive_row_major_vector(image, size, center=True):
    """The row-by-row vector resized as if it were curve-ordered: hilbert_resample on it.

    Wrong on purpose, to show what the curve buys: 4 consecutive values of a
    row-major vector are 4 pixels of one row, not a 2x2 block, so averaging them
    (or repeating each 4 times, going up) squeezes (or stretches) every row
    sideways, and the rows of the result no longer line up with the image's.
    """
    if center:
        image = center_image(image)
    return hilbert_resample([value for row in image for value in row], size * size)


def augmented_images(images, shift_fraction, blur_fraction, rng, center=True):
    """The training images as the network sees them: centred, then some moved and some blurred.

    A share `shift_fraction` is moved by up to one pixel each way (never pushing
    a pixel out), and a share `blur_fraction` softly blurred (strength 0.2 to 0.5).
    Both stand for what happens to an image read at another resolution: centring
    an 8x8 or 32x32 shape and resizing it can leave it a pixel off the place a
    16x16 one would take, and averaging a 32x32 image down gives grey edges.
    A dense layer knows each input position separately, so without the shifts
    it only ever sees a 14x14 square at one place. The blur never moves a pixel
    across 0.5, so render() and centring still see the same shape.
    """
    result = []
    for image in images:
        if center:
            image = center_image(image)
        if rng.random() < shift_fraction:
            image = shift_image(image, *_one_pixel_shift(image, rng))
        if rng.random() < blur_fraction:
            image = blur_image(image, rng.uniform(0.2, 0.5))
        result.append(image)
    return result


def _one_pixel_shift(image, rng):
    """A random (dx, dy), each -1, 0 or 1, that keeps every on-pixel inside the image."""
    on = [(x, y) for y, row in enumerate(image) for x, value in enumerate(row) if value >= 0.5]
    if not on:
        return 0, 0
    last = len(image) - 1
    xs, ys = [x for x, _ in on], [y for _, y in on]
    dx = rng.randint(-1 if min(xs) > 0 else 0, 1 if max(xs) < last else 0)
    dy = rng.randint(-1 if min(ys) > 0 else 0, 1 if max(ys) < last else 0)
    return dx, dy


def data_rng(seed, part):
    """The random stream for one part of a run (training images, test images at 32x32, ...).

    All come from the one seed, and each part has its own stream, so changing
    how many training images there are leaves the test images as they were.
    """
    return make_rng(f"square-detector:{seed}:{part}")


# ----------------------------------------------------------------- the model
def build_network(image_size, hidden, seed, flattening="hilbert", center=True):
    """size*size inputs -> Dense(hidden) -> LeakyReLU -> Dense(2) -> Softmax, initialized from the seed."""
    rng = data_rng(seed, "init")
    metadata = {"demo": "square_detector", "image_size": image_size, "flattening": flattening,
                "centered": center, "class_names": list(CLASS_NAMES), "seed": seed}
    n_inputs = image_size * image_size
    return Network([Dense(n_inputs, hidden, init="he", rng=rng), LeakyReLU(),
                    Dense(hidden, len(CLASS_NAMES), init="xavier", rng=rng), Softmax()], metadata)


def row_major_twin(network):
    """The same network reading the pixels row by row, each pixel keeping its first-layer weights.

    Row d of the first weight matrix multiplies input d. Moving it to the
    row-major place of the pixel that curve position d reads gives a network
    that computes the same function of the image, up to rounding: a dense layer
    does not care in which order its inputs come, as long as the order is fixed.
    """
    size, flattening, _ = model_settings(network)
    if flattening != "hilbert":
        raise ValueError(f"row_major_twin needs a network that reads along the Hilbert curve, not {flattening!r}")
    # flattening an image of row-major indices: curve position d holds the row-major index of its pixel
    row_major_index = hilbert_flatten([[y * size + x for x in range(size)] for y in range(size)])
    weight_rows = network.layers[0].weight.value.rows
    permuted = [None] * len(weight_rows)
    for d, index in enumerate(row_major_index):
        permuted[index] = list(weight_rows[d])
    twin = Network.from_dict(network.to_dict())
    twin.metadata["flattening"] = "row_major"
    twin.layers[0].weight.value = Matrix(permuted)
    return twin


def model_settings(model, source="model"):
    """(image_size, flattening, centered) from a model's metadata, checked."""
    metadata = model.metadata
    size = metadata.get("image_size")
    if metadata.get("demo") != "square_detector" or size not in MODEL_SIZES:
        raise ModelFileError(f"{source}: not a square-detector model (its metadata has no image size "
                             f"among {', '.join(map(str, MODEL_SIZES))}); train one with "
                             "python demos/square_detector.py")
    flattening = metadata.get("flattening", "hilbert")
    if flattening not in FLATTENINGS:
        raise ModelFileError(f"{source}: unknown flattening {flattening!r}; valid: {', '.join(FLATTENINGS)}")
    return size, flattening, bool(metadata.get("centered", True))


def vectors_for(model, images):
    """The model's input vectors for images of any power-of-two side, prepared as in training."""
    size, flattening, center = model_settings(model)
    return [image_to_vector(image, size, flattening, center) for image in images]


def square_probabilities(model, vectors):
    """P(square) for each input vector, from the softmax output."""
    return [row[1] for row in model.predict(Matrix(vectors)).rows]


def verdicts(probabilities):
    """The class of each image (1: square) from its P(square), by the framework's one rule,
    losses.predicted_classes: square when p > 0.5."""
    return predicted_classes(Matrix([[p] for p in probabilities]), logits=False)


def classify_image(model, image):
    """("square" or "not square", probability of that answer) for one image, as --predict and --draw say it."""
    p_square = square_probabilities(model, vectors_for(model, [image]))[0]
    return (CLASS_NAMES[1], p_square) if verdicts([p_square])[0] == 1 else (CLASS_NAMES[0], 1.0 - p_square)


def train_network(network, images, labels, epochs, batch_size, lr, seed, validation=None, verbose=True):
    """Fit the network with Adam and cross-entropy; returns (history, seconds, cpu_seconds).

    seconds is the time on the clock; cpu_seconds the processor time this
    process used, which other programs running at the same time do not inflate.

    images: the training images as augmented_images() prepared them (so already
    centred where the model centres); validation: (images, labels) scored after
    each epoch, prepared like test images, or None.
    """
    size, flattening, _ = model_settings(network)
    X = Matrix([image_to_vector(image, size, flattening, center=False) for image in images])
    Y = one_hot(labels, len(CLASS_NAMES))
    validation_data = None
    if validation is not None:
        validation_data = (Matrix(vectors_for(network, validation[0])), one_hot(validation[1], len(CLASS_NAMES)))
    optimizer = Adam(network.parameters(), lr=lr)
    started, cpu_started = time.perf_counter(), time.process_time()
    history = network.fit(X, Y, CrossEntropy(), optimizer, epochs=epochs, batch_size=batch_size,
                          shuffle=True, validation_data=validation_data, rng=data_rng(seed, "shuffle"),
                          callbacks=[Progress()] if verbose else [])
    return history, time.perf_counter() - started, time.process_time() - cpu_started


def accuracy_of(probabilities, labels):
    """Share of images whose verdict (from P(square), see verdicts) agrees with the label."""
    return sum(verdict == label for verdict, label in zip(verdicts(probabilities), labels)) / len(labels)


# ----------------------------------------------------------------- the report
def format_examples(images, captions, width=78):
    """Images drawn with '#' and '.', side by side under their caption lines."""
    column = max(max(len(line) for caption in captions for line in caption), len(images[0]))
    per_row = max(1, (width + 2) // (column + 2))
    blocks = []
    for start in range(0, len(images), per_row):
        group = list(zip(images[start:start + per_row], captions[start:start + per_row]))
        lines = []
        for line in range(max(len(caption) for _, caption in group)):
            lines.append("  ".join(f"{(caption[line] if line < len(caption) else ''):<{column}}"
                                   for _, caption in group).rstrip())
        drawings = [render(image).split("\n") for image, _ in group]
        for line in range(max(map(len, drawings))):
            lines.append("  ".join(f"{(drawing[line] if line < len(drawing) else ''):<{column}}"
                                   for drawing in drawings).rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def as_seen(model, image):
    """The image as the model read it, at its own resolution: centred when the model centres
    (so a misclassified shape is shown where the network saw it, not where it was drawn)."""
    _, _, center = model_settings(model)
    return center_image(image) if center else image


def example_lines(model, images, labels, probabilities, count):
    """Up to `count` test images with their verdicts, misclassified ones first, each drawn as
    the model saw it (as_seen)."""
    if count <= 0:
        return []
    predicted = verdicts(probabilities)
    wrong = [i for i, (verdict, label) in enumerate(zip(predicted, labels)) if verdict != label]
    wrong_set = set(wrong)
    chosen = (wrong + [i for i in range(len(labels)) if i not in wrong_set])[:count]
    captions = []
    for i in chosen:
        p = probabilities[i]
        name, confidence = (CLASS_NAMES[1], p) if predicted[i] == 1 else (CLASS_NAMES[0], 1.0 - p)
        verdict = "right" if predicted[i] == labels[i] else f"WRONG, is {CLASS_NAMES[labels[i]]}"
        captions.append([verdict, f"{name} (p={confidence:.2f})"])
    title = f"Test images, misclassified first ({len(wrong)} of {len(labels)} wrong):"
    return [title, format_examples([as_seen(model, images[i]) for i in chosen], captions)]


def other_sizes(size):
    """The resolutions a model of this size is also tested on: half and double, where they can be drawn."""
    return [s for s in (size * 2, size // 2) if s in MODEL_SIZES]


def run_demo(args):
    if args.network != "dense":
        return run_convolutional_demo(args)
    size, seed = args.size, args.seed
    check_writable(args.model)  # now, not after a minute of training
    center = not args.no_center
    print(f"Square detector: {size}x{size} images read along a Hilbert curve, seed {seed}")
    images, labels = generate_dataset(args.train, size, data_rng(seed, "train"))
    images = augmented_images(images, args.shift, args.blur, data_rng(seed, "augment"), center)
    validation = generate_dataset(VALIDATION_IMAGES, size, data_rng(seed, "validation"))
    test_sets = {s: generate_dataset(args.test, s, data_rng(seed, f"test-{s}")) for s in [size] + other_sizes(size)}
    print(f"Data: {args.train} training images ({args.shift:.0%} moved by a pixel, {args.blur:.0%} blurred), "
          f"{VALIDATION_IMAGES} for validation, {args.test} fresh test images at each size; shapes "
          f"{'centred' if center else 'left where they were drawn'}")

    network = build_network(size, args.hidden, seed, "hilbert", center)
    twin = None if args.no_compare else row_major_twin(network)  # before training: the same start
    print(network.summary())
    print(f"Training: {args.epochs} epochs, batch size {args.batch_size}, Adam lr {args.lr}, cross-entropy")
    _, seconds, cpu_seconds = train_network(network, images, labels, args.epochs, args.batch_size, args.lr,
                                            seed, validation)
    print(f"Trained in {seconds:.1f} s ({cpu_seconds:.1f} s of processor time, on one core)")

    network.save(args.model)
    model = Network.load(args.model)
    test_images, test_labels = test_sets[size]
    before = square_probabilities(network, vectors_for(network, test_images))
    probabilities = square_probabilities(model, vectors_for(model, test_images))
    same = "identical predictions" if before == probabilities else "DIFFERENT predictions"
    print(f"Saved the model to {args.model} and loaded it back: {same} on the test images")

    accuracy = accuracy_of(probabilities, test_labels)
    print()
    print(f"Test accuracy at {size}x{size} ({args.test} fresh images): {accuracy:.3f}")
    predicted = verdicts(probabilities)
    print(format_confusion_matrix(confusion_matrix(test_labels, predicted, 2), list(CLASS_NAMES)))
    print()
    print(f"The same model, not retrained, on fresh images of other sizes (hilbert_resample to {size}x{size}):")
    for other in other_sizes(size):
        other_images, other_labels = test_sets[other]
        other_accuracy = accuracy_of(square_probabilities(model, vectors_for(model, other_images)), other_labels)
        print(f"  {other}x{other}: {other_accuracy:.3f}")

    if not args.no_compare:
        print()
        compare_row_major(twin, args, images, labels, validation, test_sets, accuracy, center)

    lines = example_lines(model, test_images, test_labels, probabilities, args.show)
    if lines:
        print()
        print("\n".join(lines))
    print()
    print(f"Classify your own: python demos/square_detector.py --predict demos/examples/*.txt"
          f"{'' if args.model == DEFAULT_MODEL else ' --model ' + args.model}")


def run_convolutional_demo(args):
    """--network cnn or conv1d: train on shapes left where they were drawn, one family held out.

    The training and validation images never contain a triangle (square_cnn.HELD_OUT_KIND)
    and are drawn at several sides (square_cnn.training_images); the test set is
    generate_dataset's, triangles included, and every family is also scored on its own
    fresh images, at the model's size and at half and double it: resized to the model's
    size, and for the cnn also read natively by the same weights."""
    size, seed, kind = args.size, args.seed, args.network
    check_writable(args.model)
    held_out = square_cnn.HELD_OUT_KIND
    n_validation = VALIDATION_IMAGES // 2 if args.quick else VALIDATION_IMAGES
    print(f"Square detector: a {kind} on {size}x{size} images, shapes left where they were drawn "
          f"(no centring), seed {seed}; training never sees a {held_out}")
    sides = ", ".join(f"{side}x{side}" for side, _ in square_cnn.source_sizes(size))
    native = [(side, max(1, round(args.train * share))) for side, share in square_cnn.native_sizes(size)] \
        if kind == "cnn" else []
    also = "".join(f", and {n} drawn at {side}x{side} read as they are" for side, n in native)
    print(f"Data: {args.train} fresh training images every epoch, drawn at {sides} and brought to "
          f"{size}x{size}{also}; {n_validation} for validation; {args.test} fresh test images at each size")
    metadata = {"demo": "square_detector", "image_size": size, "class_names": list(CLASS_NAMES), "seed": seed}
    network = square_cnn.build(kind, size, data_rng(seed, "init"), metadata)

    def draw(n, rng, side=None):
        if side is None:
            images, labels = square_cnn.training_images(n, size, rng, exclude=(held_out,))
            return Matrix(vectors_for(network, images)), one_hot(labels, len(CLASS_NAMES))
        images, labels, _ = square_cnn.kinds_dataset(n, side, rng, exclude=(held_out,))
        return Matrix([[v for row in image for v in row] for image in images]), one_hot(labels, len(CLASS_NAMES))

    print(network.summary())
    print(f"Training: {args.epochs} epochs, batch size {args.batch_size}, Adam lr {args.lr} falling along a "
          "cosine to 0, cross-entropy")
    _, seconds, cpu_seconds = square_cnn.train(network, draw, args.train, args.epochs, args.batch_size, args.lr,
                                               data_rng(seed, "train"), data_rng(seed, "shuffle"),
                                               draw(n_validation, data_rng(seed, "validation")), native)
    print(f"Trained in {seconds:.1f} s ({cpu_seconds:.1f} s of processor time, on one core)")
    network.save(args.model)
    model = Network.load(args.model)
    test_images, test_labels = generate_dataset(args.test, size, data_rng(seed, f"test-{size}"))
    before = square_probabilities(network, vectors_for(network, test_images))
    probabilities = square_probabilities(model, vectors_for(model, test_images))
    same = "identical predictions" if before == probabilities else "DIFFERENT predictions"
    print(f"Saved the model to {args.model} and loaded it back: {same} on the test images")
    print()
    print(f"Test accuracy at {size}x{size} ({args.test} fresh images of every kind, {held_out}s included, "
          f"not centred): {accuracy_of(probabilities, test_labels):.3f}")
    print(format_confusion_matrix(confusion_matrix(test_labels, verdicts(probabilities), 2), list(CLASS_NAMES)))

    # (title, side, model, how it reads an image): resized to the model's side, or natively
    natives = {s: square_cnn.with_image_size(model, s) for s in other_sizes(size)} if kind == "cnn" else {}
    columns = [(f"{s}x{s}", s, model, None) for s in [size] + other_sizes(size)]
    columns += [(f"{s}x{s} nat", s, natives[s], "native") for s in natives]

    def score(reader, how, images, labels):
        vectors = [[v for row in image for v in row] for image in images] if how else vectors_for(reader, images)
        return accuracy_of(square_probabilities(reader, vectors), labels)

    print()
    print(f"Every family on its own ({args.family} fresh images each; NxN: drawn at that side and brought to "
          f"{size}x{size} by 2x2 block averages or pixel repetition" +
          ("; nat: the same weights reading the picture as it is" if natives else "") + "):")
    print(f"  {'family':<20}" + "".join(f"{title:>11}" for title, _, _, _ in columns))
    for family in KINDS:
        drawn = {s: square_cnn.family_sets_one(family, args.family, s, data_rng(seed, f"family-{family}-{s}"))
                 for s in [size] + other_sizes(size)}
        cells = [score(reader, how, *drawn[s]) for _, s, reader, how in columns]
        marker = " (held out)" if family == held_out else ""
        print(f"  {family + marker:<20}" + "".join(f"{cell:>11.3f}" for cell in cells))
    print("  (each family weighs the same here; the test sets weigh them as the generator does)")
    for other in other_sizes(size):
        other_images, other_labels = generate_dataset(args.test, other, data_rng(seed, f"test-{other}"))
        line = (f"  {other}x{other} test set ({args.test} images): "
                f"{score(model, None, other_images, other_labels):.3f} resized to {size}x{size}")
        if other in natives:
            line += f", {score(natives[other], 'native', other_images, other_labels):.3f} read natively " \
                    "by the same weights"
        print(line)
    lines = example_lines(model, test_images, test_labels, probabilities, args.show)
    if lines:
        print()
        print("\n".join(lines))


def compare_row_major(network, args, images, labels, validation, test_sets, hilbert_accuracy, center):
    """Train the row-major twin of the untrained Hilbert network on the same images, and score it."""
    size = args.size
    print("Side by side: the same network, each pixel starting with the same weights, reading the pixels "
          "row by row")
    _, seconds, cpu_seconds = train_network(network, images, labels, args.epochs, args.batch_size, args.lr,
                                            args.seed, validation, verbose=False)
    test_images, test_labels = test_sets[size]
    accuracy = accuracy_of(square_probabilities(network, vectors_for(network, test_images)), test_labels)
    print(f"  trained in {seconds:.1f} s ({cpu_seconds:.1f} s of processor time; progress lines not shown)")
    print(f"  {size}x{size}: row-major {accuracy:.3f}, Hilbert {hilbert_accuracy:.3f}")
    for other in other_sizes(size):
        other_images, other_labels = test_sets[other]
        resized = accuracy_of(square_probabilities(network, vectors_for(network, other_images)), other_labels)
        naive = accuracy_of(square_probabilities(network, [naive_row_major_vector(image, size, center)
                                                           for image in other_images]), other_labels)
        print(f"  {other}x{other}: row-major {resized:.3f} resized as an image (2x2 blocks), "
              f"{naive:.3f} resized as a vector (hilbert_resample on the row-major order)")


# ------------------------------------------------------- predict and draw
def load_model(path):
    """A saved square-detector model, or ModelFileError with a hint to train one."""
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: model file not found; train one first with "
                             f"python demos/square_detector.py --model {path}")
    model = Network.load(path)
    model_settings(model, path)
    return model


def run_predict(args):
    model = load_model(args.model)
    images = [read_image_file(path) for path in args.predict]  # every file is checked before any verdict
    for path, image in zip(args.predict, images):
        name, probability = classify_image(model, image)
        print(f"{path}: {name} (p={probability:.2f})")


def run_draw(args):
    open_window(lambda: load_model(args.model), classify_image, DRAW_GRID)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_arguments(argv)
        if args.predict:
            run_predict(args)
        elif args.draw:
            run_draw(args)
        else:
            run_demo(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except InputError as error:
        # one line, no traceback: a bad file, a missing model or no display is not a bug;
        # any other exception is one, and shows its traceback
        message = str(error).replace("\r", " ").replace("\n", " ")
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
