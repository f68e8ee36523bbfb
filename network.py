"""Network: a sequence of layers, trained by backpropagation.

    forward:   X -> layer 1 -> layer 2 -> ... -> Y
    backward:  dL/dY -> ... -> layer 2.backward -> layer 1.backward -> dL/dX
Each layer's backward applies the chain rule for its own operation and fills
its parameters' gradients; the optimizer then updates them.

A network whose last layer is softmax (or sigmoid) trained with cross-entropy
(or binary cross-entropy) skips that last layer during training and gives the
loss the logits instead: the loss fuses the two steps stably (see losses.py).
`predict` runs every layer, so it returns probabilities.
"""

import json
import math
import time

from activations import ACTIVATIONS, get_activation
from layers import Dense
from matrix import Matrix
from utils import write_atomic, make_rng

FORMAT_NAME = "pure-python-neural-network"
FORMAT_VERSION = 1

# Layer type name in a saved model -> class. Loading looks names up here and
# nowhere else, so a model file can never make us run anything else.
LAYER_TYPES = {"Dense": Dense}
LAYER_TYPES.update({cls.__name__: cls for cls in ACTIVATIONS.values()})


class ModelFileError(ValueError):
    """A saved model that cannot be read; the message names the file and the field."""


class Network:
    """A sequential stack of layers.

    Network([Dense(4, 16), ReLU(), Dense(16, 3), Softmax()])
    `metadata` carries what prediction needs besides the weights (class names,
    feature names, normalization statistics, the training config) and is saved
    with the model.
    """

    def __init__(self, layers, metadata=None):
        if not layers:
            raise ValueError("a Network needs at least one layer")
        self.layers = list(layers)
        self.metadata = dict(metadata or {})

    # ------------------------------------------------------------- the passes
    def forward(self, X, training=False, layers=None):
        """Run X through the layers (all of them by default) and return the output."""
        for layer in self.layers if layers is None else layers:
            X = layer.forward(X, training)
        return X

    def backward(self, grad, layers=None):
        """Send dL/d(output) back through the layers; returns dL/d(input)."""
        for layer in reversed(self.layers if layers is None else layers):
            grad = layer.backward(grad)
        return grad

    def parameters(self):
        """Every trainable Parameter, first layer first."""
        return [p for layer in self.layers for p in layer.parameters()]

    def _training_layers(self, loss):
        """The layers to train through: all but a final activation that `loss` fuses with."""
        last = self.layers[-1]
        if loss.fuses_with is not None and getattr(last, "name", None) == loss.fuses_with:
            return self.layers[:-1]
        return self.layers

    def is_classifier(self, loss=None):
        """True when outputs are class scores: a softmax/sigmoid output or a classification loss."""
        if loss is not None and loss.fuses_with is not None:
            return True
        return getattr(self.layers[-1], "name", None) in ("softmax", "sigmoid")

    # ------------------------------------------------------------------- fit
    def fit(self, X, Y, loss, optimizer, epochs, batch_size=32, shuffle=True,
            validation_data=None, rng=None, verbose=True):
        """Train with mini-batch gradient descent; returns the history, a dict of per-epoch lists.

        Each epoch shuffles the rows (with `rng`, a random.Random, for
        reproducibility), and for each batch: forward, loss, backward, step.
        history["loss"] is the mean training loss of each epoch, history["accuracy"]
        the training accuracy (classifiers), and "val_loss", "val_accuracy" the
        same on `validation_data` = (X_val, Y_val) when given.
        """
        _check_fit_arguments(X, Y, epochs, batch_size)
        rng = rng if rng is not None else make_rng(0)
        layers = self._training_layers(loss)
        threshold = 0.0 if layers is not self.layers else 0.5  # logits when the loss fused the output
        classifier = self.is_classifier(loss)
        history = {"loss": []}
        if classifier:
            history["accuracy"] = []
        if validation_data is not None:
            history["val_loss"] = []
            if classifier:
                history["val_accuracy"] = []
        n = len(X)
        order = list(range(n))
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            if shuffle:
                rng.shuffle(order)
            total_loss, correct = 0.0, 0
            for start in range(0, n, batch_size):
                batch = order[start:start + batch_size]
                X_batch, Y_batch = X.take(batch), Y.take(batch)
                output = self.forward(X_batch, training=True, layers=layers)
                total_loss += loss.forward(output, Y_batch) * len(batch)
                self.backward(loss.backward(), layers=layers)
                optimizer.step()
                if classifier:
                    correct += _count_correct(output, Y_batch, threshold)
            history["loss"].append(total_loss / n)
            if classifier:
                history["accuracy"].append(correct / n)
            if validation_data is not None:
                scores = self.evaluate(validation_data[0], validation_data[1], loss)
                history["val_loss"].append(scores["loss"])
                if classifier:
                    history["val_accuracy"].append(scores["accuracy"])
            if not math.isfinite(history["loss"][-1]):
                raise FloatingPointError(
                    f"epoch {epoch}: the training loss became {history['loss'][-1]}; "
                    f"try a smaller learning rate (now {optimizer.lr})"
                )
            if verbose:
                print(format_epoch(epoch, epochs, history, time.perf_counter() - started), flush=True)
        return history

    # ------------------------------------------------------------- inference
    def predict(self, X):
        """The network's outputs for X: probabilities for a softmax/sigmoid output."""
        return self.forward(X, training=False)

    def predict_classes(self, X):
        """The predicted class index of each row: the argmax, or output > 0.5 for one sigmoid unit."""
        output = self.predict(X)
        if output.shape[1] == 1:
            return [1 if row[0] > 0.5 else 0 for row in output.rows]
        return output.argmax(axis=1)

    def evaluate(self, X, Y, loss):
        """{"loss": L} on (X, Y), plus "accuracy" for classifiers, without training."""
        layers = self._training_layers(loss)
        output = self.forward(X, training=False, layers=layers)
        scores = {"loss": loss.forward(output, Y)}
        if self.is_classifier(loss):
            threshold = 0.0 if layers is not self.layers else 0.5
            scores["accuracy"] = _count_correct(output, Y, threshold) / len(X)
        return scores

    # --------------------------------------------------------------- summary
    def summary(self, n_inputs=None):
        """A table of the layers, their output shapes and parameter counts."""
        n_inputs = n_inputs or getattr(self.layers[0], "in_features", None)
        width = n_inputs
        lines = ["{:<28}{:<18}{:>10}".format("Layer", "Output shape", "Params"), "=" * 56]
        total = 0
        for layer in self.layers:
            width = getattr(layer, "out_features", width)
            count = sum(p.value.shape[0] * p.value.shape[1] for p in layer.parameters())
            total += count
            lines.append("{:<28}{:<18}{:>10,}".format(repr(layer), f"(None, {width})", count))
        lines += ["=" * 56, f"Total parameters: {total:,}"]
        return "\n".join(lines)

    # ------------------------------------------------------- save and load
    def to_dict(self):
        """The model as plain JSON-ready data: layer types, their options and weights."""
        layers = []
        for layer in self.layers:
            entry = {"type": type(layer).__name__, "config": layer.get_config()}
            params = layer.parameters()
            if params:
                entry["parameters"] = {p.name: p.value.tolist() for p in params}
            layers.append(entry)
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "layers": layers, "metadata": self.metadata}

    def save(self, path):
        """Write the model as JSON, atomically: a crash leaves the old file or the new one."""
        write_atomic(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path):
        """Read a model saved by `save`. Raises ModelFileError naming the problem."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ModelFileError(f"{path}: model file not found") from None
        except IsADirectoryError:
            raise ModelFileError(f"{path}: is a directory, expected a model file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelFileError(f"{path}: not a valid model file (damaged or truncated JSON: {error})") from None
        return cls.from_dict(data, source=path)

    @classmethod
    def from_dict(cls, data, source="model"):
        """Rebuild a network from `to_dict` data, checking every field."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source}: not a model file of this framework (field 'format' is not {FORMAT_NAME!r})")
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ModelFileError(f"{source}: field 'format_version' must be an integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise ModelFileError(
                f"{source}: written by a newer version of this framework (format {version}; "
                f"this one reads up to {FORMAT_VERSION})"
            )
        entries = data.get("layers")
        if not isinstance(entries, list) or not entries:
            raise ModelFileError(f"{source}: field 'layers' must be a non-empty list")
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ModelFileError(f"{source}: field 'metadata' must be an object")
        layers = [_layer_from_dict(entry, f"{source}: layers[{i}]") for i, entry in enumerate(entries)]
        for i in range(1, len(layers)):
            _check_layers_connect(layers, i, source)
        return cls(layers, metadata)

    # ---------------------------------------------------------------- config
    @classmethod
    def from_config(cls, model_config, n_inputs, n_outputs, rng=None):
        """Build the network a config's "model" section describes.

        {"hidden_layers": [{"units": 16, "activation": "relu"}], "output_activation": "softmax", "init": "he"}
        with n_inputs from the data and n_outputs from the classes (or target columns).
        """
        rng = rng if rng is not None else make_rng(0)
        init = model_config.get("init", "he")
        layers, width = [], n_inputs
        for spec in model_config.get("hidden_layers", []):
            layers.append(Dense(width, spec["units"], init=init, rng=rng))
            layers.append(get_activation(spec.get("activation", "relu")))
            width = spec["units"]
        # the output layer: He init assumes a ReLU after it, so Xavier suits the (often linear) scores better
        output_init = "xavier" if init == "he" else init
        layers.append(Dense(width, n_outputs, init=output_init, rng=rng))
        output_activation = model_config.get("output_activation", "softmax")
        if output_activation not in ("linear", "pass"):
            layers.append(get_activation(output_activation))
        return cls(layers)


# ------------------------------------------------------------------ helpers
def _check_fit_arguments(X, Y, epochs, batch_size):
    if not isinstance(X, Matrix) or not isinstance(Y, Matrix):
        raise TypeError("fit needs X and Y as Matrix objects")
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}: they must match")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _count_correct(output, Y, threshold):
    """Rows whose predicted class equals the target's: the argmax of each row, or for a
    single output unit, output > threshold (0 for a logit, 0.5 for a probability)."""
    if output.shape[1] == 1:
        return sum((o[0] > threshold) == (y[0] > 0.5) for o, y in zip(output.rows, Y.rows))
    return sum(o.index(max(o)) == y.index(max(y)) for o, y in zip(output.rows, Y.rows))


def format_epoch(epoch, epochs, history, seconds):
    """One progress line: 'epoch   3/150  loss 0.4213  accuracy 0.8833  val_loss ...  (0.02 s)'."""
    parts = [f"epoch {epoch:>{len(str(epochs))}}/{epochs}"]
    for key, values in history.items():
        parts.append(f"{key} {values[-1]:.4f}")
    return "  ".join(parts) + f"  ({seconds:.2f} s)"


def _layer_from_dict(entry, where):
    if not isinstance(entry, dict):
        raise ModelFileError(f"{where}: must be an object")
    kind = entry.get("type")
    if kind not in LAYER_TYPES:
        raise ModelFileError(f"{where}: unknown layer type {kind!r}; valid: {', '.join(sorted(LAYER_TYPES))}")
    config = entry.get("config", {})
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}.config: must be an object")
    try:
        layer = LAYER_TYPES[kind](**config) if kind != "Dense" else Dense(**dict(config, init="zeros"))
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{where}.config: {error}") from None
    saved = entry.get("parameters", {})
    if not isinstance(saved, dict):
        raise ModelFileError(f"{where}.parameters: must be an object")
    for param in layer.parameters():
        if param.name not in saved:
            raise ModelFileError(f"{where}.parameters: missing {param.name!r}")
        try:
            value = Matrix(saved[param.name])
        except ValueError as error:
            raise ModelFileError(f"{where}.parameters.{param.name}: {error}") from None
        if value.shape != param.value.shape:
            raise ModelFileError(
                f"{where}.parameters.{param.name}: shape {value.shape} does not match the layer's {param.value.shape}"
            )
        param.value = value
        param.zero_grad()
    extra = set(saved) - {p.name for p in layer.parameters()}
    if extra:
        raise ModelFileError(f"{where}.parameters: unexpected {', '.join(sorted(extra))}")
    return layer


def _check_layers_connect(layers, i, source):
    """Each Dense layer must take as many inputs as the previous Dense layer gives."""
    layer = layers[i]
    if not hasattr(layer, "in_features"):
        return
    for earlier in reversed(layers[:i]):
        if hasattr(earlier, "out_features"):
            if earlier.out_features != layer.in_features:
                raise ModelFileError(
                    f"{source}: layers[{i}] takes {layer.in_features} inputs but the layer before gives "
                    f"{earlier.out_features}"
                )
            return
