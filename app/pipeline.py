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

from activations import sigmoid, softmax_rows
from app.config import DEFAULT_CONFIG, ConfigError, validate_config
from layers import flat_size
from losses import get_loss
from matrix import Matrix
from network import ModelFileError, Network
from optimizers import get_optimizer
from parallel import DataParallel, WorkerError
from schedulers import get_scheduler
from app.diagnostics import Diagnostics
from app.progress import Progress
from app.training import (Checkpoint, CheckpointError, EarlyStopping, TrainingDiverged, standard_callbacks,
                          worker_died)
from datasets import (DataError, Dataset, Normalizer, delimiter_problem, header_hint, load_csv, parse_number,
    read_csv_rows, train_test_split)
from metrics import accuracy, confusion_matrix, format_confusion_matrix, precision_recall_f1, regression_scores
from utils import check_writable, format_number, is_number, make_rng, quote, short, write_atomic


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


def predict_values(network, X):
    """Regression predictions in the target's own units (undoing the target normalization)."""
    output = network.predict(X)
    stats = network.metadata.get("target_normalization")
    return Normalizer.from_dict(stats).inverse_transform(output) if stats else output


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


# ------------------------------------------------------- a saved model on new rows
def load_model_for_prediction(path):
    """Load a model saved by `python main.py` and check it carries what prediction needs.

    Raises ModelFileError naming the file and the field when the file is damaged,
    written by a newer format version, or lacks the metadata (feature names,
    normalization, class names) that pipeline.model_metadata saves.
    """
    network = Network.load(path)
    check_model_metadata(network, path)
    return network


def _model_width(network, attribute, layers):
    """in_features of the first Dense layer or out_features of the last one."""
    for layer in layers:
        if hasattr(layer, attribute):
            return getattr(layer, attribute)
    return None


def check_model_metadata(network, source="model"):
    """ModelFileError unless network.metadata describes the inputs and outputs of network."""
    meta = network.metadata
    if not meta:
        raise ModelFileError(f"{source}: holds no metadata (feature names, normalization, class names), "
                             "which prediction needs; save models with `python main.py`, which writes it")
    first = network.layers[0]  # a convolution has no in_features: its input_shape says what it takes
    n_inputs = (flat_size(first.input_shape) if first.input_shape is not None
                else _model_width(network, "in_features", network.layers))
    n_outputs = _model_width(network, "out_features", reversed(network.layers))

    def bad(field, needs):
        raise ModelFileError(f"{source}: metadata.{field} must be {needs}, got {meta.get(field)!r:.80}")

    if meta.get("task") not in ("classification", "regression"):
        bad("task", "'classification' or 'regression'")
    features = meta.get("feature_names")
    if (not isinstance(features, list) or not all(isinstance(name, str) for name in features)
            or len(features) != n_inputs):
        bad("feature_names", f"a list of {n_inputs} column names (the model has {n_inputs} inputs)")
    if not isinstance(meta.get("target"), str):
        bad("target", "the target column's name")
    _check_normalization(meta.get("normalization"), n_inputs, "normalization", bad)
    if meta["task"] == "classification":
        names = meta.get("class_names")
        if (not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names)
                or len(set(names)) != len(names)):
            bad("class_names", "a list of at least 2 different class names")
        if n_outputs not in (len(names), 1 if len(names) == 2 else None):
            bad("class_names", f"as many names as the model has outputs ({n_outputs})")
    elif meta.get("target_normalization") is not None:
        _check_normalization(meta["target_normalization"], n_outputs, "target_normalization", bad)
    # the training config is kept for reference; prediction reads only its CSV delimiter
    config = meta.get("config", {})
    data = config.get("data", {}) if isinstance(config, dict) else None
    if not isinstance(data, dict) or delimiter_problem(data.get("delimiter", ",")):
        bad("config", "the training config, whose data.delimiter is one character")


def _check_normalization(stats, width, field, bad):
    needs = f"normalization statistics (method, shift, scale) for {width} columns"
    if not isinstance(stats, dict) or stats.get("method") not in Normalizer.METHODS:
        bad(field, needs)
    for key in ("shift", "scale"):
        values = stats.get(key)
        if (not isinstance(values, list) or len(values) != width
                or not all(is_number(v) for v in values)):
            bad(field, needs)
    if not all(scale > 0 for scale in stats["scale"]):  # the features are divided by it
        bad(field, needs + ", each scale > 0")


def read_rows_for_model(path, metadata, delimiter=None):
    """The rows of a CSV file to run a saved model on: (rows, labelled, positions).

    rows: a Dataset of every row's features, without targets. The model's feature
    columns are found by name, so their order in the file does not matter and other
    columns are ignored. When the file has the target column too, labelled is a
    Dataset of the rows where it is filled in, with their labels (in the model's class
    numbering) or values, and positions their indices in rows; a blank target means
    "predict this row", not a mistake. Otherwise labelled is None and positions [].
    delimiter: by default the one the model trained with.
    """
    if delimiter is None:
        delimiter = metadata.get("config", {}).get("data", {}).get("delimiter", ",")
    features, target = metadata["feature_names"], metadata["target"]
    header, lines = read_csv_rows(path, delimiter)
    missing = [name for name in features if name not in header]
    if missing:
        raise DataError(f"{path}: missing feature column(s) {short(', '.join(map(quote, missing)), 400)}; "
                        f"the model needs {short(', '.join(features), 400)}" + header_hint(header, delimiter))
    positions = [header.index(name) for name in features]
    X = Matrix.from_rows([[parse_number(cells[p], path, line, header[p]) for p in positions]
                          for line, cells in lines], len(positions))
    rows = Dataset(X, list(features), target, metadata["task"], class_names=metadata.get("class_names"))
    target_at = header.index(target) if target in header else None
    labelled = [index for index, (_, cells) in enumerate(lines) if target_at is not None and cells[target_at]]
    if not labelled:
        return rows, None, []
    scored = load_csv(path, target, features, delimiter, metadata["task"], metadata.get("class_names"),
                      header_and_rows=(header, [lines[index] for index in labelled]))
    return rows, scored, labelled


def class_probabilities(network, X):
    """Each row's probability of every class, as lists.

    A softmax (or sigmoid) output layer gives them directly; a model that outputs
    logits (output_activation "linear") gets the softmax or sigmoid applied here.
    One sigmoid unit gives P(second class) = p, so the first class has 1 - p.
    """
    output = network.predict(X)
    last = getattr(network.layers[-1], "name", None)
    if output.shape[1] == 1:
        column = [row[0] if last == "sigmoid" else sigmoid(row[0]) for row in output.rows]
        return [[1.0 - p, p] for p in column]
    probabilities = output if last in ("softmax", "sigmoid") else softmax_rows(output)
    return [list(row) for row in probabilities.rows]


def predicted_classes(network, X):
    """The predicted class index of each row: Network.predict_classes, the framework's one rule."""
    return network.predict_classes(X)


def predict_rows(network, dataset):
    """What the model says about each row of a Dataset read by read_rows_for_model.

    Classification: (class name, its probability) per row.
    Regression: the list of predicted target values per row, in the target's own units.
    """
    X = Normalizer.from_dict(network.metadata["normalization"]).transform(dataset.X)
    if network.metadata["task"] == "regression":
        return [list(row) for row in predict_values(network, X).rows]
    names = network.metadata["class_names"]
    classes = network.predict_classes(X)
    return [(names[best], row[best]) for best, row in zip(classes, class_probabilities(network, X))]


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

