"""What a new user hit, trying the framework for the first time: one test (at least) per report.

Each test reproduces the report in the smallest way (tiny data, a few epochs, main() in
this process where a subprocess is not needed) and fails on the code before the fix.
"""

import argparse
import contextlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
import network as network_module  # noqa: E402
from activations import ReLU, Sigmoid  # noqa: E402
from app import diagnostics, explain, pipeline  # noqa: E402
from app.charts import text_chart  # noqa: E402
from app.config import DEFAULT_CONFIG, load_config, validate_config  # noqa: E402
from datasets import DataError, load_csv  # noqa: E402
from demos import square_detector, square_drawing  # noqa: E402
from demos.square_shapes import render  # noqa: E402
from layers import Dense  # noqa: E402
from losses import BinaryCrossEntropy, CrossEntropy, predicted_classes  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import ModelTooLarge, Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from utils import InputError, format_number, make_rng  # noqa: E402

with open(os.path.join(ROOT, "train_data.csv"), encoding="utf-8") as _file:
    IRIS_LINES = _file.read().splitlines()
PREVIOUS_MODEL = b'{"a model saved before": true}\n'


def run_main(argv):
    """(status, stdout, stderr) of main.main(argv), in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main.main(argv)
    return status, out.getvalue(), err.getvalue()


class FolderTestCase(unittest.TestCase):
    """A temporary folder with the iris CSV, a config writer and an earlier model.json."""

    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)
        self.write("data.csv", "\n".join(IRIS_LINES) + "\n")
        with open(self.path("model.json"), "wb") as f:
            f.write(PREVIOUS_MODEL)

    def path(self, name):
        return os.path.join(self.folder, name)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)
        return self.path(name)

    def config(self, **sections):
        """A config file for data.csv in the folder (a few epochs); sections replace or extend its parts."""
        config = {"seed": 0, "data": {"path": self.path("data.csv"), "target": "species"},
                  "model": {"hidden_layers": [{"units": 4}]},
                  "training": {"epochs": 2, "batch_size": 16},
                  "output": {"model_path": self.path("model.json")}}
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = dict(config[key], **value)
            else:
                config[key] = value
        return self.write("config.json", json.dumps(config))

    def refused(self, argv, *expected):
        """main(argv) must fail with one error line containing every expected text, saving nothing."""
        status, out, err = run_main(argv)
        self.assertEqual(status, 2, err + out[-500:])
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("error: "), err)
        for text in expected:
            self.assertIn(text, err)
        with open(self.path("model.json"), "rb") as f:
            self.assertEqual(f.read(), PREVIOUS_MODEL, "the earlier model was overwritten")
        return err


# ------------------------------------------------------------------ the task and the loss
class RegressionLookingTargetTest(FolderTestCase):
    def prices(self):
        lines = ["size,rooms,price"] + [f"{50 + i},{1 + i % 5},{1000 + 37.5 * i}" for i in range(60)]
        return self.write("prices.csv", "\n".join(lines) + "\n")

    def test_many_distinct_numbers_with_the_default_classification_config_are_refused(self):
        # before: a softmax over one output, always 1.0, and "loss 0.0000"
        config = self.write("config.json", json.dumps({"data": {"path": self.prices(), "target": "price"},
                                                       "output": {"model_path": self.path("model.json")}}))
        err = self.refused(["--config", config], "'price'", "regression", "task 'regression'",
                           "training.loss 'mse'", "model.output_activation 'linear'")
        self.assertIn("60 distinct numbers", err)

    def test_task_regression_with_cross_entropy_is_refused(self):
        config = self.write("config.json", json.dumps({
            "task": "regression", "data": {"path": self.prices(), "target": "price"},
            "model": {"output_activation": "linear"}, "output": {"model_path": self.path("model.json")}}))
        self.refused(["--config", config], "task 'regression'", "'cross_entropy'", "training.loss 'mse'")

    def test_classes_with_mse_are_refused_the_other_way_round(self):
        config = self.config(training={"loss": "mse"}, model={"output_activation": "linear"})
        self.refused(["--config", config], "'species' holds 3 classes", "'mse' is for regression",
                     "training.loss 'cross_entropy'", "'softmax'", "task 'regression'")

    def test_hundreds_of_classes_give_a_warning(self):
        lines = ["x,code"] + [f"{i * 0.5},{i % 150}" for i in range(600)]
        path = self.write("codes.csv", "\n".join(lines) + "\n")
        config = validate_config({"task": "classification", "data": {"path": path, "target": "code"}})
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            data = pipeline.prepare_data(config, make_rng(0))
        self.assertEqual(len(data.dataset.class_names), 150)
        self.assertRegex(err.getvalue(), r"^warning: .*'code' has 150 classes.*task 'regression'")
        with contextlib.redirect_stderr(io.StringIO()) as quiet:  # iris's 3 classes: no warning
            pipeline.prepare_data(validate_config({"data": {"path": self.path("data.csv"),
                                                            "target": "species"}}), make_rng(0))
        self.assertEqual(quiet.getvalue(), "")


class FeaturesTest(FolderTestCase):
    def test_the_target_among_the_features_is_an_error(self):
        # before: the model read its answer and scored r2 1.0000
        config = self.config(data={"features": ["sepal_length", "species"]})
        self.refused(["--config", config], "data.features", "target column 'species'")
        with self.assertRaisesRegex(DataError, "include the target 'species'"):
            load_csv(self.path("data.csv"), "species", ["sepal_length", "species"])

    def test_a_feature_named_twice_is_an_error(self):
        config = self.config(data={"features": ["sepal_length", "petal_length", "sepal_length"]})
        self.refused(["--config", config], "data.features", "'sepal_length' twice")
        with self.assertRaisesRegex(DataError, "'sepal_length' twice"):
            load_csv(self.path("data.csv"), "species", ["sepal_length", "sepal_length"])

    def test_a_duplicate_key_in_the_json_config_is_an_error(self):
        # before: json.loads kept the last value without a word
        text = json.dumps({"data": {"path": self.path("data.csv"), "target": "species"},
                           "training": {"epochs": 2}}).replace('"epochs": 2', '"epochs": 2, "epochs": 3000')
        config = self.write("config.json", text)
        self.refused(["--config", config], "key 'epochs' appears twice", "2, then 3000")


class CheckpointPathTest(FolderTestCase):
    def test_the_default_checkpoint_is_named_after_the_model(self):
        self.assertEqual(DEFAULT_CONFIG["training"]["checkpoint_path"], "model_checkpoint.json")
        config = validate_config({"data": {"path": "d.csv", "target": "y"},
                                  "output": {"model_path": os.path.join("runs", "iris.json")}})
        self.assertEqual(config["training"]["checkpoint_path"], os.path.join("runs", "iris_checkpoint.json"))
        kept = validate_config({"data": {"path": "d.csv", "target": "y"},
                                "training": {"checkpoint_path": "mine.json"}})
        self.assertEqual(kept["training"]["checkpoint_path"], "mine.json")

    def test_the_checkpoint_path_is_checked_before_training_even_without_checkpoint_every(self):
        # Ctrl-C writes it, so it is an output like any other
        config = self.config(training={"checkpoint_path": self.path("no/such/folder/run.json")})
        self.refused(["--config", config], "no/such/folder/run.json", "does not exist")
        config = self.config(training={"checkpoint_path": self.path("data.csv")})
        self.refused(["--config", config], "training.checkpoint_path", "the data file")


# ------------------------------------------------------------------ divergence
class DivergenceTest(FolderTestCase):
    def regression_data(self):
        rng = make_rng(0)
        lines = ["a,b,y"] + [f"{x:.3f},{z:.3f},{3 * x - 2 * z + rng.random():.4f}"
                             for x, z in ((rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(60))]
        return self.write("reg.csv", "\n".join(lines) + "\n")

    def test_a_diverging_mse_run_reports_epoch_batch_and_learning_rate_like_any_loss(self):
        # before: "a number grew beyond the float range; check the data", from inside the loss
        config = self.config(task="regression", data={"path": self.regression_data(), "target": "y"},
                             model={"output_activation": "linear"},
                             training={"loss": "mse", "optimizer": {"name": "sgd", "lr": 50}, "epochs": 30,
                                       "batch_size": 8})
        err = self.refused(["--config", config, "--quiet"], "training diverged at epoch 1, batch ",
                           "learning rate (now 50", "Nothing was saved")
        self.assertNotIn("float range", err)

    def test_mse_past_the_float_range_is_an_infinite_loss_for_the_guard_not_an_overflow_error(self):
        # each square is finite (1e308) but their sum is not: math.fsum raised OverflowError, and
        # main printed "a number grew beyond the float range; check the data"
        from losses import MSE
        loss = MSE().forward(Matrix([[1e154], [1.2e154]]), Matrix([[0.0], [0.0]]))
        self.assertEqual(loss, math.inf)
        self.assertEqual(BinaryCrossEntropy().forward(Matrix([[1e308], [1.5e308]]), Matrix([[0.0], [0.0]])),
                         math.inf)

    def test_a_run_whose_test_scores_are_not_finite_saves_nothing(self):
        config = self.config()
        original = pipeline.evaluate

        def overflowing(network, part, X=None):
            scores = original(network, part, X)
            scores["accuracy"] = math.nan
            return scores
        pipeline.evaluate = overflowing
        self.addCleanup(setattr, pipeline, "evaluate", original)
        self.refused(["--config", config, "--quiet"], "test scores are not finite (accuracy nan",
                     "Nothing was saved")
        self.assertFalse(os.path.exists(self.path("model_training.svg")))

    def test_huge_numbers_print_compactly(self):
        self.assertEqual(format_number(-3.29e129), "-3.29e+129")
        self.assertEqual(format_number(0.45123), "0.4512")
        self.assertEqual(format_number(math.inf), "inf")
        lines = pipeline.report_lines({"rmse": 1e130, "mae": 2e129, "r2": -3.29e129})
        self.assertEqual(lines, ["test rmse: 1e+130", "test mae: 2e+129", "test r2: -3.29e+129"])

    def test_diagnose_does_not_advise_a_larger_learning_rate_while_the_loss_grows(self):
        record = [{"layer": 1, "name": "Dense(4 -> 8) + relu", "grad_norm": 1.0, "update_ratio": 1e-8}]
        calm = " ".join(diagnostics.find_problems(record, losses=[1.0, 0.9]))
        self.assertIn("Try a larger learning rate", calm)  # the loss falls: the advice stands
        rising = " ".join(diagnostics.find_problems(record, losses=[1.0, 0.9, 1.7]))
        self.assertNotIn("larger learning rate", rising)
        self.assertIn("rising loss", rising)
        self.assertIn("smaller learning rate", rising)


# ------------------------------------------------------------------ sizes
class ModelSizeTest(FolderTestCase):
    def test_ten_million_units_are_refused_at_once_naming_the_layer(self):
        # before: a minute of allocating, then a MemoryError traceback
        config = self.config(model={"hidden_layers": [{"units": 8}, {"units": 10_000_000}]})
        started = time.perf_counter()
        err = self.refused(["--config", config], "model.hidden_layers[1]", "Dense(8 -> 10,000,000)",
                           f"at most {network_module.MAX_PARAMETERS:,}", "network.MAX_PARAMETERS")
        self.assertLess(time.perf_counter() - started, 5.0, err)

    def test_the_limit_counts_every_layer(self):
        small = {"hidden_layers": [{"units": 10}]}
        network_module.check_model_size(small, 4, 3)  # 50 + 33 parameters: fine
        with self.assertRaisesRegex(ModelTooLarge, r"model.hidden_layers\[0\]: Dense\(4 -> 10\) would have 50 "
                                                   r"parameters \(83 in the whole network\)"):
            network_module.check_model_size(small, 4, 3, limit=80)  # the largest layer is named
        with self.assertRaisesRegex(ModelTooLarge, r"the output layer: Dense\(2 -> 40\) would have 120"):
            network_module.check_model_size({"hidden_layers": [{"units": 2}]}, 4, 40, limit=100)
        self.assertTrue(issubclass(ModelTooLarge, InputError))


# ------------------------------------------------------------------ predicting
class PredictWithBlankTargetsTest(FolderTestCase):
    def train(self):
        status, _, err = run_main(["--config", self.config(training={"epochs": 20}), "--quiet"])
        self.assertEqual(status, 0, err)

    def test_a_blank_target_column_predicts_every_row_and_scores_the_labelled_ones(self):
        # before: "line 3: the target column 'species' is empty"
        self.train()
        lines = [IRIS_LINES[0], IRIS_LINES[1], IRIS_LINES[60].rsplit(",", 1)[0] + ",", IRIS_LINES[120],
                 IRIS_LINES[2].rsplit(",", 1)[0] + ","]
        rows = self.write("rows.csv", "\n".join(lines) + "\n")
        status, out, err = run_main(["predict", "--model", self.path("model.json"), "--input", rows])
        self.assertEqual(status, 0, err)
        table = [line for line in out.splitlines() if re.match(r"\s+\d+\s", line)]
        self.assertEqual(len(table), 4, out)
        self.assertTrue(table[0].endswith("setosa") and table[2].endswith("virginica"), out)
        self.assertIn("scored on the 2 of 4 rows whose species is filled in:", out)
        self.assertRegex(out, r"accuracy: [01]\.\d{4}")
        status, out, err = run_main(["evaluate", "--model", self.path("model.json"), "--input", rows])
        self.assertEqual(status, 0, err)
        self.assertIn("2 rows (2 rows with a blank species left out)", out)

    def test_a_target_column_blank_everywhere_is_like_none(self):
        self.train()
        lines = [IRIS_LINES[0]] + [line.rsplit(",", 1)[0] + "," for line in IRIS_LINES[1:4]]
        rows = self.write("rows.csv", "\n".join(lines) + "\n")
        status, out, err = run_main(["predict", "--model", self.path("model.json"), "--input", rows])
        self.assertEqual(status, 0, err)
        self.assertNotIn("accuracy", out)
        status, _, err = run_main(["evaluate", "--model", self.path("model.json"), "--input", rows])
        self.assertEqual(status, 2)
        self.assertIn("blank in every row", err)


class HeldOutRowsTest(FolderTestCase):
    def test_saved_test_rows_make_evaluate_reproduce_the_test_score(self):
        for task, loss in (("classification", "cross_entropy"), ("regression", "mse")):
            with self.subTest(task=task):
                sections = {"output": {"model_path": self.path(f"{task}.json"),
                                       "test_rows": self.path(f"{task}_test.csv")},
                            "training": {"epochs": 10, "loss": loss}}
                if task == "regression":
                    sections.update(data={"target": "petal_width", "features": ["sepal_length", "petal_length"]},
                                    task="regression", model={"output_activation": "linear"})
                status, out, err = run_main(["--config", self.config(**sections), "--quiet"])
                self.assertEqual(status, 0, err)
                trained = [line[len("test "):] for line in out.splitlines() if line.startswith("test ")]
                status, out, err = run_main(["evaluate", "--model", self.path(f"{task}.json"),
                                             "--input", self.path(f"{task}_test.csv")])
                self.assertEqual(status, 0, err)
                self.assertEqual([line for line in out.splitlines()
                                  if line.split(":")[0] in ("accuracy", "rmse", "mae", "r2")], trained)
                self.assertIn("30 rows", out)


class CommandLineHelpTest(unittest.TestCase):
    def test_main_help_lists_every_command(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
            main.main(["--help"])
        for command in ("predict", "evaluate", "explain", "train"):
            self.assertRegex(out.getvalue(), rf"(?m)^  {command} ")

    def check_defaults(self, parser):
        """Every '(default: X)' in the help says the default the parser really uses."""
        checked = 0
        for action in parser._actions:
            found = re.search(r"\(default: ([^)]*)\)", action.help or "")
            if found and "%(default)" not in (action.help or ""):
                self.assertEqual(found.group(1), str(action.default), action.option_strings)
                checked += 1
            elif found:
                checked += 1
        help_text = parser.format_help()
        for text in re.findall(r"\(default: ([^)]*)\)", re.sub(r"\s+", " ", help_text)):
            self.assertNotIn("%", text)
        return checked, help_text

    def test_the_square_detectors_help_says_the_defaults_it_uses(self):
        parser = square_detector.make_parser()
        checked, help_text = self.check_defaults(parser)
        self.assertGreater(checked, 8)
        budgets = [square_detector.parse_arguments(argv).epochs
                   for argv in ([], ["--model", "cnn"], ["--quick"], ["--quick", "--model", "cnn"])]
        self.assertIn("passes over the training images (by default {} for dense, {} for cnn and conv1d; "
                      "with --quick {} and {})".format(*budgets), re.sub(r"\s+", " ", help_text))
        self.check_defaults(main.explain_parser())


class ReadmeNumbersTest(unittest.TestCase):
    """Every score the README quotes is printed by the command beside it."""

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            cls.readme = f.read()

    def quoted(self, command):
        """The lines of the README's code block that follows `$ command`."""
        found = re.search(r"```\n\$ " + re.escape(command) + r"\n(.*?)```", self.readme, re.S)
        self.assertIsNotNone(found, f"the README shows no output of {command!r}")
        return found.group(1).splitlines()

    def test_the_iris_and_diabetes_scores_come_from_their_configs(self):
        for name in ("iris", "diabetes"):
            with self.subTest(config=name):
                path = os.path.join(ROOT, "configs", name + ".json")
                _, _, scores = pipeline.train(load_config(path), config_path=path, verbose=False)
                printed = pipeline.report_lines(scores)
                quoted = [line for line in self.quoted(f"python main.py --config configs/{name}.json --quiet")
                          if line.startswith("test ")]
                self.assertTrue(quoted)
                self.assertEqual(quoted, [line for line in printed if line.startswith("test ")])

    def test_the_predict_example_uses_a_file_that_is_shipped(self):
        self.assertIn("python main.py predict --model model.json --input data/new_rows.csv", self.readme)
        with open(os.path.join(ROOT, "data", "new_rows.csv"), encoding="utf-8") as f:
            header = f.readline().strip().split(",")
        self.assertEqual(sorted(header), sorted(IRIS_LINES[0].split(",")[:4]))
        self.assertNotIn("0.9667", self.readme)
        self.assertNotIn("0.4512", self.readme)


# ------------------------------------------------------------------ the Python API
class PythonApiErrorsTest(unittest.TestCase):
    def test_an_optimizer_built_on_another_networks_parameters_is_refused(self):
        rng = make_rng(0)
        mine, other = (Network([Dense(2, 3, rng=rng), ReLU(), Dense(3, 2, rng=rng)]) for _ in range(2))
        with self.assertRaisesRegex(ValueError, r"Adam updates 4 parameters, and 4 of them .* are not this "
                                                r"network's: it was built on another network's parameters"):
            mine.check_optimizer(Adam(other.parameters()))
        mine.check_optimizer(Adam(mine.parameters()))
        mine.check_optimizer(Adam(mine.layers[2].parameters()))  # some layers frozen: fine
        X, Y = Matrix([[0.0, 1.0], [1.0, 0.0]]), Matrix([[1.0, 0.0], [0.0, 1.0]])
        before = mine.get_weights()
        with self.assertRaisesRegex(ValueError, "built on another network's parameters"):
            mine.fit(X, Y, CrossEntropy(), Adam(other.parameters()), epochs=1)  # fit checks it first
        self.assertEqual(mine.get_weights(), before)

    def test_binary_cross_entropy_refuses_targets_outside_0_1(self):
        logits = Matrix([[0.5], [-1.0]])
        with self.assertRaisesRegex(ValueError, r"targets must be probabilities in \[0, 1\].*got 2\.0 in row 1"):
            BinaryCrossEntropy().forward(logits, Matrix([[1.0], [2.0]]))
        with self.assertRaisesRegex(ValueError, "got nan"):
            BinaryCrossEntropy().forward(logits, Matrix([[0.0], [math.nan]]))
        self.assertTrue(math.isfinite(BinaryCrossEntropy().forward(logits, Matrix([[0.3], [1.0]]))))

    def test_save_onto_a_directory_is_a_clear_error(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        with self.assertRaisesRegex(InputError, "is a directory, expected a file path"):
            Network([Dense(2, 2)]).save(folder)
        self.assertEqual(os.listdir(folder), [])


# ------------------------------------------------------------------ logits and the class decision
class ClassDecisionTest(unittest.TestCase):
    def test_one_logit_is_class_1_above_0_and_one_probability_above_one_half(self):
        scores = Matrix([[-0.2], [0.0], [0.3], [0.7]])
        self.assertEqual(predicted_classes(scores, logits=True), [0, 0, 1, 1])
        self.assertEqual(predicted_classes(scores, logits=False), [0, 0, 0, 1])
        self.assertEqual(predicted_classes(Matrix([[1.0, 3.0], [2.0, -1.0]]), logits=True), [1, 0])

    def test_a_linear_output_network_predicts_by_the_sign_of_its_logit(self):
        network = Network([Dense(1, 1, init="zeros")])
        network.layers[0].weight.value = Matrix([[1.0]])
        X = Matrix([[-0.1], [0.3], [0.6]])
        self.assertEqual(network.predict_classes(X), [0, 1, 1])  # before: [0, 0, 1], 0.3 thresholded at 0.5
        with_sigmoid = Network([Dense(1, 1, init="zeros"), Sigmoid()])
        with_sigmoid.layers[0].weight.value = Matrix([[1.0]])
        self.assertEqual(with_sigmoid.predict_classes(X), [0, 1, 1])

    def test_breast_cancer_with_a_linear_output_reports_its_real_accuracy(self):
        # before: a linear output trained with binary cross-entropy had its logits thresholded at
        # 0.5 instead of 0, in training, evaluate and predict (0.9649 reported vs 0.9298 real)
        path = os.path.join(ROOT, "configs", "breast_cancer.json")
        config = load_config(path)
        config["model"]["output_activation"] = "linear"
        config["training"]["epochs"] = 2
        data = pipeline.prepare_data(config, make_rng(0), path)
        network, loss, optimizer = pipeline.build_model(config, data, make_rng(0))
        X, Y = data.inputs(data.train), data.targets(data.train)
        network.fit(X, Y, loss, optimizer, epochs=2, batch_size=32, rng=make_rng(0))
        logits = network.predict(X)
        # by hand: sigmoid(z) > 0.5, the probability the loss's link gives
        real = sum((1.0 / (1.0 + math.exp(-z[0])) > 0.5) == (y[0] == 1.0)
                   for z, y in zip(logits.rows, Y.rows)) / len(X)
        self.assertTrue(any(0.0 < z[0] <= 0.5 for z in logits.rows), "no logit in (0, 0.5]: the test would "
                                                                      "not tell the two thresholds apart")
        self.assertAlmostEqual(network.evaluate(X, Y, loss)["accuracy"], real, places=12)
        self.assertEqual(network.predict_classes(X), [int(1.0 / (1.0 + math.exp(-z[0])) > 0.5)
                                                      for z in logits.rows])
        network.metadata = pipeline.model_metadata(config, data)
        self.assertAlmostEqual(pipeline.evaluate(network, data.train)["accuracy"], real, places=12)


# ------------------------------------------------------------------ what the screen shows
class ShownRightTest(unittest.TestCase):
    def test_explain_numbers_its_steps_without_gaps(self):
        # before: --loss mse went 1, 2, 3, 4, 6
        for loss in sorted(explain.LOSSES):
            with self.subTest(loss=loss):
                lines = []
                explain.walk_through(loss=loss, out=lines.append)
                numbers = [int(found.group(1)) for found in (re.match(r"(\d+)\. ", line) for line in lines) if found]
                self.assertEqual(numbers, list(range(1, len(numbers) + 1)))

    def test_the_text_charts_axis_labels_are_the_series_maximum_and_minimum(self):
        # 120 values in 60 columns: the first column averages 10 and 0 into 5
        values = [10.0] + [0.0] * 118 + [1.0]
        lines = text_chart(values, width=60, height=5, label="loss").splitlines()
        self.assertEqual(lines[1].split("|")[0].strip(), "10")
        self.assertEqual(lines[5].split("|")[0].strip(), "0")
        self.assertIn("*", lines[3])  # the first column's mean, 5, halfway down

    def test_the_square_demo_draws_misclassified_shapes_as_the_network_saw_them(self):
        network = square_detector.build_network(16, 4, seed=0)
        image = [[0.0] * 16 for _ in range(16)]
        for y in range(0, 4):
            for x in range(0, 4):
                image[y][x] = 1.0  # a small square in the top left corner; the network sees it centred
        lines = square_detector.example_lines(network, [image], [1], [0.2], 1)
        drawing = "\n".join(lines[1].splitlines()[2:])
        self.assertEqual(drawing, render(square_detector.as_seen(network, image)))
        self.assertNotEqual(drawing, render(image))
        self.assertTrue(drawing.splitlines()[0].startswith("...."), drawing)

    def test_the_drawing_windows_verdict_line_keeps_its_width(self):
        labels = []

        class Recorder:
            def __init__(self, *args, **kwargs):
                self.kwargs = kwargs

            def __getattr__(self, name):
                return lambda *args, **kwargs: None

        class Label(Recorder):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                labels.append(kwargs)

        class StringVar:
            def __init__(self, value=""):
                self.value = value

            def set(self, value):
                self.value = value

        fake_tkinter = argparse.Namespace(Canvas=Recorder, Label=Label, Button=Recorder, StringVar=StringVar)
        window = square_drawing.DrawingWindow(Recorder(), fake_tkinter, lambda image: ("square", 0.97), 8)
        (label,) = labels
        self.assertEqual(label.get("width"), len(window.verdict.value))  # the prompt, the longest line
        window.release(argparse.Namespace(x=3, y=3))
        self.assertEqual(window.verdict.value, "square (p=0.97)")
        self.assertLessEqual(len("not square (p=1.00)"), label["width"])


if __name__ == "__main__":
    unittest.main()
