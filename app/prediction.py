"""A saved model on new rows: load it, check its metadata, read a CSV the way it was trained,
and say what it predicts (python main.py predict / evaluate).

    load_model_for_prediction   a model file, with every field prediction needs checked
    read_rows_for_model         a CSV read and normalized as the model's training data was
    class_probabilities, predicted_classes, predict_rows   what the model says about them
"""

from activations import sigmoid, softmax_rows
from layers import flat_size
from matrix import Matrix
from network import ModelFileError, Network
from datasets import (DataError, Dataset, Normalizer, delimiter_problem, header_hint, load_csv, parse_number,
                      read_csv_rows)
from utils import is_number, quote, short


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


def predict_values(network, X):
    """Regression predictions in the target's own units (undoing the target normalization)."""
    output = network.predict(X)
    stats = network.metadata.get("target_normalization")
    return Normalizer.from_dict(stats).inverse_transform(output) if stats else output


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
