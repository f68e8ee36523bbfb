"""From a validated config to a trained, evaluated and saved model.

The steps a training run takes, each a small function that main.py and the
demos share:
    prepare_data   read the CSV, split train / validation / test, normalize
    build_model    the network, loss and optimizer the config names
    training_helpers  the schedule, early stopping, clipping and checkpoints the config asks for
    train          fit, evaluate on the test rows, and describe the model for saving
    chart_path, config_from_checkpoint   where the curves go; the config of a run to resume
    report_lines   the scores as the lines `python main.py` prints
and for a saved model (`python main.py predict` and `evaluate`):
    load_model_for_prediction, read_rows_for_model, predict_rows, and evaluate (on rows read so)
"""

import csv
import io
import math
import os
import sys

from app.config import DEFAULT_CONFIG, ConfigError, validate_config
from app.diagnostics import Diagnostics
# what a saved model does on new rows lives in app/prediction.py; its names stay reachable here
from app.prediction import (check_model_metadata, class_probabilities, load_model_for_prediction,  # noqa: F401
                            predict_rows, predict_values, predicted_classes, read_rows_for_model)
from app.progress import Progress
from app.training import (Checkpoint, CheckpointError, EarlyStopping, TrainingDiverged, standard_callbacks,
                          worker_died)
from datasets import DataError, Normalizer, load_csv, train_test_split
from layers import flat_size
from losses import get_loss
from matrix import Matrix
from metrics import accuracy, confusion_matrix, format_confusion_matrix, precision_recall_f1, regression_scores
from network import Network
from optimizers import get_optimizer
from parallel import DataParallel, WorkerError
from schedulers import get_scheduler
from utils import check_writable, format_number, make_rng, quote, write_atomic


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
            return Matrix.from_rows([[float(label)] for label in part.labels], 1)
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
    image_shape = data_cfg.get("image_shape")
    if image_shape is not None and flat_size(image_shape) != dataset.X.shape[1]:
        raise DataError(f"{path}: has {dataset.X.shape[1]} feature columns, but data.image_shape {image_shape} "
                        f"reads {flat_size(image_shape)} values per row (channels x height x width)")
    check_task_matches_training(config, dataset, path)
    classification = dataset.task == "classification"
    strata = dataset.labels if classification else [0] * len(dataset)
    try:
        train_idx, test_idx = train_test_split(strata, data_cfg["test_fraction"], rng, stratify=classification)
    except DataError as error:
        raise DataError(f"{path}: {error} into training and test rows") from None
    validation = None
    val_fraction = data_cfg.get("validation_fraction", 0)
    if val_fraction:
        # validation_fraction is a share of all rows, taken out of the training rows
        share = val_fraction / (1.0 - data_cfg["test_fraction"])
        try:
            fit_idx, val_idx = train_test_split([strata[i] for i in train_idx], share, rng, stratify=classification)
        except DataError as error:
            raise DataError(f"{path}: after the test rows, {error} into training and validation rows") from None
        train_idx, validation = [train_idx[i] for i in fit_idx], dataset.subset([train_idx[i] for i in val_idx])
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    try:
        normalizer = Normalizer(data_cfg.get("normalize", "zscore")).fit(train.X, dataset.feature_names)
        # regression targets are standardized too, so the loss is of order 1 whatever the units
        target_normalizer = None if classification else Normalizer("zscore").fit(train.values, [dataset.target_name])
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None
    # binary cross-entropy on two classes: one sigmoid output rather than two
    single_output = (classification and len(dataset.class_names) == 2
                     and config.get("training", {}).get("loss") == "binary_cross_entropy")
    return PreparedData(dataset, train, validation, test, normalizer, target_normalizer, single_output)


# A classification target with this many classes or more looks like numbers read as classes.
MANY_CLASSES = 100
CLASSIFICATION_OUTPUTS = ("softmax", "sigmoid")  # probabilities of classes, never a regression value


def check_task_matches_training(config, dataset, path):
    """Refuse a regression target trained with a classification loss or output, and the reverse,
    saying which task, loss and output_activation to use; warn when a classification target has
    hundreds of classes. Otherwise a column of prices with the default config trains a softmax
    over one output (always 1.0) and prints loss 0.0000."""
    loss = config.get("training", {}).get("loss", DEFAULT_CONFIG["training"]["loss"])
    output = config.get("model", {}).get("output_activation", DEFAULT_CONFIG["model"]["output_activation"])
    classification_loss = get_loss(loss).fuses_with is not None  # the loss applies softmax or sigmoid
    chosen = "task 'regression'" if config.get("task") == "regression" else (
        f"its values ({_distinct_count(dataset)} distinct numbers) make it a regression target")
    target = quote(dataset.target_name)
    if dataset.task == "regression" and (classification_loss or output in CLASSIFICATION_OUTPUTS):
        raise DataError(
            f"{path}: the target column {target}: {chosen}, but training.loss {loss!r} with "
            f"model.output_activation {output!r} is for classes; for regression use training.loss 'mse' "
            "and model.output_activation 'linear' (task 'regression'); if the values are class labels, "
            "set task 'classification'")
    if dataset.task == "classification":
        n = len(dataset.class_names)
        if not classification_loss:
            raise DataError(
                f"{path}: the target column {target} holds {n} classes, but training.loss {loss!r} is for "
                "regression; for classes use training.loss 'cross_entropy' with model.output_activation "
                "'softmax' (or 'binary_cross_entropy' with 'sigmoid' for two classes); if the values are "
                "numbers to predict, set task 'regression'")
        if n >= MANY_CLASSES:
            print(f"warning: {path}: the target column {target} has {n} classes, one output unit each; if "
                  "its values are numbers to predict rather than labels, set task 'regression', "
                  "training.loss 'mse' and model.output_activation 'linear'", file=sys.stderr)


def _distinct_count(dataset):
    return len({row[0] for row in dataset.values.rows}) if dataset.values is not None else 0


def build_model(config, data, rng):
    """The network for this data, and the loss and optimizer the config names."""
    network = Network.from_config(config["model"], data.dataset.X.shape[1], data.n_outputs, rng=rng,
                                  input_shape=config["data"].get("image_shape"))
    loss = get_loss(config["training"]["loss"])
    options = dict(config["training"]["optimizer"])
    optimizer = get_optimizer(options.pop("name"), network.parameters(), **options)
    return network, loss, optimizer


def training_helpers(config, optimizer, config_path=None):
    """What the config's training section adds to plain fit: the schedule, clip_norm,
    early stopping and checkpoint, as keyword arguments of training.standard_callbacks."""
    training = config["training"]
    stopping = training.get("early_stopping")
    checkpoint = None
    if training["checkpoint_path"]:
        # the config's path goes along, so that a resumed run finds the data files again
        extra = {"config_path": os.path.abspath(config_path) if config_path else None}
        checkpoint = Checkpoint(training["checkpoint_path"], every=training.get("checkpoint_every"), extra=extra)
    return {"scheduler": get_scheduler(training.get("scheduler"), optimizer),
            "clip_norm": training.get("clip_norm"),
            "early_stopping": EarlyStopping(**stopping) if stopping else None,
            "checkpoint": checkpoint}


def train(config, config_path=None, verbose=True, seed=None, diagnose=False, resume=None, progress=None,
          report=None):
    """Run the whole experiment a config describes; returns (network, history, scores).

    One seed fixes everything random: the split, the initial weights, the shuffling and
    the dropout masks. diagnose prints a per-layer report after each epoch; resume, a
    checkpoint path or dict, continues a run saved with the same config; report, an
    app.report.ReportCollector, gathers what the HTML report shows.
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
    if progress is None and verbose:
        progress = Progress()
    helpers = training_helpers(config, optimizer, config_path)
    callbacks = standard_callbacks(resume=resume, progress=progress, diagnostics=Diagnostics() if diagnose else None,
                                   **helpers)
    if report is not None:
        callbacks.insert(-1, report)  # before Checkpoints, whose Ctrl-C ends the run
    trainer = network
    if training.get("workers", 1) > 1:  # each batch shared by worker processes (parallel.py)
        if diagnose:
            raise ConfigError(["--diagnose reads every layer's activations, which stay in the worker processes "
                               f"with training.workers {training['workers']}: use --workers 1 with --diagnose"])
        try:
            trainer = DataParallel(network, training["workers"], seed=config["seed"] if seed is None else seed)
        except ValueError as error:
            raise ConfigError([f"training.workers: {error}"]) from None
    try:
        history = trainer.fit(data.inputs(data.train), data.targets(data.train), loss, optimizer,
                              epochs=training["epochs"], batch_size=training["batch_size"],
                              shuffle=training.get("shuffle", True), validation_data=validation, rng=rng,
                              callbacks=callbacks)
    except WorkerError as error:
        raise worker_died(error, callbacks) from None
    stopper = helpers["early_stopping"]
    if stopper is not None and stopper.best_epoch is not None:
        # which epoch's weights the model holds: the training chart marks it, the file keeps it
        network.metadata["early_stopping"] = {"monitor": stopper.monitor, "best_epoch": stopper.best_epoch,
                                              "stopped_epoch": stopper.stopped_epoch,
                                              "restored": stopper.restore_best}
    scores = evaluate(network, data.test, data.inputs(data.test))
    check_scores_are_finite(scores, history)
    if config["output"].get("test_rows"):
        save_rows(config["output"]["test_rows"], data.test)
    if report is not None:
        X_test = data.inputs(data.test)
        if data.task == "classification":
            report.finish(network, X_test, data.test.labels, predicted_classes(network, X_test), data.task,
                          data.test.class_names, config["data"].get("image_shape"))
        else:
            report.finish(network, X_test, data.test.values, predict_values(network, X_test), data.task)
    return network, history, scores


def report_path(config):
    """Where the HTML report goes when asked for: output.report, or beside the model."""
    path = config["output"].get("report")
    if not path:
        stem, _ = os.path.splitext(config["output"]["model_path"])
        path = stem + "_report.html"
    return path


def chart_title(config, config_path, network):
    """The training chart's title: the data file and the config it was trained with."""
    data = os.path.basename(config["data"]["path"])
    return f"{data} trained with {config_path}" if config_path else f"{data}: training curves"


def chart_marks(network):
    """(epoch, label) for the chart: the epoch whose weights early stopping kept, if it ran."""
    stopping = network.metadata.get("early_stopping")
    if not stopping:
        return []
    # where it stopped needs no mark: the curves end there
    kept = stopping["best_epoch"] if stopping["restored"] else None
    return [(kept, f"weights kept: epoch {kept}")] if kept else []


def check_scores_are_finite(scores, history):
    """TrainingDiverged unless every test score is a finite number: a model whose predictions
    overflow must not replace a model saved before."""
    bad = {key: value for key, value in scores.items() if isinstance(value, float) and not math.isfinite(value)}
    if bad:
        shown = ", ".join(f"{key} {value}" for key, value in bad.items())
        last = history["loss"][-1] if history.get("loss") else math.nan
        raise TrainingDiverged(f"the test scores are not finite ({shown}; the last training loss was "
                               f"{format_number(last)}): the model's outputs overflow. Try a smaller "
                               "learning rate or training.clip_norm. Nothing was saved: model and "
                               "checkpoint files from before are untouched.")


def save_rows(path, part):
    """Write the rows of a split as a CSV file with the feature and target columns, as read (before
    normalization), so `python main.py evaluate --input path` scores exactly these rows again.
    repr(float) reads back as the same float, so the scores are reproduced to the last digit."""
    names = part.feature_names + [part.target_name]
    if part.task == "classification":
        targets = [part.class_names[label] for label in part.labels]
    else:
        targets = [repr(row[0]) for row in part.values.rows]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for features, target in zip(part.X.rows, targets):
        writer.writerow([repr(value) for value in features] + [target])
    write_atomic(path, buffer.getvalue())


def config_from_checkpoint(state, path):
    """The validated config a checkpoint was trained with, and the path of its config file."""
    metadata = state["model"].get("metadata")
    config = metadata.get("config") if isinstance(metadata, dict) else None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: this checkpoint holds no config (it was not written by main.py); "
                         "continue it from Python with network.fit(..., resume=path)")
    return validate_config(config, f"{path}: config"), state.get("extra", {}).get("config_path")


def chart_path(config):
    """Where the training curves go: output.plot, or beside the model when it is null; '' for none."""
    plot = config["output"].get("plot")
    if plot is None:
        stem, _ = os.path.splitext(config["output"]["model_path"])
        plot = stem + "_training.svg"
    return plot


def check_output_paths(config, config_path=None):
    """Before any work starts: every file the run may write (model, chart, the checkpoint that
    checkpoint_every or a Ctrl-C writes, the report, the test rows) can be written, and none is a file the
    run reads or another output, which it would overwrite."""
    outputs = [("output.model_path", config["output"]["model_path"]), ("output.plot", chart_path(config)),
               ("training.checkpoint_path", config["training"].get("checkpoint_path")),
               ("output.report", config["output"].get("report")), ("output.test_rows", config["output"].get("test_rows"))]
    taken = {os.path.realpath(resolve_path(config["data"]["path"], config_path)): "the data file (data.path)"}
    if config_path:
        taken[os.path.realpath(config_path)] = "the config file"
    for key, path in outputs:
        if not path:
            continue
        check_writable(path)
        real = os.path.realpath(path)
        if real in taken:
            raise ConfigError([f"{key}: {path} is also {taken[real]}, which the run would overwrite; "
                               "choose another path"], config_path)
        taken[real] = key


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


def evaluate(network, part, X=None):
    """Scores of a trained network on labelled rows (a Dataset: a test split, or rows read by
    read_rows_for_model): accuracy, per-class scores and the confusion matrix, or RMSE, MAE, R^2.

    The one evaluation of training, `main.py evaluate` and `main.py predict`. X: the rows'
    normalized inputs when the caller has them; by default part.X normalized with the
    statistics saved in network.metadata, exactly as training normalized them.
    """
    if X is None:
        X = Normalizer.from_dict(network.metadata["normalization"]).transform(part.X)
    if part.task == "classification":
        predicted = predicted_classes(network, X)
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
    """Human-readable scores ending in lines a script can read: 'test accuracy: 0.9667'.

    prefix "" gives 'accuracy: 0.9667'.
    """
    prefix = f"{prefix} " if prefix else ""
    if "accuracy" not in scores:
        return [f"{prefix}rmse: {scores['rmse']:.4g}", f"{prefix}mae: {scores['mae']:.4g}",
                f"{prefix}r2: {format_number(scores['r2'])}"]
    names = scores["class_names"]
    width = max(8, max(len(n) for n in names))
    lines = [f"{'class':<{width}} precision  recall      f1  support"]
    for name, s in zip(names, scores["per_class"]):
        lines.append(f"{name:<{width}} {s['precision']:>9.4f} {s['recall']:>7.4f} {s['f1']:>7.4f} {s['support']:>8}")
    lines += ["confusion matrix (rows: true class, columns: predicted):",
              format_confusion_matrix(scores["confusion"], names), f"{prefix}accuracy: {scores['accuracy']:.4f}"]
    return lines

