"""Tests for config.py: defaults, one message per kind of mistake, cross-field checks, file errors."""

import copy
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import config  # noqa: E402
from app.config import ConfigError, load_config, validate_config  # noqa: E402

DELETE = object()  # in BAD_CONFIGS: remove the key instead of setting it


def minimal():
    return {"data": {"path": "data/iris.csv", "target": "species"}}


def with_value(dotted, value, cfg=None):
    """A copy of cfg (the minimal config by default) with the value at a dotted path set."""
    cfg = copy.deepcopy(cfg if cfg is not None else minimal())
    *parents, last = dotted.split(".")
    section = cfg
    for key in parents:
        section = section.setdefault(key, {})
    if value is DELETE:
        del section[last]
    else:
        section[last] = value
    return cfg


def problems_of(cfg):
    """The problems validate_config finds in cfg; fails the test when it finds none."""
    try:
        validate_config(cfg)
    except ConfigError as error:
        return error.problems
    raise AssertionError(f"no ConfigError for {cfg!r}")


# The full default config, written out from the specification (not from SCHEMA).
EXPECTED_DEFAULTS = {
    "seed": 42,
    "task": "auto",
    "data": {"test_fraction": 0.2, "validation_fraction": 0, "normalize": "zscore",
             "delimiter": ",", "features": None, "image_shape": None},
    "model": {"hidden_layers": [], "layers": None, "output_activation": "softmax", "init": "he"},
    "training": {
        "loss": "cross_entropy",
        "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8,
                      "weight_decay": 0},
        "epochs": 100, "batch_size": 32, "shuffle": True, "workers": 1, "clip_norm": None,
        "scheduler": None, "early_stopping": None,
        "checkpoint_every": None, "checkpoint_path": "model_checkpoint.json",
    },
    "output": {"model_path": "model.json", "plot": None, "report": None, "test_rows": None},
}

SGD = {"name": "sgd"}
LAYER = {"units": 8}

# (dotted key, bad value, expected substring of the one problem reported)
BAD_CONFIGS = [
    ("seed", -1, "seed: must be an integer >= 0, got -1"),
    ("seed", 1.5, "seed: must be an integer >= 0, got 1.5"),
    ("task", "classify", "task: unknown task 'classify'; valid: auto, classification, regression "
                         "(did you mean 'classification'?)"),
    ("data", "iris.csv", "data: must be an object, got 'iris.csv'"),
    ("data.path", "", "data.path: must be a non-empty string, got ''"),
    ("data.target", DELETE, "data: missing required key 'target'"),
    ("data.test_fraction", 0, "data.test_fraction: must be in (0, 1), got 0"),
    ("data.test_fraction", 1, "data.test_fraction: must be in (0, 1), got 1"),
    ("data.test_fraction", "0.2", "data.test_fraction: must be a number in (0, 1), got '0.2'"),
    ("data.validation_fraction", 1.0, "data.validation_fraction: must be in [0, 1), got 1.0"),
    ("data.normalize", "ZScore", "data.normalize: unknown normalization 'ZScore'; "
                                 "valid: minmax, none, pixels, zscore (did you mean 'zscore'?)"),
    ("data.delimiter", ";;", "data.delimiter: must be a one-character string, got ';;'"),
    ("data.features", "a,b", "data.features: must be a list or null, got 'a,b'"),
    ("data.features", ["a", ""], "data.features[1]: must be a non-empty string, got ''"),
    ("model", [], "model: must be an object, got []"),
    ("model.hidden_layers", LAYER, "model.hidden_layers: must be a list, got {\"units\": 8}"),
    ("model.hidden_layers", [LAYER, {"units": 0}],
     "model.hidden_layers[1].units: must be a positive integer, got 0"),
    ("model.hidden_layers", [{}], "model.hidden_layers[0]: missing required key 'units'"),
    ("model.hidden_layers", [64], "model.hidden_layers[0]: must be an object, got 64"),
    ("model.hidden_layers", [{"units": 8, "activation": "Relu"}],
     "model.hidden_layers[0].activation: unknown activation 'Relu'; valid: leaky_relu, linear, "
     "pass, relu, sigmoid, softmax, tanh (did you mean 'relu'?)"),
    ("model.hidden_layers", [{"units": 8, "dropout": 1}],
     "model.hidden_layers[0].dropout: must be in [0, 1), got 1"),
    ("model.hidden_layers", [{"units": 8, "batch_norm": "yes"}],
     "model.hidden_layers[0].batch_norm: must be true or false, got 'yes'"),
    ("model.hidden_layers", [{"units": 8, "l2": -0.1}],
     "model.hidden_layers[0].l2: must be >= 0, got -0.1"),
    ("model.hidden_layers", [{"units": 8, "unit": 4}],
     "model.hidden_layers[0]: unknown key 'unit' (did you mean 'units'?)"),
    ("model.output_activation", 3,
     "model.output_activation: must be one of leaky_relu, linear, pass, relu, sigmoid, softmax, tanh, got 3"),
    ("model.init", "glorot", "model.init: unknown initialization 'glorot'; valid: he, lecun, xavier, zeros"),
    ("training.loss", "crossentropy", "training.loss: unknown loss 'crossentropy'; valid: binary_cross_entropy, "
                                      "cross_entropy, mse (did you mean 'cross_entropy'?)"),
    ("training.optimizer", "adam",
     "training.optimizer: must be an object, got 'adam' (write {\"name\": \"adam\"})"),
    ("training.optimizer", {"lr": 0.1},
     "training.optimizer: missing required key 'name' (adam, adamw, rmsprop, sgd)"),
    ("training.optimizer", {"name": "adm"}, "training.optimizer.name: unknown optimizer 'adm'; "
                                            "valid: adam, adamw, rmsprop, sgd (did you mean 'adam'?)"),
    ("training.optimizer", {"name": "adam", "lr": -0.1}, "training.optimizer.lr: must be > 0, got -0.1"),
    ("training.optimizer", {"name": "adam", "lr": float("nan")},
     "training.optimizer.lr: must be a finite number, got NaN"),
    ("training.optimizer", {"name": "adam", "eps": float("inf")},
     "training.optimizer.eps: must be a finite number, got Infinity"),
    ("training.optimizer", {"name": "adam", "betas": [0.9]},
     "training.optimizer.betas: must be a list of 2 items, got [0.9]"),
    ("training.optimizer", {"name": "adam", "betas": [0.9, 1.0]},
     "training.optimizer.betas[1]: must be in [0, 1), got 1.0"),
    ("training.optimizer", {"name": "sgd", "momentum": 1},
     "training.optimizer.momentum: must be in [0, 1), got 1"),
    ("training.optimizer", {"name": "rmsprop", "alpha": 0},
     "training.optimizer.alpha: must be in (0, 1), got 0"),
    ("training.optimizer", {"name": "adamw", "weight_decay": -1},
     "training.optimizer.weight_decay: must be >= 0, got -1"),
    ("training.optimizer", {"name": "sgd", "betas": [0.9, 0.999]},
     "training.optimizer.betas: not an option of 'sgd'; its options: lr, momentum, nesterov, weight_decay"),
    ("training.optimizer", {"name": "adam", "momentum": 0.9},
     "training.optimizer.momentum: not an option of 'adam'; its options: betas, eps, lr, weight_decay"),
    ("training.optimizer", {"name": "adam", "learning_rate": 0.1},
     "training.optimizer: unknown key 'learning_rate'"),
    ("training.epochs", True, "training.epochs: must be a positive integer, got true"),
    ("training.epochs", 0, "training.epochs: must be a positive integer, got 0"),
    ("training.batch_size", "32", "training.batch_size: must be a positive integer, got '32'"),
    ("training.shuffle", 1, "training.shuffle: must be true or false, got 1"),
    ("training.clip_norm", 0, "training.clip_norm: must be > 0 or null, got 0"),
    ("training.scheduler", "cosine", "training.scheduler: must be an object or null, got 'cosine'"),
    ("training.scheduler", {"name": "step"}, "training.scheduler: missing required key 'step_size'"),
    ("training.scheduler", {"name": "step", "step_size": 0},
     "training.scheduler.step_size: must be a positive integer, got 0"),
    ("training.scheduler", {"name": "exponential"}, "training.scheduler: missing required key 'gamma'"),
    ("training.scheduler", {"name": "cosine", "t_max": -5},
     "training.scheduler.t_max: must be a positive integer, got -5"),
    ("training.scheduler", {"name": "cosine", "gamma": 0.5},
     "training.scheduler.gamma: not an option of 'cosine'; its options: eta_min, t_max, warmup_epochs"),
    ("training.scheduler", {"name": "plateau", "monitor": "loss", "factor": 1},
     "training.scheduler.factor: must be in (0, 1), got 1"),
    ("training.scheduler", {"name": "plateau", "monitor": "loss", "mode": "minimum"},
     "training.scheduler.mode: unknown mode 'minimum'; valid: max, min (did you mean 'min'?)"),
    ("training.scheduler", {"name": "step", "step_size": 5, "warmup_epochs": -1},
     "training.scheduler.warmup_epochs: must be an integer >= 0, got -1"),
    ("training.early_stopping", {"monitor": "loss", "patience": -1},
     "training.early_stopping.patience: must be an integer >= 0, got -1"),
    ("training.early_stopping", {"monitor": "los"},
     "training.early_stopping.monitor: unknown monitor 'los'; valid: accuracy, loss, val_accuracy, val_loss"),
    ("training.early_stopping", {"monitor": "loss", "restore_best": "true"},
     "training.early_stopping.restore_best: must be true or false, got 'true'"),
    ("training.checkpoint_every", 0, "training.checkpoint_every: must be a positive integer or null, got 0"),
    ("training.checkpoint_path", 5, "training.checkpoint_path: must be a string, got 5"),
    ("output.model_path", "", "output.model_path: must be a non-empty string, got ''"),
    ("output.plot", 3, "output.plot: must be a string or null, got 3"),
    ("trainig", {}, "unknown key 'trainig' (did you mean 'training'?)"),
    ("model.hiden_layers", [], "model: unknown key 'hiden_layers' (did you mean 'hidden_layers'?)"),
]


class DefaultsTest(unittest.TestCase):

    def test_default_config_matches_the_specification(self):
        self.assertEqual(config.DEFAULT_CONFIG, EXPECTED_DEFAULTS)

    def test_minimal_config_gets_every_default(self):
        expected = copy.deepcopy(EXPECTED_DEFAULTS)
        expected["data"].update(path="data/iris.csv", target="species")
        self.assertEqual(validate_config(minimal()), expected)

    def test_given_values_are_kept_and_the_rest_filled_in(self):
        cfg = with_value("model.hidden_layers", [{"units": 16, "dropout": 0.5}])
        layer = validate_config(cfg)["model"]["hidden_layers"][0]
        self.assertEqual(layer, {"units": 16, "activation": "relu", "dropout": 0.5,
                                 "batch_norm": False, "l1": 0, "l2": 0})

    def test_ints_are_accepted_where_floats_are(self):
        cfg = with_value("training.optimizer", {"name": "sgd", "lr": 1})
        self.assertEqual(validate_config(cfg)["training"]["optimizer"]["lr"], 1)

    def test_null_is_accepted_where_allowed(self):
        cfg = with_value("training.clip_norm", None, with_value("output.plot", None))
        self.assertIsNone(validate_config(cfg)["training"]["clip_norm"])

    def test_input_is_not_mutated_and_result_shares_nothing_with_it(self):
        cfg = with_value("model.hidden_layers", [{"units": 4}])
        before = copy.deepcopy(cfg)
        result = validate_config(cfg)
        self.assertEqual(cfg, before)
        result["model"]["hidden_layers"][0]["units"] = 99
        result["data"]["path"] = "other.csv"
        self.assertEqual(cfg, before)

    def test_results_do_not_share_default_lists(self):
        first, second = validate_config(minimal()), validate_config(minimal())
        first["training"]["optimizer"]["betas"].append(0.5)
        first["model"]["hidden_layers"].append({"units": 1})
        self.assertEqual(second["training"]["optimizer"]["betas"], [0.9, 0.999])
        self.assertEqual(second["model"]["hidden_layers"], [])
        self.assertEqual(config.DEFAULT_CONFIG, EXPECTED_DEFAULTS)


class ErrorMessagesTest(unittest.TestCase):

    def test_each_bad_value_is_reported_with_its_key(self):
        self.assertGreaterEqual(len(BAD_CONFIGS), 25)
        for dotted, value, expected in BAD_CONFIGS:
            with self.subTest(key=dotted, value=value):
                problems = problems_of(with_value(dotted, value))
                self.assertEqual(len(problems), 1, problems)
                self.assertIn(expected, problems[0])

    def test_missing_data_section_is_reported(self):
        self.assertEqual(problems_of({}), ["missing required key 'data'"])

    def test_top_level_must_be_an_object(self):
        with self.assertRaises(ConfigError) as caught:
            validate_config([1, 2])
        self.assertIn("top level must be a JSON object", str(caught.exception))

    def test_every_problem_is_reported_on_one_line_with_the_source(self):
        cfg = minimal()
        cfg["trainig"] = {}
        cfg["seed"] = True
        cfg["data"]["delimiter"] = ""
        cfg["model"] = {"hidden_layers": [{"units": 8}, {"units": 0, "activation": "gelu"}]}
        cfg["training"] = {"optimizer": {"name": "adam", "lr": -0.1}, "epochs": 0}
        with self.assertRaises(ConfigError) as caught:
            validate_config(cfg, source="config.json")
        error = caught.exception
        self.assertEqual(len(error.problems), 7, error.problems)
        text = str(error)
        self.assertNotIn("\n", text)
        self.assertTrue(text.startswith("config.json: unknown key 'trainig' (did you mean 'training'?); "))
        for fragment in ("seed: must be an integer >= 0, got true",
                         "data.delimiter: must be a one-character string, got ''",
                         "model.hidden_layers[1].units: must be a positive integer, got 0",
                         "model.hidden_layers[1].activation: unknown activation 'gelu'",
                         "training.optimizer.lr: must be > 0, got -0.1",
                         "training.epochs: must be a positive integer, got 0"):
            self.assertIn("; " + fragment, text)
        self.assertEqual(text, "config.json: " + "; ".join(error.problems))

    def test_config_error_is_a_value_error(self):
        self.assertTrue(issubclass(ConfigError, ValueError))
        self.assertEqual(str(ConfigError(["a", "b"])), "a; b")


class DidYouMeanTest(unittest.TestCase):

    def test_suggests_nearest_key_at_each_level(self):
        cfg = minimal()
        cfg["outptu"] = {}
        cfg["data"]["tagret"] = "y"
        cfg["training"] = {"batchsize": 8}
        self.assertEqual(problems_of(cfg), [
            "unknown key 'outptu' (did you mean 'output'?)",
            "data: unknown key 'tagret' (did you mean 'target'?)",
            "training: unknown key 'batchsize' (did you mean 'batch_size'?)",
        ])

    def test_no_suggestion_when_nothing_is_close(self):
        problems = problems_of(with_value("zzzz", 1))
        self.assertEqual(problems, ["unknown key 'zzzz'"])

    def test_names_match_case_sensitively_but_suggest_ignoring_case(self):
        problems = problems_of(with_value("training.loss", "MSE"))
        self.assertIn("unknown loss 'MSE'", problems[0])
        self.assertIn("(did you mean 'mse'?)", problems[0])


class OptimizerOptionsTest(unittest.TestCase):

    def optimizer(self, options):
        return validate_config(with_value("training.optimizer", options))["training"]["optimizer"]

    def test_each_optimizer_gets_its_own_defaults(self):
        self.assertEqual(self.optimizer({"name": "sgd"}), {
            "name": "sgd", "lr": 0.01, "momentum": 0, "nesterov": False, "weight_decay": 0})
        self.assertEqual(self.optimizer({"name": "rmsprop"}), {
            "name": "rmsprop", "lr": 0.01, "momentum": 0, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0})
        self.assertEqual(self.optimizer({"name": "adam"}), {
            "name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0})
        self.assertEqual(self.optimizer({"name": "adamw"}), {
            "name": "adamw", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01})

    def test_nesterov_with_momentum_is_accepted(self):
        options = self.optimizer({"name": "sgd", "momentum": 0.9, "nesterov": True, "lr": 0.1})
        self.assertEqual((options["momentum"], options["nesterov"], options["lr"]), (0.9, True, 0.1))

    def test_every_named_optimizer_and_scheduler_has_an_options_table(self):
        self.assertEqual(set(config.OPTIMIZERS), set(config.OPTIMIZER_OPTIONS))
        self.assertEqual(set(config.SCHEDULERS), set(config.SCHEDULER_OPTIONS))

    def test_a_bad_optimizer_name_stops_checking_its_options(self):
        problems = problems_of(with_value("training.optimizer", {"name": "adm", "betas": 7}))
        self.assertEqual(len(problems), 1)
        self.assertIn("training.optimizer.name: unknown optimizer 'adm'", problems[0])


class SchedulerTest(unittest.TestCase):

    def scheduler(self, options, epochs=100):
        cfg = with_value("training.scheduler", options, with_value("training.epochs", epochs))
        cfg["data"]["validation_fraction"] = 0.1
        return validate_config(cfg)["training"]["scheduler"]

    def test_cosine_lasts_all_epochs_by_default(self):
        self.assertEqual(self.scheduler({"name": "cosine"}, epochs=30),
                         {"name": "cosine", "t_max": 30, "eta_min": 0, "warmup_epochs": 0})
        self.assertEqual(self.scheduler({"name": "cosine", "t_max": 7}, epochs=30)["t_max"], 7)

    def test_cosine_after_a_warmup_lasts_the_remaining_epochs(self):
        self.assertEqual(self.scheduler({"name": "cosine", "warmup_epochs": 5}, epochs=30)["t_max"], 25)
        self.assertEqual(self.scheduler({"name": "cosine", "warmup_epochs": 40}, epochs=30)["t_max"], 1)

    def test_plateau_mode_follows_the_monitor(self):
        self.assertEqual(self.scheduler({"name": "plateau"}), {
            "name": "plateau", "factor": 0.1, "patience": 10, "threshold": 1e-4, "min_lr": 0,
            "monitor": "val_loss", "mode": "min", "warmup_epochs": 0})
        self.assertEqual(self.scheduler({"name": "plateau", "monitor": "accuracy"})["mode"], "max")
        self.assertEqual(self.scheduler({"name": "plateau", "monitor": "val_accuracy",
                                         "mode": "min"})["mode"], "min")

    def test_step_and_exponential_defaults(self):
        self.assertEqual(self.scheduler({"name": "step", "step_size": 10}),
                         {"name": "step", "step_size": 10, "gamma": 0.1, "warmup_epochs": 0})
        self.assertEqual(self.scheduler({"name": "exponential", "gamma": 0.95, "warmup_epochs": 2}),
                         {"name": "exponential", "gamma": 0.95, "warmup_epochs": 2})

    def test_early_stopping_defaults(self):
        cfg = with_value("training.early_stopping", {"monitor": "loss"})
        self.assertEqual(validate_config(cfg)["training"]["early_stopping"],
                         {"monitor": "loss", "patience": 10, "min_delta": 0, "restore_best": True})


class CrossFieldTest(unittest.TestCase):

    def test_test_and_validation_fractions_must_leave_training_data(self):
        cfg = with_value("data.test_fraction", 0.5, with_value("data.validation_fraction", 0.5))
        problems = problems_of(cfg)
        self.assertEqual(len(problems), 1)
        self.assertIn("data.validation_fraction: test_fraction + validation_fraction must be < 1",
                      problems[0])
        self.assertIn("got 0.5 + 0.5", problems[0])
        validate_config(with_value("data.test_fraction", 0.5, with_value("data.validation_fraction", 0.4)))

    def test_nesterov_needs_momentum(self):
        problems = problems_of(with_value("training.optimizer", {"name": "sgd", "nesterov": True}))
        self.assertEqual(problems, ["training.optimizer.nesterov: needs momentum > 0, got momentum 0"])

    def test_binary_cross_entropy_needs_sigmoid_or_logits(self):
        cfg = with_value("training.loss", "binary_cross_entropy")
        self.assertEqual(problems_of(cfg), ["training.loss: 'binary_cross_entropy' needs "
                                            "model.output_activation 'sigmoid' or 'linear' or 'pass', got 'softmax'"])
        for output in ("sigmoid", "linear", "pass"):
            validate_config(with_value("model.output_activation", output, cfg))

    def test_cross_entropy_needs_softmax_or_logits(self):
        cfg = with_value("model.output_activation", "sigmoid")
        self.assertIn("'cross_entropy' needs model.output_activation 'softmax' or 'linear' or 'pass'",
                      problems_of(cfg)[0])
        for output in ("softmax", "linear", "pass"):
            validate_config(with_value("model.output_activation", output))

    def test_mse_accepts_any_output_activation(self):
        cfg = with_value("training.loss", "mse")
        for output in config.ACTIVATIONS:
            validate_config(with_value("model.output_activation", output, cfg))

    def test_validation_monitor_needs_a_validation_split(self):
        cfg = with_value("training.early_stopping", {})
        self.assertEqual(problems_of(cfg), [
            "training.early_stopping.monitor: 'val_loss' needs data.validation_fraction > 0"])
        cfg = with_value("training.scheduler", {"name": "plateau", "monitor": "val_accuracy"})
        self.assertEqual(problems_of(cfg), [
            "training.scheduler.monitor: 'val_accuracy' needs data.validation_fraction > 0"])
        validate_config(with_value("data.validation_fraction", 0.2, cfg))
        validate_config(with_value("training.early_stopping", {"monitor": "loss"}))

    def test_batch_norm_needs_batches_of_two_rows(self):
        cfg = with_value("training.batch_size", 1, with_value("model.hidden_layers",
                                                              [{"units": 4}, {"units": 4, "batch_norm": True}]))
        self.assertEqual(problems_of(cfg), ["model.hidden_layers[1].batch_norm: needs training.batch_size >= 2 "
                                            "(a batch variance needs two rows), got batch_size 1"])
        validate_config(with_value("training.batch_size", 2, cfg))

    def test_cross_checks_skip_values_already_reported_as_wrong(self):
        cfg = with_value("data.test_fraction", "half", with_value("data.validation_fraction", 10 ** 400))
        cfg["model"] = {"output_activation": "gelu"}
        cfg["training"] = {"loss": "binary_cross_entropy", "optimizer": [], "early_stopping": 5}
        problems = problems_of(cfg)
        self.assertEqual(len(problems), 5, problems)


class LoadConfigTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def write(self, content, name="config.json"):
        path = os.path.join(self.directory.name, name)
        with open(path, "wb") as file:
            file.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def load_problem(self, path):
        with self.assertRaises(ConfigError) as caught:
            load_config(path)
        self.assertEqual(len(caught.exception.problems), 1)
        return str(caught.exception)

    def test_loads_and_fills_defaults(self):
        path = self.write(json.dumps(minimal()))
        self.assertEqual(load_config(path)["training"]["epochs"], 100)

    def test_missing_file(self):
        path = os.path.join(self.directory.name, "nope.json")
        self.assertEqual(self.load_problem(path).split(" (")[0], path + ": file not found")

    def test_directory(self):
        self.assertIn("is a directory", self.load_problem(self.directory.name))

    def test_invalid_json_gives_line_and_column(self):
        # a missing colon: every Python version reports the same place for it
        path = self.write('{\n  "data": {"path": "a.csv",\n           "target" "y"}\n}\n')
        message = self.load_problem(path)
        self.assertTrue(message.startswith(path + ": invalid JSON at line 3, column 21"), message)

    def test_top_level_list(self):
        message = self.load_problem(self.write("[1, 2, 3]"))
        self.assertIn("the top level must be a JSON object", message)
        self.assertIn("got [1, 2, 3]", message)

    def test_not_utf8(self):
        self.assertIn("not UTF-8 text (byte 0xff", self.load_problem(self.write(b'{"seed": "\xff"}')))

    def test_byte_order_mark_is_accepted(self):
        path = self.write(b"\xef\xbb\xbf" + json.dumps(minimal()).encode("utf-8"))
        self.assertEqual(load_config(path)["data"]["target"], "species")

    def test_nan_literal_is_rejected(self):
        cfg = minimal()
        cfg["training"] = {"clip_norm": float("nan")}
        message = self.load_problem(self.write(json.dumps(cfg)))
        self.assertIn("training.clip_norm: must be a finite number or null, got NaN", message)

    def test_problems_are_prefixed_with_the_file_name(self):
        path = self.write('{"data": {"path": "a.csv", "target": "y"}, "trainig": {}}')
        self.assertEqual(self.load_problem(path),
                         path + ": unknown key 'trainig' (did you mean 'training'?)")


if __name__ == "__main__":
    unittest.main()
