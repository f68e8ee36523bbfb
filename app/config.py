"""Configuration: check the JSON file that `python main.py` reads, all at once, before any work.

SCHEMA below describes the whole file as nested small spec objects (Integer, Real,
Boolean, String, Choice, ListOf, Section, Variant), each with its type, constraint
and default; adding an option is one line. One generic walk checks a config
against it, fills in the defaults and reports EVERY problem, so the user fixes the
file in one go; checks between two fields follow in CROSS_CHECKS. For example:

    config.json: unknown key 'trainig' (did you mean 'training'?); model.hidden_layers[1].units: must be a positive integer, got 0

The spec classes are in app/schema.py. The valid names of activations, losses, optimizers
and initializers are read
from their registries.
"""

import copy
import inspect
import json
import os

import activations
import layers
import losses
import optimizers
import schedulers
from datasets import Normalizer, delimiter_problem
from layer_specs import build_layers
from app.schema import (Boolean, Choice, Integer, IntOrPair, ListOf, Real, Section, Shape, String,
                        Variant, _Run, _show)
from utils import InputError, parse_json, quote

# The valid names come from the registries, so a new activation, loss or
# optimizer is accepted by the config as soon as it is registered.
ACTIVATIONS = activations.ACTIVATIONS  # the registry itself: a layer added by network.register_layer counts
LOSSES = list(losses.LOSSES)
OPTIMIZERS = list(optimizers.OPTIMIZERS)
SCHEDULERS = list(schedulers.SCHEDULERS)
TASKS = ["classification", "regression", "auto"]
NORMALIZATIONS = list(Normalizer.METHODS)
INITIALIZATIONS = list(layers.INITIALIZERS)
MONITORS = ["val_loss", "loss", "val_accuracy", "accuracy"]
MODES = list(schedulers.MODES)

# The output activations each loss can follow. 'linear' and 'pass' mean the model
# outputs logits and the loss applies the sigmoid or softmax itself (fused, stable).
LOSS_OUTPUT_ACTIVATIONS = {name: [cls.fuses_with, "linear", "pass"]
                           for name, cls in losses.LOSSES.items() if cls.fuses_with is not None}


class ConfigError(InputError):
    """Every problem found in a configuration; str() puts them all on one line."""

    def __init__(self, problems, source=None):
        self.problems = list(problems)
        self.source = source
        text = "; ".join(self.problems)
        super().__init__(f"{source}: {text}" if source else text)


# ---------------------------------------------------------------- schema

def _epochs(section, config):
    """A cosine schedule anneals over the rest of the training run (after any warm-up) unless told otherwise."""
    warmup = section.get("warmup_epochs")
    warmup = warmup if isinstance(warmup, int) and not isinstance(warmup, bool) else 0
    return max(1, config["training"]["epochs"] - warmup)


def _checkpoint_beside_model(section, config):
    """model.json -> model_checkpoint.json: each run's checkpoint is its own, not a shared
    checkpoint.json that another run's Ctrl-C would overwrite."""
    model_path = _get(config, "output.model_path")
    stem = os.path.splitext(model_path)[0] if isinstance(model_path, str) and model_path else "model"
    return stem + "_checkpoint.json"


def _mode_for_monitor(section, config):
    """Accuracy is to be maximised, a loss minimised."""
    return "max" if str(section.get("monitor")).endswith("accuracy") else "min"


def _constructor_defaults(cls):
    """{argument: default} of a class's constructor, inspect.Parameter.empty where it has none."""
    return {name: parameter.default for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if name not in ("self", "params", "optimizer")}


def _option(make, default):
    """The spec make() builds, with the constructor's default, or required when it has none."""
    return make(required=True) if default is inspect.Parameter.empty else make(default=default)


# The options of the optimizers and schedules: their names and defaults are read from the
# constructors (optimizers.OPTIMIZERS, schedulers.SCHEDULERS), so AdamW's weight_decay of 0.01
# and a new schedule's options are written once, in their own module. Here is only the kind
# and the bounds of each option, which the constructors check the same way (utils.check_number).
OPTION_SPECS = {
    "lr": lambda **o: Real("> 0", **o),
    "momentum": lambda **o: Real("in [0, 1)", **o),
    "nesterov": lambda **o: Boolean(**o),
    "alpha": lambda **o: Real("in (0, 1)", **o),
    "betas": lambda default=None, **o: ListOf(Real("in [0, 1)"), length=2, default=list(default), **o),
    "eps": lambda **o: Real("> 0", **o),
    "weight_decay": lambda **o: Real(">= 0", **o),
    "step_size": lambda **o: Integer(minimum=1, **o),
    "gamma": lambda **o: Real("> 0", **o),
    "eta_min": lambda **o: Real(">= 0", **o),
    "factor": lambda **o: Real("in (0, 1)", **o),
    "patience": lambda **o: Integer(minimum=0, **o),
    "threshold": lambda **o: Real(">= 0", **o),
    "min_lr": lambda **o: Real(">= 0", **o),
    "monitor": lambda **o: Choice("monitor", MONITORS, **o),
}
# defaults that depend on the rest of the config, computed once it is known
COMPUTED_DEFAULTS = {"t_max": Integer(minimum=1, default=_epochs),
                     "mode": Choice("mode", MODES, default=_mode_for_monitor)}

OPTIMIZER_OPTIONS = {
    name: {key: _option(OPTION_SPECS[key], default) for key, default in _constructor_defaults(cls).items()}
    for name, cls in optimizers.OPTIMIZERS.items()}

_WARMUP = {"warmup_epochs": Integer(minimum=0, default=0)}  # 0: no warm-up (schedulers.LinearWarmup)
SCHEDULER_OPTIONS = {}
for _name, (_cls, _arguments) in schedulers.SCHEDULERS.items():
    _defaults = _constructor_defaults(_cls)
    SCHEDULER_OPTIONS[_name] = {key: COMPUTED_DEFAULTS.get(key) or _option(OPTION_SPECS[key], _defaults[argument])
                                for key, argument in _arguments.items()}
    SCHEDULER_OPTIONS[_name].update(_WARMUP)

# model.layers: the options of each layer type (layer_specs.py builds them). The channels of a
# convolution are its input's, and a dense entry takes the options of a model.hidden_layers entry.
_ACTIVATION = Choice("activation", ACTIVATIONS, default="relu")
_CONV2D = {"filters": Integer(minimum=1, required=True), "kernel_size": IntOrPair(1, required=True),
           "stride": IntOrPair(1, default=1), "padding": IntOrPair(0, default=0), "activation": _ACTIVATION,
           "batch_norm": Boolean(default=False)}
_CONV1D = {"filters": Integer(minimum=1, required=True), "kernel_size": Integer(minimum=1, required=True),
           "stride": Integer(minimum=1, default=1), "padding": Integer(minimum=0, default=0),
           "activation": _ACTIVATION}
_POOL2D = {"kernel_size": IntOrPair(1, required=True), "stride": IntOrPair(1, nullable=True)}
_POOL1D = {"kernel_size": Integer(minimum=1, required=True), "stride": Integer(minimum=1, nullable=True)}
_DENSE = {"units": Integer(minimum=1, required=True), "activation": _ACTIVATION,
          "dropout": Real("in [0, 1)", default=0), "batch_norm": Boolean(default=False),
          "l1": Real(">= 0", default=0), "l2": Real(">= 0", default=0)}
LAYER_OPTIONS = {
    "conv2d": _CONV2D, "conv1d": _CONV1D, "maxpool2d": _POOL2D, "avgpool2d": _POOL2D,
    "maxpool1d": _POOL1D, "avgpool1d": _POOL1D, "globalavgpool2d": {}, "globalavgpool1d": {},
    "batchnorm2d": {}, "flatten": {}, "dense": _DENSE, "dropout": {"p": Real("in [0, 1)", required=True)},
}
LAYER_TYPES = list(LAYER_OPTIONS)

SCHEMA = Section({
    "seed": Integer(minimum=0, default=42),
    "task": Choice("task", TASKS, default="auto"),
    "data": Section({
        "path": String(required=True),
        "target": String(required=True),
        "test_fraction": Real("in (0, 1)", default=0.2),
        "validation_fraction": Real("in [0, 1)", default=0),
        "normalize": Choice("normalization", NORMALIZATIONS, default="zscore"),
        "delimiter": String(length=1, default=","),
        "features": ListOf(String(), nullable=True),  # null: every column except the target
        "image_shape": Shape(nullable=True),  # the feature columns are the pixels of a [C, H, W] image
    }, required=True),
    "model": Section({
        "hidden_layers": ListOf(Section({
            "units": Integer(minimum=1, required=True),
            "activation": Choice("activation", ACTIVATIONS, default="relu"),
            "dropout": Real("in [0, 1)", default=0),
            "batch_norm": Boolean(default=False),
            "l1": Real(">= 0", default=0),
            "l2": Real(">= 0", default=0),
        }), default=[]),
        "layers": ListOf(Variant("layer type", LAYER_TYPES, LAYER_OPTIONS, key="type"), nullable=True),
        "output_activation": Choice("activation", ACTIVATIONS, default="softmax"),
        "init": Choice("initialization", INITIALIZATIONS, default="he"),
    }, default={}),
    "training": Section({
        "loss": Choice("loss", LOSSES, default="cross_entropy"),
        "optimizer": Variant("optimizer", OPTIMIZERS, OPTIMIZER_OPTIONS,
                             default={"name": "adam"}),  # its options: Adam's own defaults
        "epochs": Integer(minimum=1, default=100),
        "batch_size": Integer(minimum=1, default=32),
        "shuffle": Boolean(default=True),
        "workers": Integer(minimum=1, default=1),  # processes sharing each batch (parallel.py)
        "clip_norm": Real("> 0", nullable=True),
        "scheduler": Variant("scheduler", SCHEDULERS, SCHEDULER_OPTIONS, nullable=True),
        "early_stopping": Section({
            "monitor": Choice("monitor", MONITORS, default="val_loss"),
            "patience": Integer(minimum=0, default=10),
            "min_delta": Real(">= 0", default=0),
            "restore_best": Boolean(default=True),
        }, nullable=True),
        "checkpoint_every": Integer(minimum=1, nullable=True),
        "checkpoint_path": String(non_empty=False, default=_checkpoint_beside_model),  # "": none
    }, default={}),
    "output": Section({
        "model_path": String(default="model.json"),
        "plot": String(non_empty=False, nullable=True),  # path of an SVG training chart
        "report": String(non_empty=False, nullable=True),  # path of the HTML report (with --report)
        # a CSV of the held-out test rows as read, so `main.py evaluate` can reproduce the test score
        "test_rows": String(nullable=True),
    }, default={}),
})


# ---------------------------------------------------------------- checks across fields

def _get(config, dotted):
    """The value at a dotted path, or None when a part is missing or is not an object."""
    value = config
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _check_fractions(config, report):
    fields = SCHEMA.fields["data"].fields
    test, validation = _get(config, "data.test_fraction"), _get(config, "data.validation_fraction")
    # only when each is valid on its own: one mistake, one message
    if (fields["test_fraction"].problem(test) is None
            and fields["validation_fraction"].problem(validation) is None and test + validation >= 1):
        report("data.validation_fraction", "test_fraction + validation_fraction must be < 1 "
               f"(some data must be left to train on), got {test} + {validation}")


def _check_loss_matches_output(config, report):
    loss, output = _get(config, "training.loss"), _get(config, "model.output_activation")
    allowed = LOSS_OUTPUT_ACTIVATIONS.get(loss) if isinstance(loss, str) else None
    if allowed and isinstance(output, str) and output in ACTIVATIONS and output not in allowed:
        report("training.loss", f"{loss!r} needs model.output_activation "
               f"{' or '.join(map(repr, allowed))}, got {output!r}")


def _check_features(config, report):
    """The features must not include the target (a model that reads its answer scores r2 1.0)
    nor name a column twice."""
    features, target = _get(config, "data.features"), _get(config, "data.target")
    if not isinstance(features, list) or not all(isinstance(name, str) for name in features):
        return
    if target in features:
        report("data.features", f"lists the target column {quote(target)}: the model would read the answer "
               "it is asked to predict; leave it out (null: every column except the target)")
    seen = set()
    for name in features:
        if name in seen:
            report("data.features", f"lists {quote(name)} twice; name each column once")
            break
        seen.add(name)


def _check_nesterov_has_momentum(config, report):
    optimizer = _get(config, "training.optimizer")
    if _get(optimizer, "nesterov") is True and _get(optimizer, "momentum") == 0:
        report("training.optimizer.nesterov", "needs momentum > 0, got momentum 0")


def _check_validation_monitors(config, report):
    """Watching a val_* metric needs a validation split to compute it on."""
    if _get(config, "data.validation_fraction") != 0:
        return
    for section in ("training.early_stopping", "training.scheduler"):
        monitor = _get(config, section + ".monitor")
        if monitor in MONITORS and monitor.startswith("val_"):
            report(section + ".monitor", f"{monitor!r} needs data.validation_fraction > 0")


def _check_batch_norm_batch_size(config, report):
    """BatchNorm takes a variance over the rows of a batch, which needs at least two of them."""
    layers = _get(config, "model.hidden_layers")
    if _get(config, "training.batch_size") == 1 and isinstance(layers, list):
        for i, layer in enumerate(layers):
            if _get(layer, "batch_norm") is True:
                report(f"model.hidden_layers[{i}].batch_norm", "needs training.batch_size >= 2 (a batch "
                       "variance needs two rows), got batch_size 1")


def _check_workers_batch_norm(config, report):
    """With training.workers > 1 each worker sees only its share of a batch, so BatchNorm's mean
    and variance would be the share's, not the batch's: refused (parallel.py)."""
    workers = _get(config, "training.workers")
    if not (isinstance(workers, int) and not isinstance(workers, bool) and workers > 1):
        return
    for section in ("hidden_layers", "layers"):
        layers = _get(config, "model." + section)
        for i, layer in enumerate(layers if isinstance(layers, list) else []):
            if _get(layer, "batch_norm") is True or _get(layer, "type") == "batchnorm2d":
                where = "batch_norm" if _get(layer, "batch_norm") is True else "type"
                report(f"model.{section}[{i}].{where}", f"BatchNorm cannot be used with training.workers {workers}: each "
                       "worker sees only its share of the batch, so the mean and variance would be the share's, "
                       "not the batch's (use workers 1)")


def check_workers(config, source="--workers"):
    """ConfigError when training.workers (set after validation, by --workers) cannot train this model."""
    problems = []
    _check_workers_batch_norm(config, lambda where, text: problems.append(f"{where}: {text}"))
    if problems:
        raise ConfigError(problems, source)


def _check_delimiter(config, report):
    """A delimiter must not be part of the values it separates (a digit, '.', '-') or a quote or line end."""
    delimiter = _get(config, "data.delimiter")
    if isinstance(delimiter, str) and len(delimiter) == 1 and delimiter_problem(delimiter):
        report("data.delimiter", delimiter_problem(delimiter))


def _check_layers_or_hidden_layers(config, report):
    if _get(config, "model.layers") is not None and _get(config, "model.hidden_layers"):
        report("model", "give model.layers or model.hidden_layers, not both")


def _check_layer_shapes(config, report):
    """Pass the image shape through model.layers, as the network will: a kernel larger than its input,
    a pool that does not fit, a convolution without data.image_shape are found before any work."""
    entries, shape = _get(config, "model.layers"), _get(config, "data.image_shape")
    if entries is None:
        return
    # without an image shape the input is a row of features whose width (the data's) is unknown
    # here, and only a layer that needs an image can fail, whatever the width
    try:
        build_layers(entries, shape, init="zeros")
    except ValueError as error:
        report("", str(error))


CROSS_CHECKS = [_check_fractions, _check_loss_matches_output, _check_delimiter, _check_features,
                _check_nesterov_has_momentum, _check_validation_monitors, _check_batch_norm_batch_size,
                _check_workers_batch_norm, _check_layers_or_hidden_layers]


# ---------------------------------------------------------------- public functions

def validate_config(cfg, source="config"):
    """Check cfg (a dict, as read from JSON) against SCHEMA; return a filled-in deep copy.

    Raises ConfigError listing every problem, prefixed with `source`. cfg is not changed.
    """
    if not isinstance(cfg, dict):
        raise ConfigError([f"the top level must be a JSON object {{...}}, got {_show(cfg)}"], source)
    run = _Run()
    config = SCHEMA.validate(copy.deepcopy(cfg), "", run)
    for section, key, compute in run.deferred:
        section[key] = compute(section, config)
    for check in CROSS_CHECKS:
        check(config, run.report)
    if not any(problem.startswith(("model", "data.image_shape")) for problem in run.problems):
        _check_layer_shapes(config, run.report)  # only with valid entries: one mistake, one message
    if run.problems:
        raise ConfigError(run.problems, source)
    return config


def load_config(path):
    """Read a JSON configuration file, validate it, and return it with defaults filled in."""
    source = os.fspath(path)
    if os.path.isdir(path):
        raise ConfigError(["is a directory, not a JSON file"], source)
    try:
        # utf-8-sig: editors on Windows like to start the file with a byte-order mark
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError([f"file not found (looked in {os.path.abspath(path)})"], source) from None
    except UnicodeDecodeError as error:
        raise ConfigError([f"not UTF-8 text (byte 0x{error.object[error.start]:02x} "
                           f"at offset {error.start})"], source) from None
    except OSError as error:
        raise ConfigError([f"cannot read the file: {error.strerror}"], source) from None
    duplicates = []
    try:
        # not json.loads: see utils.parse_json (PyPy); the hook notes a key given twice
        cfg = parse_json(text, object_pairs_hook=lambda pairs: _object_noting_duplicates(pairs, duplicates))
    except json.JSONDecodeError as error:
        raise ConfigError([f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"],
                          source) from None
    except RecursionError:  # json recurses once per [ or {: a damaged file can nest deeper than Python goes
        raise ConfigError(["invalid JSON: lists or objects nested too deeply"], source) from None
    if duplicates:
        raise ConfigError([f"key {quote(key)} appears twice in one object ({quote(first, 60)}, then "
                           f"{quote(second, 60)}); JSON keeps only the last, so say it once"
                           for key, first, second in duplicates], source)
    return validate_config(cfg, source)


def _object_noting_duplicates(pairs, duplicates):
    """json's object_pairs_hook: the object as a dict, noting each (key, first value, second value)
    that repeats a key; json.loads itself would silently keep the last value."""
    result = {}
    for key, value in pairs:
        if key in result:
            duplicates.append((key, result[key], value))
        result[key] = value
    return result


# Every default filled in; data.path and data.target have none (they are required) and are absent.
def _defaults():
    run = _Run()
    config = SCHEMA.validate({"data": {}}, "", run)
    for section, key, compute in run.deferred:
        section[key] = compute(section, config)
    return config


DEFAULT_CONFIG = _defaults()
