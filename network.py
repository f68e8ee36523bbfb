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

from activations import get_activation
from callbacks import CallbackList, TrainingRun
from layer_specs import build_layers
from layers import BatchNorm, Dense, Dropout, Layer, flat_size
from losses import predicted_classes, targets_as_matrix
from matrix import Matrix
# the model file's pieces, named here too: `from network import LAYER_TYPES, ModelFileError` keeps working
from model_file import (FORMAT_NAME, FORMAT_VERSION, LAYER_TYPES, ModelFileError, layer_from_dict,  # noqa: F401
                        layer_to_dict, register_layer)
from utils import InputError, make_rng, read_json, write_atomic

class _InputShape(Layer):
    """A stand-in first layer that only declares the input shape (for summary(n_inputs))."""

    def __init__(self, shape):
        self.input_shape = shape


class ModelTooLarge(InputError):
    """A config asks for more parameters than MAX_PARAMETERS; the message names the layer."""


# The most parameters a network built from a config (Network.from_config) may have. Pure Python
# keeps each as a float object in a list, about 32 bytes, and training holds four copies (the
# value, its gradient and Adam's two moments): a million parameters take some 130 MB and train
# at a few dozen rows a second. `units: 10000000` would allocate for minutes and then fail with
# a MemoryError; it is refused before anything is allocated. A network built layer by layer
# in Python has no limit.
MAX_PARAMETERS = 1_000_000


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
        for index, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {index} is {layer!r:.60}, not a layer (a subclass of layers.Layer, "
                                "such as Dense(4, 16) or ReLU())")
        self.metadata = dict(metadata or {})
        self.shapes = self._connect()

    def _connect(self):
        """Pass the per-sample shape from layer to layer (Layer.build), so each layer knows its
        input geometry and a mismatch is found now; returns each layer's output shape (None
        until a layer that knows its input, such as Dense, has been reached)."""
        shapes, shape = [], None
        for index, layer in enumerate(self.layers):
            if shape is None and layer.input_shape is not None:
                shape = tuple(layer.input_shape)
            if shape is not None:
                try:
                    shape = layer.build(shape)
                except ValueError as error:
                    raise ValueError(f"layer {index}: {error}") from None
            shapes.append(shape)
        return shapes

    # ------------------------------------------------------------- the passes
    def forward(self, X, training=False, layers=None):
        """Run X through the layers (all of them by default) and return the output."""
        if not isinstance(X, Matrix):
            raise TypeError(f"a Network takes its inputs as a Matrix of shape (n_samples, n_features), "
                            f"got {type(X).__name__}; wrap the rows: Matrix(rows)")
        for layer in self.layers if layers is None else layers:
            X = layer.forward(X, training)
        return X

    def backward(self, grad, layers=None, input_grad=True):
        """Send dL/d(output) back through the layers; returns dL/d(input).

        With input_grad=False (as fit calls it) a first Dense layer skips dL/d(input),
        a gradient with respect to the data that nothing uses (PyTorch skips it too
        for inputs without requires_grad), and None is returned.
        """
        layers = self.layers if layers is None else layers
        for layer in reversed(layers[1:]):
            grad = layer.backward(grad)
        return layers[0].backward(grad, input_grad=input_grad)

    def parameters(self):
        """Every trainable Parameter, first layer first."""
        return [p for layer in self.layers for p in layer.parameters()]

    def _weight_slots(self):
        """(owner, attribute) of every parameter value and buffer, in the order of get_weights."""
        slots = []
        for layer in self.layers:
            slots += [(p, "value") for p in layer.parameters()]
            slots += [(layer, name) for name in layer.buffers()]
        return slots

    def get_weights(self):
        """A copy of every parameter and buffer (BatchNorm's running statistics) as lists of rows,
        first layer first; set_weights puts it back (early stopping keeps the best epoch's this way)."""
        return [getattr(owner, name).tolist() for owner, name in self._weight_slots()]

    def set_weights(self, weights):
        """Replace every parameter and buffer by the lists of rows get_weights gave."""
        slots = self._weight_slots()
        if len(weights) != len(slots):
            raise ValueError(f"set_weights got {len(weights)} matrices, this network has {len(slots)}")
        values = []
        for (owner, name), rows in zip(slots, weights):
            value, current = Matrix(rows), getattr(owner, name)
            if value.shape != current.shape:
                raise ValueError(f"set_weights: a matrix of shape {value.shape} for a {name} of shape {current.shape}")
            values.append(value)
        for (owner, name), value in zip(slots, values):
            if isinstance(owner, Layer):
                owner.set_buffer(name, value)
            else:
                owner.value = value

    def training_layers(self, loss):
        """The layers to train through: all but a final activation that `loss` fuses with."""
        last = self.layers[-1]
        if loss.fuses_with is not None and last.name == loss.fuses_with:
            return self.layers[:-1]
        return self.layers

    def is_classifier(self, loss=None):
        """True when outputs are class scores: a softmax/sigmoid output or a classification loss."""
        if loss is not None and loss.fuses_with is not None:
            return True
        return self.layers[-1].name in ("softmax", "sigmoid")

    # ------------------------------------------------------------------- fit
    def fit(self, X, Y, loss, optimizer, epochs, batch_size=32, shuffle=True, validation_data=None,
            rng=None, callbacks=()):
        """Train with mini-batch gradient descent; returns the history, a dict of per-epoch lists.

        Each epoch shuffles the rows (with `rng`, a random.Random, for reproducibility), and
        for each batch: forward, loss (plus the layers' L1/L2 penalties), backward, step.
        history["loss"] is the mean training loss of each epoch, "accuracy" the training
        accuracy (classifiers), "val_loss" and "val_accuracy" the same on validation_data =
        (X_val, Y_val) when given, and "lr" the epoch's learning rate. Everything else
        (progress, schedules, early stopping, checkpoints, Ctrl-C, the NaN guard, clipping,
        diagnostics) is a callback (callbacks.py; the ready-made ones are in app/training.py).
        """
        _check_fit_arguments(X, Y, epochs, batch_size)
        self.check_optimizer(optimizer)
        hooks = CallbackList(callbacks)
        run = TrainingRun(self, X, Y, loss, optimizer, epochs, batch_size, shuffle, validation_data,
                          rng if rng is not None else make_rng(0), hooks)
        try:
            hooks.on_train_begin(run)
            for epoch in run.epoch_numbers():
                batches = run.begin_epoch(epoch)
                hooks.on_epoch_begin(run)
                for number, bounds in batches:
                    X_batch, Y_batch = run.take_batch(number, bounds)
                    run.output = self.forward(X_batch, training=True, layers=run.layers)
                    run.batch_loss = loss.forward(run.output, Y_batch) + self.penalty()
                    self.backward(loss.backward(), layers=run.layers, input_grad=False)
                    hooks.on_backward_end(run)
                    optimizer.step()
                    run.count_batch()
                    hooks.on_batch_end(run)
                run.end_epoch()
                hooks.on_epoch_end(run)
                if run.stop:
                    break
            hooks.on_train_end(run)
        finally:
            hooks.teardown(run)
        return run.history

    def penalty(self):
        """The sum of the layers' L1 / L2 penalties (0.0 without any): part of the training loss."""
        return math.fsum(layer.penalty() for layer in self.layers)

    # ------------------------------------------------------------- inference
    def predict(self, X, batch_size=256):
        """The network's outputs for X: probabilities for a softmax/sigmoid output.

        X is a Matrix, or a compact data set (idx.ByteImages), which is converted and run
        `batch_size` rows at a time, so only one batch of floats exists at once."""
        if isinstance(X, Matrix) or not hasattr(X, "take"):
            return self.forward(X, training=False)  # which explains what a network takes
        return _concatenate([self.forward(X.take(batch), training=False) for batch in _chunks(len(X), batch_size)])

    def outputs_logits(self):
        """True when predict returns logits (the network ends without softmax or sigmoid, as a
        model trained with output_activation 'linear' and a cross-entropy loss does)."""
        return self.layers[-1].name not in ("softmax", "sigmoid")

    def predict_classes(self, X):
        """The predicted class index of each row (losses.predicted_classes): the argmax, or for one
        output unit, probability > 0.5 (a sigmoid output) or logit > 0 (a linear one)."""
        return predicted_classes(self.predict(X), logits=self.outputs_logits())

    def evaluate(self, X, Y, loss, batch_size=256):
        """{"loss": L} on (X, Y), plus "accuracy" for classifiers, without training.

        A compact data set X (idx.ByteImages; Y then its `targets`) is evaluated `batch_size`
        rows at a time: L is the mean of the batches' losses weighted by their sizes."""
        if not isinstance(X, Matrix) and hasattr(X, "take"):
            total_loss, correct = 0.0, 0.0
            for batch in _chunks(len(X), batch_size):
                targets = Y.take(batch) if hasattr(Y, "take") else [Y[i] for i in batch]
                scores = self.evaluate(X.take(batch), targets, loss)
                total_loss += scores["loss"] * len(batch)
                correct += scores.get("accuracy", 0.0) * len(batch)
            scores = {"loss": total_loss / len(X)}
            if self.is_classifier(loss):
                scores["accuracy"] = round(correct) / len(X)
            return scores
        layers = self.training_layers(loss)
        output = self.forward(X, training=False, layers=layers)
        Y = targets_as_matrix(Y, output.shape, type(loss).__name__)  # class indices become one-hot rows
        scores = {"loss": loss.forward(output, Y)}
        if self.is_classifier(loss):
            scores["accuracy"] = loss.count_correct(output, Y) / len(X)
        return scores

    # --------------------------------------------------------------- summary
    def summary(self, n_inputs=None):
        """A table of the layers, their output shapes (None for the batch) and parameter counts.
        A container's layers (a Residual's) follow it, indented; the counts are theirs."""
        shapes = self.shapes
        if n_inputs is not None and shapes[0] is None:
            shapes = Network([_InputShape((n_inputs,))] + self.layers).shapes[1:]
        rows = _summary_rows(self.layers, shapes, 0)
        width = max([36] + [len(name) + 2 for name, _, _ in rows])  # the name column, wider for long names
        row_format = "{:<%d}{:<20}{:>10}" % width
        lines = [row_format.format("Layer", "Output shape", "Params"), "=" * (width + 30)]
        total = 0
        for name, shape, count in rows:
            total += count or 0
            shown = "(None, " + ", ".join(map(str, shape)) + ")" if shape is not None else "?"
            lines.append(row_format.format(name, shown, "" if count is None else f"{count:,}"))
        lines += ["=" * (width + 30), f"Total parameters: {total:,}"]
        return "\n".join(lines)

    # ------------------------------------------------------- save and load
    def to_dict(self):
        """The model as plain JSON-ready data: layer types, their options and weights."""
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "layers": [layer_to_dict(layer) for layer in self.layers], "metadata": self.metadata}

    def save(self, path):
        """Write the model as JSON, atomically: a crash leaves the old file or the new one."""
        write_atomic(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path):
        """Read a model saved by `save`. Raises ModelFileError naming the problem."""
        data = read_json(path, "model", ModelFileError)
        return cls.from_dict(data, source=path)

    @classmethod
    def from_dict(cls, data, source="model"):
        """Rebuild a network from `to_dict` data, checking every field."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source}: not a model file of this framework (field 'format' is not {FORMAT_NAME!r})")
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ModelFileError(f"{source}: field 'format_version' must be an integer >= 1, got {version!r:.40}")
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
        layers = [layer_from_dict(entry, f"{source}: layers[{i}]") for i, entry in enumerate(entries)]
        try:
            return cls(layers, metadata)
        except ValueError as error:  # the layers' shapes do not connect
            raise ModelFileError(f"{source}: {error}") from None

    # ---------------------------------------------------------------- config
    @classmethod
    def from_config(cls, model_config, n_inputs, n_outputs, rng=None, input_shape=None):
        """Build the network a config's "model" section describes.

        {"hidden_layers": [{"units": 16, "activation": "relu"}], "output_activation": "softmax", "init": "he"}
        with n_inputs from the data and n_outputs from the classes (or target columns). Or
        {"layers": [{"type": "conv2d", "filters": 8, "kernel_size": 3}, ...], ...} (layer_specs.py),
        the per-sample input_shape then giving the geometry ((C, H, W) for images; default (n_inputs,)).
        Either way a Dense output layer of n_outputs units, then the output activation, ends it.
        A layer that does not fit its input raises ValueError naming the entry and the shapes.
        """
        rng = rng if rng is not None else make_rng(0)
        init = model_config.get("init", "he")
        if model_config.get("layers") is None:
            check_model_size(model_config, n_inputs, n_outputs)  # before any weight is allocated
        else:
            shape = tuple(input_shape) if input_shape is not None else (n_inputs,)
            if flat_size(shape) != n_inputs:
                raise ValueError(f"the input shape {shape} holds {flat_size(shape)} values per row, but the data has "
                                 f"{n_inputs} feature columns")
            layers, shape = build_layers(model_config["layers"], shape, init, rng)
            return cls._with_output(layers, flat_size(shape), n_outputs, init, model_config, rng)
        layers, width = [], n_inputs
        for spec in model_config.get("hidden_layers", []):
            units, batch_norm, dropout = spec["units"], spec.get("batch_norm", False), spec.get("dropout", 0)
            # BatchNorm's shift beta does the bias's job (and the batch mean would cancel a bias anyway)
            layers.append(Dense(width, units, init=init, rng=rng, bias=not batch_norm,
                                l1=spec.get("l1", 0.0), l2=spec.get("l2", 0.0)))
            if batch_norm:
                layers.append(BatchNorm(units))
            layers.append(get_activation(spec.get("activation", "relu")))
            if dropout:
                layers.append(Dropout(dropout, rng=rng))  # the masks come from the run's one seed too
            width = units
        return cls._with_output(layers, width, n_outputs, init, model_config, rng)

    @classmethod
    def _with_output(cls, layers, width, n_outputs, init, model_config, rng):
        """The network of `layers` and the output layer: Dense(width -> n_outputs), then the output activation."""
        # He init assumes a ReLU after it, so Xavier suits the (often linear) scores better
        output_init = "xavier" if init == "he" else init
        layers.append(Dense(width, n_outputs, init=output_init, rng=rng))
        output_activation = model_config.get("output_activation", "softmax")
        if output_activation not in ("linear", "pass"):
            layers.append(get_activation(output_activation))
        return cls(layers)

    def check_optimizer(self, optimizer):
        """ValueError unless every parameter `optimizer` updates belongs to this network.

        An optimizer built on another network's parameters (net_a.fit(..., Adam(net_b.parameters())))
        would train nothing here, silently; one built on some of this network's parameters
        (the others frozen) is fine. fit calls this before the first batch.
        """
        params = getattr(optimizer, "params", None)
        if params is None:
            return
        mine = {id(param) for param in self.parameters()}
        foreign = [param for param in params if id(param) not in mine]
        if foreign:
            raise ValueError(f"{type(optimizer).__name__} updates {len(params)} parameters, and {len(foreign)} of "
                             f"them (the first a {foreign[0].value.shape[0]}x{foreign[0].value.shape[1]} "
                             f"{foreign[0].name!r}) are not this network's: it was built on another "
                             f"network's parameters; build it on this one: "
                             f"{type(optimizer).__name__}(network.parameters(), ...)")


# ------------------------------------------------------------------ helpers
def _summary_rows(layers, shapes, depth):
    """(name, output shape, parameter count) for each layer; a container's count is None and
    its layers follow, indented two spaces more."""
    rows = []
    for layer, shape in zip(layers, shapes):
        inner = layer.sublayers()
        count = None if inner else sum(p.value.shape[0] * p.value.shape[1] for p in layer.parameters())
        rows.append(("  " * depth + repr(layer), shape, count))
        if inner:
            rows += _summary_rows(inner, layer.shapes, depth + 1)
    return rows


def is_row_source(data):
    """True for a Matrix or a compact data set (idx.ByteImages): anything with len() and
    take(indices) -> Matrix, so that fit converts one batch of rows at a time."""
    return isinstance(data, Matrix) or (hasattr(data, "take") and hasattr(data, "__len__"))


def _chunks(n, size):
    """range(start, stop) of each run of `size` consecutive rows of n (the last may be shorter)."""
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def _concatenate(matrices):
    """The rows of several matrices of the same width, one after the other, as one Matrix."""
    return Matrix.from_rows([row for matrix in matrices for row in matrix.rows], matrices[0].shape[1])


def check_model_size(model_config, n_inputs, n_outputs, limit=None):
    """ModelTooLarge, naming the layer, when the network a config's "model" section describes
    would have more than MAX_PARAMETERS parameters: checked from the sizes alone, before
    any weight is allocated. Dense(in -> out) has in * out + out parameters (no bias with
    batch_norm, whose scale and shift add 2 * out)."""
    limit = MAX_PARAMETERS if limit is None else limit
    sizes, width = [], n_inputs
    for index, spec in enumerate(model_config.get("hidden_layers", [])):
        units = spec["units"]
        sizes.append((f"model.hidden_layers[{index}]", width, units, width * units + units))
        width = units
    sizes.append(("the output layer", width, n_outputs, width * n_outputs + n_outputs))
    total = sum(count for *_, count in sizes)
    if total <= limit:
        return
    where, n_in, n_out, count = max(sizes, key=lambda size: size[3])
    raise ModelTooLarge(f"{where}: Dense({n_in:,} -> {n_out:,}) would have {count:,} parameters "
                        f"({total:,} in the whole network), and a model built from a config may have at most "
                        f"{limit:,} (network.MAX_PARAMETERS): pure Python would take minutes to allocate them "
                        "and hours to train; use fewer units")


def _check_fit_arguments(X, Y, epochs, batch_size):
    if not is_row_source(X) or not is_row_source(Y):
        raise TypeError(f"fit needs X and Y as Matrix objects (or compact data sets with take()), got "
                        f"{type(X).__name__} and {type(Y).__name__} "
                        "(class indices become one-hot rows with losses.one_hot(labels, n_classes))")
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}: they must match")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


