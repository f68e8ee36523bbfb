"""Five optimizers, one network, one split: how fast does each learn Iris?

    python demos/optimizer_comparison.py
    python demos/optimizer_comparison.py --epochs 300 --seed 3 --chart /tmp/loss.svg

The same architecture (4 -> 16 ReLU -> 4 ReLU -> 3 softmax, He initialization)
starts from the same initial weights, on the same stratified 80/20 split, with
the same order of mini-batches, and is trained by SGD, SGD with momentum,
RMSprop, Adam and AdamW in turn. Only the update rule (and its learning rate)
differs, so the curves differ only because of it.

It prints a table (final and best test accuracy, the first epoch at which the
test accuracy reached 0.95, the final training loss, seconds), writes the
training-loss curves as an SVG chart drawn by charts.py, and saves the network
with the best final test accuracy (ties: the lower final loss) as a model file
that `python main.py predict` can use.

The test rows are scored after every epoch only to draw this comparison; no
setting below was chosen by looking at them.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import argparse  # noqa: E402  (after the path set-up, like every import of the framework)
import time  # noqa: E402

from app import pipeline  # noqa: E402
from app.charts import line_chart_svg, save_svg  # noqa: E402
from app.config import validate_config  # noqa: E402
from losses import get_loss  # noqa: E402
from network import Network  # noqa: E402
from optimizers import get_optimizer  # noqa: E402
from utils import InputError, check_writable, make_rng  # noqa: E402

OUTPUT = os.path.join(ROOT, "demos", "output")
TARGET_ACCURACY = 0.95

# The experiment as a config: everything but the optimizer is shared.
BASE_CONFIG = {
    "task": "classification",
    "data": {"path": os.path.join(ROOT, "data", "iris.csv"), "target": "species", "test_fraction": 0.2},
    "model": {"hidden_layers": [{"units": 16, "activation": "relu"}, {"units": 4, "activation": "relu"}],
              "output_activation": "softmax", "init": "he"},
    "training": {"loss": "cross_entropy", "batch_size": 16},
}

# (label, optimizer settings): each rule's default learning rate in config.py (PyTorch's
# defaults; 0.01 for SGD, which has none there), momentum 0.9; none tuned on this split.
OPTIMIZERS = [
    ("SGD", {"name": "sgd", "lr": 0.01}),
    ("SGD + momentum", {"name": "sgd", "lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"name": "rmsprop", "lr": 0.01}),
    ("Adam", {"name": "adam", "lr": 0.001}),
    ("AdamW", {"name": "adamw", "lr": 0.001, "weight_decay": 0.01}),
]


def experiment_config(optimizer, epochs, seed):
    """The validated config of one run, saved inside the model file it produces."""
    config = dict(BASE_CONFIG, seed=seed)
    config["training"] = dict(BASE_CONFIG["training"], optimizer=optimizer, epochs=epochs)
    return validate_config(config, "optimizer comparison")


def first_epoch_reaching(values, level):
    """The 1-based index of the first value >= level, or None."""
    return next((epoch for epoch, value in enumerate(values, 1) if value >= level), None)


def compare(epochs, seed):
    """Train one copy of the same network per optimizer; returns a list of result dicts."""
    config = experiment_config(OPTIMIZERS[0][1], epochs, seed)
    data = pipeline.prepare_data(config, make_rng(seed))
    X_train, Y_train = data.inputs(data.train), data.targets(data.train)
    X_test, Y_test = data.inputs(data.test), data.targets(data.test)
    initial = Network.from_config(config["model"], X_train.shape[1], data.n_outputs, rng=make_rng(seed)).to_dict()
    loss = get_loss(config["training"]["loss"])
    results = []
    for label, settings in OPTIMIZERS:
        network = Network.from_dict(initial)  # a fresh copy of the same initial weights
        run_config = experiment_config(settings, epochs, seed)
        network.metadata = pipeline.model_metadata(run_config, data)
        options = dict(settings)
        optimizer = get_optimizer(options.pop("name"), network.parameters(), **options)
        started = time.perf_counter()
        # the test rows as validation data: fit then scores them after every epoch
        history = network.fit(X_train, Y_train, loss, optimizer, epochs=epochs,
                              batch_size=config["training"]["batch_size"], validation_data=(X_test, Y_test),
                              rng=make_rng(seed))
        seconds = time.perf_counter() - started
        test_accuracy = history["val_accuracy"]
        results.append({"label": label, "settings": settings, "network": network, "loss": history["loss"],
                        "final": test_accuracy[-1], "best": max(test_accuracy),
                        "reached": first_epoch_reaching(test_accuracy, TARGET_ACCURACY),
                        "final_loss": history["loss"][-1], "seconds": seconds})
        print(f"{label}: done in {seconds:.1f} s", file=sys.stderr, flush=True)
    return results


def describe(settings):
    """'lr 0.01, momentum 0.9' from an optimizer's settings."""
    return ", ".join(f"{key} {value}" for key, value in settings.items() if key != "name")


def shown(path):
    """A path as printed: relative to the current folder when it lies inside it."""
    relative = os.path.relpath(os.path.abspath(path))
    return path if relative.startswith("..") else relative


def format_table(results, epochs):
    head = "{:<15} {:<28} {:>9} {:>9} {:>12} {:>11} {:>8}".format(
        "optimizer", "settings", "final acc", "best acc", f"epoch>={TARGET_ACCURACY}", "final loss", "seconds")
    lines = [head, "-" * len(head)]
    for r in results:
        reached = str(r["reached"]) if r["reached"] is not None else f">{epochs}"
        lines.append("{:<15} {:<28} {:>9.4f} {:>9.4f} {:>12} {:>11.4f} {:>8.1f}".format(
            r["label"], describe(r["settings"]), r["final"], r["best"], reached, r["final_loss"], r["seconds"]))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the same Iris network with five optimizers and "
                                                 "compare their test accuracy and loss curves.")
    parser.add_argument("--epochs", type=int, default=150, help="epochs per optimizer (default: 150)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the batches")
    parser.add_argument("--chart", default=os.path.join(OUTPUT, "optimizer_comparison.svg"),
                        help="where to write the SVG chart of the loss curves "
                             "(default: demos/output/optimizer_comparison.svg)")
    parser.add_argument("--model", default=os.path.join(OUTPUT, "optimizer_comparison_best.json"),
                        help="where to save the best network (default: demos/output/optimizer_comparison_best.json)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")
    if OUTPUT in (os.path.dirname(os.path.abspath(path)) for path in (args.chart, args.model)):
        os.makedirs(OUTPUT, exist_ok=True)  # the default folder; any other must exist already
    try:
        for path in (args.chart, args.model):
            check_writable(path)  # now, not after training
    except InputError as error:
        parser.error(str(error))

    results = compare(args.epochs, args.seed)
    print(f"Iris, 4 -> 16 ReLU -> 4 ReLU -> 3 softmax (He init), the same initial weights and split "
          f"(seed {args.seed}), {args.epochs} epochs, batch size {BASE_CONFIG['training']['batch_size']}")
    print("\n".join(format_table(results, args.epochs)))

    svg = line_chart_svg([(r["label"], r["loss"]) for r in results],
                         title="Iris: training loss of the same network under five optimizers",
                         x_label="epoch", y_label="training loss (cross-entropy, log scale)", log_y=True)
    save_svg(args.chart, svg)
    print(f"loss curves saved to {shown(args.chart)}")
    best = max(results, key=lambda r: (r["final"], -r["final_loss"]))
    best["network"].save(args.model)
    print(f"best model ({best['label']}, final test accuracy {best['final']:.4f}) saved to {shown(args.model)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
