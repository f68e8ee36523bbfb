"""Fashion-MNIST in pure Python: 70,000 pictures of clothes, 28 x 28 grey pixels, 10 classes.

    python demos/fashion_mnist.py --quick            the committed slice (3,000 + 1,000 images): 784-64-10, 2 epochs
    python demos/fashion_mnist.py                    the full set: 60,000 training images, the 10,000 test images
    python demos/fashion_mnist.py --model cnn        two convolutions with pooling instead of the MLP
    python demos/fashion_mnist.py --resume           continue the run its checkpoint file saved
    python demos/fashion_mnist.py --evaluate PATH    test a saved model, or a checkpoint's, on the test set

Fashion-MNIST (H. Xiao, K. Rasul, R. Vollgraf, Zalando Research, 2017; MIT licence) was made as a
drop-in replacement for MNIST that is harder to get right. The four files (IDX format, gzipped)
are looked for in --data DIR, then data/fashion-mnist/ in this repository, then
/usr/share/datasets/fashion-mnist/ (Debian: apt-get install dataset-fashion-mnist).

The pixels stay bytes in memory (idx.ByteImages, 47 MB for the 60,000 images, where Python floats
would take 1.5 GB) and are turned into floats in [0, 1] one batch at a time by Network.fit, predict
and evaluate. The run shows a progress bar with samples/s and the ETA on a terminal, saves a
checkpoint after every epoch (Ctrl-C also saves one), and --resume continues from it.

Models:
    mlp   784 -> 256 -> 128 -> 100 -> 10, ReLU, as in the data set's own benchmark table (0.883);
          --quick: 784 -> 64 -> 10, for 2 epochs
    cnn   Conv2D(1 -> 8, 3x3, pad 1) ReLU MaxPool 2 -> Conv2D(8 -> 16, 3x3, pad 1) ReLU MaxPool 2
          -> Flatten -> Dense(784 -> 64) ReLU -> Dense(64 -> 10); --quick: 1 epoch
Both train with Adam (lr 0.001, brought down to 0 along a cosine over the epochs) and cross-entropy.
"""

import argparse
import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from activations import ReLU, Softmax  # noqa: E402  (needs the repo root on sys.path)
from conv import Conv2D  # noqa: E402
from idx import load_images  # noqa: E402
from layers import Dense, seed as seed_layers  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from pooling import Flatten, MaxPool2D  # noqa: E402
from schedulers import CosineAnnealingLR  # noqa: E402
from app.progress import Progress  # noqa: E402
from app.checkpoints import CHECKPOINT_FORMAT  # noqa: E402
from app.arguments import whole_number  # noqa: E402
from app.training import Checkpoint, TrainingInterrupted, load_checkpoint, standard_callbacks, worker_died  # noqa: E402
from parallel import DataParallel, WorkerError  # noqa: E402
from metrics import confusion_matrix  # noqa: E402
from utils import InputError, check_writable, make_rng, read_json  # noqa: E402

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
DATA_DIR = os.path.join(REPO_ROOT, "data", "fashion-mnist")
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
SLICE_PREFIX = "slice-"  # the committed slice: data/fashion-mnist/slice-train-images-idx3-ubyte.gz, ...
DEFAULTS = {  # per model; --quick: the slice, fewer epochs and (MLP) one narrow hidden layer
    "mlp": {"epochs": 8, "batch_size": 64, "hidden": (256, 128, 100), "quick_epochs": 2, "quick_hidden": (64,),
            "quick_batch_size": 32},
    "cnn": {"epochs": 4, "batch_size": 32, "hidden": None, "quick_epochs": 1, "quick_hidden": None,
            "quick_batch_size": 32},
}
HOW_TO_GET = ("download the four .gz files of https://github.com/zalandoresearch/fashion-mnist (folder "
              f"data/fashion) into {DATA_DIR}/, or apt-get install dataset-fashion-mnist, "
              "or pass --data DIR; --quick runs on the small slice committed in the repository")


class CommandLineError(InputError):
    """A mistake on the command line itself (unknown option, bad value)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CommandLineError(f"{message} (see python demos/fashion_mnist.py --help)")


def _sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 256,128,100, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"every size must be at least 1, got {text!r}")
    return sizes


def make_parser():
    parser = _Parser(description="Train an MLP or a CNN on Fashion-MNIST, in pure Python.")
    parser.add_argument("--data", metavar="DIR", help="the folder holding the four Fashion-MNIST .gz files")
    parser.add_argument("--quick", action="store_true",
                        help="train and test on the slice in data/fashion-mnist/ (3,000 + 1,000 images)")
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp", help="the network (default mlp)")
    parser.add_argument("--epochs", type=int, help="epochs (default 8 for mlp, 4 for cnn; --quick: 2, 1)")
    parser.add_argument("--hidden", type=_sizes, metavar="N,N,..",
                        help="the MLP's hidden layer sizes (default 256,128,100; --quick: 64)")
    parser.add_argument("--batch-size", type=int, help="rows per step (default 64 for mlp, 32 for cnn and --quick)")
    parser.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate (default 0.001)")
    parser.add_argument("--seed", type=int, default=0, help="fixes the weights and the shuffling (default 0)")
    parser.add_argument("--train-size", type=int, metavar="N", help="train on the first N training images only")
    parser.add_argument("--test-size", type=int, metavar="N", help="test on the first N test images only")
    parser.add_argument("--watch-test", action="store_true",
                        help="score the test set after every epoch too (shown as val_; nothing is chosen by it)")
    parser.add_argument("--save", metavar="PATH", help="where the trained model is saved "
                        "(default fashion_mnist_<model>.json; with --quick, fashion_mnist_<model>_quick.json)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="the checkpoint saved after every epoch (default: the model path + .checkpoint)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--evaluate", metavar="PATH",
                        help="only test a saved model (or the model in a checkpoint) on the test set")
    parser.add_argument("--bar", action="store_true", help="draw the progress bar even when not on a terminal")
    parser.add_argument("--workers", type=whole_number(1), default=1, metavar="N",
                        help="processes sharing each batch (parallel.py; default 1): the same model to rounding")
    return parser


# ----------------------------------------------------------------- the data
def find_data(args):
    """(folder, prefix) of the files to read: --data, then data/fashion-mnist/, then the Debian path;
    with --quick the committed slice. Raises CommandLineError saying how to get them."""
    if args.quick:
        candidates = [(args.data or DATA_DIR, SLICE_PREFIX)]
    elif args.data:
        candidates = [(args.data, "")]
    else:
        candidates = [(DATA_DIR, ""), (DEBIAN_DIR, "")]
    for folder, prefix in candidates:
        names = [prefix + name for part in ("train", "test") for name in FILES[part]]
        if all(os.path.isfile(os.path.join(folder, name)) for name in names):
            return folder, prefix
    if args.data or args.quick:
        folder, prefix = candidates[0]
        missing = [prefix + name for part in ("train", "test") for name in FILES[part]
                   if not os.path.isfile(os.path.join(folder, prefix + name))]
        raise CommandLineError(f"{folder}: missing {', '.join(missing)}; {HOW_TO_GET}")
    raise CommandLineError(f"Fashion-MNIST not found in {DATA_DIR}/ or {DEBIAN_DIR}/: {HOW_TO_GET}")


def load_part(folder, prefix, part, size=None):
    images, labels = (os.path.join(folder, prefix + name) for name in FILES[part])
    data = load_images(images, labels, n_classes=len(CLASS_NAMES))
    if size is not None:
        if size > len(data):
            raise CommandLineError(f"--{part}-size {size}: the {part} set has only {len(data)} images")
        data = data.subset(range(size))
    return data


# ---------------------------------------------------------------- the models
def build_mlp(rng, hidden=(256, 128, 100)):
    """784 -> hidden... -> 10: Dense + ReLU per hidden layer, a softmax output."""
    layers, width = [], 784
    for units in hidden:
        layers += [Dense(width, units, rng=rng), ReLU()]
        width = units
    # He init assumes a ReLU after the layer; the output scores have none, so Xavier
    return Network(layers + [Dense(width, 10, init="xavier", rng=rng), Softmax()])


def build_cnn(rng, hidden=None):
    """Two convolutions with pooling, then a small dense classifier:
    (1, 28, 28) -> Conv2D 8 x 3x3, pad 1 -> ReLU -> MaxPool 2 -> (8, 14, 14)
                -> Conv2D 16 x 3x3, pad 1 -> ReLU -> MaxPool 2 -> (16, 7, 7) -> Flatten (784)
                -> Dense 64 -> ReLU -> Dense 10 -> Softmax"""
    return Network([
        Conv2D(1, 8, 3, padding=1, input_shape=(1, 28, 28), rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(8, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2), Flatten(),
        Dense(16 * 7 * 7, 64, rng=rng), ReLU(), Dense(64, 10, init="xavier", rng=rng), Softmax()])


MODELS = {"mlp": build_mlp, "cnn": build_cnn}


# ------------------------------------------------------------------- the run
def format_confusion(counts):
    """The confusion matrix with the class names on the rows and their numbers on the columns
    (ten names of up to 11 letters would not fit a terminal's width as column headings)."""
    width = max(5, max(len(str(v)) for row in counts for v in row) + 1)
    label = max(len(name) for name in CLASS_NAMES) + 3
    lines = [" " * label + "".join(f"{j:>{width}}" for j in range(len(counts))) + "   <- predicted"]
    for i, row in enumerate(counts):
        lines.append(f"{i} {CLASS_NAMES[i]:<{label - 2}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def peak_rss_mb():
    """This process's peak resident memory in MB: VmHWM from /proc on Linux, else ru_maxrss
    (None where neither exists)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KB on Linux


def check_arguments(args):
    for name in ("epochs", "batch_size", "train_size", "test_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CommandLineError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not args.lr > 0:
        raise CommandLineError(f"--lr must be > 0, got {args.lr}")
    if args.hidden and args.model != "mlp":
        raise CommandLineError("--hidden sets the MLP's hidden layers; the CNN's layers are fixed")


def run(args):
    check_arguments(args)
    defaults = DEFAULTS[args.model]
    epochs = args.epochs or (defaults["quick_epochs"] if args.quick else defaults["epochs"])
    batch_size = args.batch_size or defaults["quick_batch_size" if args.quick else "batch_size"]
    model_path = args.save or f"fashion_mnist_{args.model}{'_quick' if args.quick else ''}.json"
    checkpoint_path = args.checkpoint or model_path + ".checkpoint"
    resume = load_checkpoint(checkpoint_path) if args.resume else None
    for path in (model_path, checkpoint_path):
        check_writable(path)
    if os.path.abspath(model_path) == os.path.abspath(checkpoint_path):
        raise CommandLineError(f"--save and --checkpoint are the same file {model_path}")
    folder, prefix = find_data(args)

    started = time.perf_counter()
    train = load_part(folder, prefix, "train", args.train_size)
    test = load_part(folder, prefix, "test", args.test_size)
    print(f"data: {len(train):,} training and {len(test):,} test images from {folder} "
          f"({(len(train) + len(test)) * train.size / 1e6:.1f} MB of pixels as bytes), "
          f"read in {time.perf_counter() - started:.1f} s")

    seed_layers(args.seed)
    hidden = args.hidden or (defaults["quick_hidden"] if args.quick else defaults["hidden"])
    network = MODELS[args.model](make_rng(args.seed), hidden)
    network.metadata = {"class_names": list(CLASS_NAMES), "image_shape": list(train.shape),
                        "pixel_mean": train.mean, "pixel_std": train.std}
    print(network.summary())
    loss, optimizer = CrossEntropy(), Adam(network.parameters(), lr=args.lr)
    scheduler = CosineAnnealingLR(optimizer, t_max=epochs)
    n_batches = -(-len(train) // batch_size)
    callbacks = standard_callbacks(scheduler=scheduler, checkpoint=Checkpoint(checkpoint_path, every=1),
                                   resume=resume, progress=Progress(bar=True if args.bar else None))
    if resume is not None:
        print(f"resuming from {checkpoint_path} after epoch {resume['epoch']}")
    print(f"training: {epochs} epochs of {n_batches:,} batches of {batch_size} on {sys.implementation.name} "
          f"{sys.version.split()[0]}" + (f", {args.workers} worker processes" if args.workers > 1 else ""))
    trainer = network if args.workers == 1 else DataParallel(network, args.workers, seed=args.seed)
    started = time.perf_counter()
    try:
        history = trainer.fit(train, train.targets, loss, optimizer, epochs=epochs, batch_size=batch_size,
                              rng=make_rng(args.seed), callbacks=callbacks,
                              validation_data=(test, test.targets) if args.watch_test else None)
    except WorkerError as error:
        raise worker_died(error, callbacks) from None
    train_seconds = time.perf_counter() - started
    network.save(model_path)
    print(f"trained in {train_seconds:.0f} s ({len(history['loss'])} epochs this run)")
    report_test(network, test)
    print(f"model saved to {model_path}")


def report_test(network, test):
    """Print the test set's confusion matrix, the peak memory and 'test accuracy: 0.8850'."""
    started = time.perf_counter()
    predicted = network.predict_classes(test)
    actual = list(test.labels)
    correct = sum(p == a for p, a in zip(predicted, actual))
    print(f"tested {len(actual):,} images in {time.perf_counter() - started:.1f} s")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(format_confusion(confusion_matrix(actual, predicted, len(CLASS_NAMES))))
    rss = peak_rss_mb()
    if rss is not None:
        print(f"peak memory (RSS): {rss:.0f} MB")
    print(f"test accuracy: {correct / len(actual):.4f}")


def run_evaluate(args):
    """--evaluate PATH: score a saved model, or the model inside a checkpoint, on the test set."""
    data = read_json(args.evaluate, "model or checkpoint", CommandLineError)
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        # only the model is needed (Network.from_dict checks it); the training state is not
        print(f"{args.evaluate}: checkpoint after epoch {data.get('epoch')}")
        data = data.get("model")
    network = Network.from_dict(data, source=args.evaluate)
    folder, prefix = find_data(args)
    report_test(network, load_part(folder, prefix, "test", args.test_size))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = make_parser().parse_args(argv)
        run_evaluate(args) if args.evaluate else run(args)
    except TrainingInterrupted as stop:
        print(f"\n{stop}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except WorkerError as error:  # a worker process died: not bad input, but one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        if getattr(error, "checkpoint_path", None):
            print("continue with the same command and --resume", file=sys.stderr)
        return 1
    except InputError as error:  # the user's mistake (IDXError too); any other exception is a bug: traceback
        print(f"error: {str(error).splitlines()[0] if str(error) else error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
