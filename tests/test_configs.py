"""Tests for the data-set configs in configs/: each one is valid, names its data,
and trains; here for two epochs on a slice of about 40 rows, so the file runs
in seconds. (demos/benchmark_datasets.py runs them in full.)
"""

import contextlib
import copy
import io
import json
import math
import os
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
from app import pipeline  # noqa: E402
from app.config import load_config, validate_config  # noqa: E402
from datasets import read_csv_rows  # noqa: E402

# config name -> (task, target column, number of classes or None)
CONFIGS = {
    "iris": ("classification", "species", 3),
    "digits": ("classification", "digit", 10),
    "digits_cnn": ("classification", "digit", 10),
    "breast_cancer": ("classification", "diagnosis", 2),
    "diabetes": ("regression", "progression", None),
}


def config_path(name):
    return os.path.join(ROOT, "configs", name + ".json")


def write_slice(source, destination, n_rows=40):
    """Every k-th row of a CSV file, about n_rows of them, so that every class is likely present."""
    with open(source, encoding="utf-8") as f:
        lines = f.read().splitlines()
    step = max(1, (len(lines) - 1) // n_rows)
    with open(destination, "w", encoding="utf-8") as f:
        f.write("\n".join([lines[0]] + lines[1::step]) + "\n")


class ConfigTestCase(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def small_config(self, name, epochs=2, **data_options):
        """The config `name` with its data cut to a slice of ~40 rows and `epochs` epochs."""
        config = load_config(config_path(name))
        source = pipeline.resolve_path(config["data"]["path"], config_path(name))
        sliced = os.path.join(self.folder, name + ".csv")
        write_slice(source, sliced)
        config = copy.deepcopy(config)
        config["data"]["path"] = sliced
        config["data"].update(data_options)
        config["training"]["epochs"] = epochs
        config["output"] = {"model_path": os.path.join(self.folder, name + "_model.json"), "plot": ""}
        return validate_config(config, name)


class ConfigFilesTest(ConfigTestCase):
    def test_every_config_is_valid_and_names_its_data_and_task(self):
        for name, (task, target, _) in CONFIGS.items():
            with self.subTest(config=name):
                config = load_config(config_path(name))
                self.assertEqual(config["task"], task)
                self.assertEqual(config["data"]["target"], target)
                path = pipeline.resolve_path(config["data"]["path"], config_path(name))
                header, _ = read_csv_rows(path)
                self.assertIn(target, header)

    def test_each_config_trains_two_epochs_on_a_slice_and_reports_its_scores(self):
        for name, (task, _, n_classes) in CONFIGS.items():
            with self.subTest(config=name):
                network, history, scores = pipeline.train(self.small_config(name), verbose=False)
                self.assertEqual(len(history["loss"]), 2)
                self.assertTrue(all(math.isfinite(value) for value in history["loss"]))
                self.assertEqual(network.metadata["task"], task)
                last = pipeline.report_lines(scores)[-1]
                if task == "classification":
                    self.assertEqual(len(network.metadata["class_names"]), n_classes)
                    self.assertTrue(0.0 <= scores["accuracy"] <= 1.0)
                    self.assertRegex(last, r"^test accuracy: [01]\.\d{4}$")
                else:
                    self.assertRegex(last, r"^test r2: -?\d+\.\d{4}$")

    def test_breast_cancer_learns_one_sigmoid_output_for_its_two_classes(self):
        network, _, _ = pipeline.train(self.small_config("breast_cancer"), verbose=False)
        self.assertEqual(network.layers[-1].name, "sigmoid")
        self.assertEqual(network.layers[-2].out_features, 1)
        self.assertEqual(network.metadata["class_names"], ["benign", "malignant"])

    def test_one_sigmoid_unit_is_trained_on_a_column_of_zeros_and_ones(self):
        config = self.small_config("breast_cancer")
        data = pipeline.prepare_data(config, pipeline.make_rng(0))
        self.assertEqual(data.n_outputs, 1)
        targets = data.targets(data.train)
        self.assertEqual(targets.shape, (len(data.train), 1))
        self.assertEqual([row[0] for row in targets.rows], [float(label) for label in data.train.labels])

    def test_breast_cancer_with_softmax_and_cross_entropy_has_two_outputs(self):
        config = self.small_config("breast_cancer")
        config["model"]["output_activation"] = "softmax"
        config["training"]["loss"] = "cross_entropy"
        network, _, scores = pipeline.train(validate_config(config), verbose=False)
        self.assertEqual(network.layers[-2].out_features, 2)
        self.assertEqual(len(scores["per_class"]), 2)

    def test_diabetes_is_trained_on_a_normalized_target_and_scored_in_its_own_units(self):
        config = self.small_config("diabetes")
        network, _, scores = pipeline.train(config, verbose=False)
        stats = network.metadata["target_normalization"]
        self.assertGreater(stats["scale"][0], 10.0)  # progression spreads over tens of units
        # the same split again, and the RMSE worked out from the raw outputs by hand
        data = pipeline.prepare_data(config, pipeline.make_rng(config["seed"]))
        outputs = network.predict(data.inputs(data.test)).rows
        predicted = [row[0] * stats["scale"][0] + stats["shift"][0] for row in outputs]
        actual = [row[0] for row in data.test.values.rows]
        rmse = math.sqrt(sum((p - a) ** 2 for p, a in zip(predicted, actual)) / len(actual))
        self.assertAlmostEqual(scores["rmse"], rmse, places=9)
        self.assertGreater(scores["rmse"], 5.0)  # in normalized units it would be about 1

    def test_the_task_follows_from_the_target_when_the_config_says_auto(self):
        for name, (task, _, _) in CONFIGS.items():
            with self.subTest(config=name):
                config = self.small_config(name)
                config["task"] = "auto"
                data = pipeline.prepare_data(config, pipeline.make_rng(0))
                self.assertEqual(data.task, task)

    def test_validation_fraction_adds_validation_figures_to_every_epoch_line(self):
        config = self.small_config("iris", validation_fraction=0.2)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            _, history, _ = pipeline.train(config, verbose=True)
        self.assertEqual(len(history["val_loss"]), 2)
        self.assertEqual(len(history["val_accuracy"]), 2)
        epoch_lines = [line for line in output.getvalue().splitlines() if line.startswith("epoch")]
        self.assertEqual(len(epoch_lines), 2)
        for line in epoch_lines:
            self.assertIn("val_loss", line)
            self.assertIn("val_accuracy", line)

    def test_main_trains_a_config_and_saves_a_model_that_predict_can_read(self):
        config = self.small_config("iris")
        path = os.path.join(self.folder, "iris_config.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            status = main.main(["--config", path, "--quiet"])
        self.assertEqual(status, 0)
        lines = output.getvalue().splitlines()
        self.assertRegex(lines[-2], r"^test accuracy: [01]\.\d{4}$")
        model = pipeline.load_model_for_prediction(config["output"]["model_path"])
        self.assertEqual(model.metadata["config"]["data"]["target"], "species")


if __name__ == "__main__":
    unittest.main()
