"""From a validated config to a trained, evaluated and saved model.

The steps a training run takes, each a small function that main.py and the
demos share:
    prepare_data   read the CSV, split train / validation / test, normalize
    build_model    the network, loss and optimizer the config names
    training_helpers  the schedule, early stopping, clipping and checkpoints the config asks for
    train          fit, evaluate on the test rows, and describe the model for saving
    chart_path, config_from_checkpoint   where the curves go; the config of a run to resume
    report_lines   the scores as the lines `python main.py` prints
"""

import os

from config import validate_config
from losses import get_loss
from matrix import Matrix
from network import Network
from optimizers import get_optimizer
from schedulers import get_scheduler
from training import Checkpoint, EarlyStopping
from utils import (Normalizer, accuracy, confusion_matrix, format_confusion_matrix, load_csv, make_rng,
                   precision_recall_f1, regression_scores, train_test_split)


def resolve_path(path, config_path=None):
    """A data path as written in a config: relative to the current folder, or else to the config's folder."""
    if os.path.isabs(path) or os.path.exists(path) or config_path is None:
        return path
    beside_config = os.path.join(os.path.dirname(os.path.abspath(config_path)), path)
    return beside_config if os.path.exists(beside_config) else path


class PreparedData:
    """The normalized splits of one data set, and what is needed to read new rows the same way."""

    def __init__(self, dataset, train, validation, test, normalizer, target_normalizer, single_output=False):
        self.dataset, self.train, self.validation, self.test = dataset, train, validation, test
        self.normalizer, self.target_normalizer = normalizer, target_normalizer
        # two classes learned by one sigmoid unit whose output is P(second class)
        self.single_output = single_output

    @property
    def task(self):
        return self.dataset.task

    @property
    def n_outputs(self):
        if self.task == "classification":
            return 1 if self.single_output else len(self.dataset.class_names)
        return self.dataset.values.shape[1]

    def inputs(self, part):
        """The normalized feature matrix of a split."""
        return self.normalizer.transform(part.X)

    def targets(self, part):
        """Training targets of a split: one-hot rows (one 0/1 column for a single sigmoid unit),
        or normalized values for regression."""
        if self.single_output:
            return Matrix._wrap([[float(label)] for label in part.labels], 1)
        targets = part.targets()
        if self.target_normalizer is not None:
            targets = self.target_normalizer.transform(targets)
        return targets


def prepare_data(config, rng, config_path=None):
    """Load the CSV the config names, split it (stratified for classes) and fit normalization on the training rows."""
    data_cfg = config["data"]
    path = resolve_path(data_cfg["path"], config_path)
    dataset = load_csv(path, data_cfg["target"], data_cfg.get("features"), data_cfg.get("delimiter", ","),
                       config.get("task", "auto"))
    classification = dataset.task == "classification"
    strata = dataset.labels if classification else [0] * len(dataset)
    train_idx, test_idx = train_test_split(strata, data_cfg["test_fraction"], rng, stratify=classification)
    validation = None
    val_fraction = data_cfg.get("validation_fraction", 0)
    if val_fraction:
        # validation_fraction is a share of all rows, taken out of the training rows
        share = val_fraction / (1.0 - data_cfg["test_fraction"])
        fit_idx, val_idx = train_test_split([strata[i] for i in train_idx], share, rng, stratify=classification)
        train_idx, validation = [train_idx[i] for i in fit_idx], dataset.subset([train_idx[i] for i in val_idx])
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    normalizer = Normalizer(data_cfg.get("normalize", "zscore")).fit(train.X)
    # regression targets are standardized too, so the loss is of order 1 whatever the units
    target_normalizer = None if classification else Normalizer("zscore").fit(train.values)
    # binary cross-entropy on two classes: one sigmoid output rather than two
    single_output = (classification and len(dataset.class_names) == 2
                     and config.get("training", {}).get("loss") == "binary_cross_entropy")
    return PreparedData(dataset, train, validation, test, normalizer, target_normalizer, single_output)


def build_model(config, data, rng):
    """The network for this data, and the loss and optimizer the config names."""
    network = Network.from_config(config["model"], data.dataset.X.shape[1], data.n_outputs, rng=rng)
    loss = get_loss(config["training"]["loss"])
    options = dict(config["training"]["optimizer"])
    optimizer = get_optimizer(options.pop("name"), network.parameters(), **options)
    return network, loss, optimizer


def training_helpers(config, optimizer, config_path=None):
    """What the config's training section adds to plain fit: the keyword arguments
    scheduler, clip_norm, early_stopping and checkpoint of Network.fit."""
    training = config["training"]
    stopping = training.get("early_stopping")
    checkpoint = None
    if training.get("checkpoint_path", "checkpoint.json"):
        # the config's path goes along, so that a resumed run finds the data files again
        extra = {"config_path": os.path.abspath(config_path) if config_path else None}
        checkpoint = Checkpoint(training.get("checkpoint_path", "checkpoint.json"),
                                every=training.get("checkpoint_every"), extra=extra)
    return {"scheduler": get_scheduler(training.get("scheduler"), optimizer),
            "clip_norm": training.get("clip_norm"),
            "early_stopping": EarlyStopping(**stopping) if stopping else None,
            "checkpoint": checkpoint}


def train(config, config_path=None, verbose=True, seed=None, diagnose=False, resume=None, progress=None):
    """Run the whole experiment a config describes; returns (network, history, scores).

    One seed fixes everything random: the split, the initial weights, the shuffling and
    the dropout masks. diagnose prints a per-layer report after each epoch; resume, a
    checkpoint path or dict, continues a run saved with the same config.
    """
    rng = make_rng(config["seed"] if seed is None else seed)
    data = prepare_data(config, rng, config_path)
    network, loss, optimizer = build_model(config, data, rng)
    if verbose:
        print(network.summary())
    validation = None
    if data.validation is not None:
        validation = (data.inputs(data.validation), data.targets(data.validation))
    training = config["training"]
    network.metadata = model_metadata(config, data)  # before fit, so that checkpoints carry the config
    history = network.fit(data.inputs(data.train), data.targets(data.train), loss, optimizer,
                          epochs=training["epochs"], batch_size=training["batch_size"],
                          shuffle=training.get("shuffle", True), validation_data=validation, rng=rng,
                          verbose=verbose, diagnostics=diagnose, resume=resume, progress=progress,
                          **training_helpers(config, optimizer, config_path))
    scores = evaluate(network, data.inputs(data.test), data.test)
    return network, history, scores


def config_from_checkpoint(state, path):
    """The validated config a checkpoint was trained with, and the path of its config file."""
    config = state["model"].get("metadata", {}).get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: this checkpoint holds no config (it was not written by main.py); "
                         "continue it from Python with network.fit(..., resume=path)")
    return validate_config(config, f"{path}: config"), state.get("extra", {}).get("config_path")


def chart_path(config):
    """Where the training curves go: output.plot, or beside the model when it is null; '' for none."""
    plot = config["output"].get("plot")
    if plot is None:
        stem, _ = os.path.splitext(config["output"]["model_path"])
        plot = stem + "_training.svg"
    return plot


def model_metadata(config, data):
    """What prediction needs besides the weights, saved inside the model file."""
    dataset = data.dataset
    return {
        "task": dataset.task,
        "feature_names": dataset.feature_names,
        "target": dataset.target_name,
        "class_names": dataset.class_names,
        "normalization": data.normalizer.to_dict(),
        "target_normalization": data.target_normalizer.to_dict() if data.target_normalizer else None,
        "config": config,
    }


def predict_values(network, X):
    """Regression predictions in the target's own units (undoing the target normalization)."""
    output = network.predict(X)
    stats = network.metadata.get("target_normalization")
    return Normalizer.from_dict(stats).inverse_transform(output) if stats else output


def evaluate(network, X, part):
    """Scores of a trained network on a split: accuracy and per-class scores, or RMSE, MAE, R^2."""
    if part.task == "classification":
        predicted = network.predict_classes(X)
        n_classes = len(part.class_names)
        return {"accuracy": accuracy(predicted, part.labels),
                "per_class": precision_recall_f1(part.labels, predicted, n_classes),
                "confusion": confusion_matrix(part.labels, predicted, n_classes),
                "class_names": part.class_names}
    predicted = predict_values(network, X)
    columns = list(zip(*predicted.rows)), list(zip(*part.values.rows))
    per_column = [regression_scores(list(actual), list(guess)) for guess, actual in zip(*columns)]
    return {key: sum(s[key] for s in per_column) / len(per_column) for key in ("rmse", "mae", "r2")}


def report_lines(scores, prefix="test"):
    """Human-readable scores ending in lines a script can read: 'test accuracy: 0.9667'."""
    if "accuracy" not in scores:
        return [f"{prefix} rmse: {scores['rmse']:.4g}", f"{prefix} mae: {scores['mae']:.4g}",
                f"{prefix} r2: {scores['r2']:.4f}"]
    names = scores["class_names"]
    width = max(8, max(len(n) for n in names))
    lines = [f"{'class':<{width}} precision  recall      f1  support"]
    for name, s in zip(names, scores["per_class"]):
        lines.append(f"{name:<{width}} {s['precision']:>9.4f} {s['recall']:>7.4f} {s['f1']:>7.4f} {s['support']:>8}")
    lines += ["confusion matrix (rows: true class, columns: predicted):",
              format_confusion_matrix(scores["confusion"], names), f"{prefix} accuracy: {scores['accuracy']:.4f}"]
    return lines

