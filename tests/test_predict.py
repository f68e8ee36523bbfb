"""Tests for the train -> save -> predict workflow: `python main.py predict` and
`python main.py evaluate` on a saved model, run through main.main in-process.

The models are trained once per class for a few epochs; the answers are checked
against the network's outputs worked out separately (normalization by hand),
against the same rows in another column order, and against the scores training
reported on the same rows.
"""

import contextlib
import copy
import csv
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
from app import pipeline  # noqa: E402
from app.config import load_config, validate_config  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import FORMAT_VERSION, Network  # noqa: E402
from datasets import read_csv_rows  # noqa: E402
from utils import make_rng  # noqa: E402


def run_main(*argv):
    """(exit status, stdout lines, stderr text) of main.main(argv)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main.main(list(argv))
    return status, out.getvalue().splitlines(), err.getvalue()


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def train_config(name, epochs):
    """pipeline.train on configs/NAME.json for a few epochs: (config, network, scores)."""
    path = os.path.join(ROOT, "configs", name + ".json")
    config = copy.deepcopy(load_config(path))
    config["data"]["path"] = pipeline.resolve_path(config["data"]["path"], path)
    config["training"]["epochs"] = epochs
    config = validate_config(config, name)
    network, _, scores = pipeline.train(config, verbose=False)
    return config, network, scores


def test_rows(config):
    """The header and raw rows (features and target, as text) of the test split pipeline.train scored."""
    data = pipeline.prepare_data(config, make_rng(config["seed"]))
    part = data.test
    header = part.feature_names + [part.target_name]
    if part.task == "classification":
        targets = [part.class_names[label] for label in part.labels]
    else:
        targets = [repr(row[0]) for row in part.values.rows]
    return header, [[repr(v) for v in row] + [t] for row, t in zip(part.X.rows, targets)]


def by_hand_outputs(network, header, rows):
    """The network's outputs for rows, with the saved normalization applied here by hand."""
    meta = network.metadata
    stats = meta["normalization"]
    positions = [header.index(name) for name in meta["feature_names"]]
    X = [[(float(row[p]) - shift) / scale for p, shift, scale in zip(positions, stats["shift"], stats["scale"])]
         for row in rows]
    return network.predict(Matrix(X)).rows


class PredictTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp()
        cls.models = {}
        for name, epochs in (("iris", 30), ("breast_cancer", 5), ("diabetes", 10)):
            config, network, scores = train_config(name, epochs)
            path = os.path.join(cls.folder, name + "_model.json")
            network.save(path)
            cls.models[name] = (config, path, scores)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.folder)

    def csv_path(self, name):
        return os.path.join(self.folder, f"{self.id().rsplit('.', 1)[-1]}_{name}.csv")

    def model_rows(self, name, with_target=True):
        config, path, scores = self.models[name]
        header, rows = test_rows(config)
        if not with_target:
            header, rows = header[:-1], [row[:-1] for row in rows]
        return path, header, rows


class PredictTest(PredictTestCase):
    def test_predict_prints_each_rows_class_and_its_probability(self):
        path, header, rows = self.model_rows("iris", with_target=False)
        status, lines, err = run_main("predict", "--model", path, "--input",
                                      write_csv(self.csv_path("rows"), header, rows))
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(len(lines), 1 + len(rows))  # a header line, then one line per row
        names = ["setosa", "versicolor", "virginica"]
        for index, (line, probabilities) in enumerate(zip(lines[1:], by_hand_outputs(
                Network.load(path), header, rows))):
            best = probabilities.index(max(probabilities))
            self.assertEqual(line.split(), [str(index + 1), names[best], f"{probabilities[best]:.4f}"])

    def test_columns_in_another_order_give_the_same_answers(self):
        path, header, rows = self.model_rows("iris", with_target=False)
        original = run_main("predict", "--model", path, "--input", write_csv(self.csv_path("a"), header, rows))
        order = list(range(len(header)))
        random.Random(1).shuffle(order)
        shuffled = write_csv(self.csv_path("b"), ["note"] + [header[i] for i in order],
                             [["ignored"] + [row[i] for i in order] for row in rows])
        self.assertNotEqual(order, sorted(order))
        self.assertEqual(run_main("predict", "--model", path, "--input", shuffled), original)

    def test_a_target_column_is_ignored_for_prediction_and_scores_the_answers(self):
        path, header, rows = self.model_rows("iris")
        status, lines, _ = run_main("predict", "--model", path, "--input", write_csv(self.csv_path("t"), header, rows))
        self.assertEqual(status, 0)
        answers = [line.split() for line in lines[1:-1]]
        self.assertEqual([a[3] for a in answers], [row[-1] for row in rows])  # the true class is shown
        # the same rows with their labels rotated: the same predictions, another accuracy
        names = ["setosa", "versicolor", "virginica"]
        rotated = [row[:-1] + [names[(names.index(row[-1]) + 1) % 3]] for row in rows]
        _, other, _ = run_main("predict", "--model", path, "--input", write_csv(self.csv_path("r"), header, rotated))
        self.assertEqual([line.split()[:3] for line in other[1:-1]], [a[:3] for a in answers])
        right = sum(a[1] == a[3] for a in answers)
        self.assertEqual(lines[-1], f"accuracy: {right / len(rows):.4f}")

    def test_a_missing_feature_column_is_a_one_line_error_naming_it(self):
        path, header, rows = self.model_rows("iris", with_target=False)
        gone = header.index("petal_width")
        status, lines, err = run_main("predict", "--model", path, "--input", write_csv(
            self.csv_path("m"), header[:gone] + header[gone + 1:], [row[:gone] + row[gone + 1:] for row in rows]))
        self.assertEqual((status, lines), (2, []))
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("missing feature column(s) 'petal_width'", err)

    def test_an_unknown_class_in_the_target_column_is_an_error(self):
        path, header, rows = self.model_rows("iris")
        rows[2][-1] = "tulip"
        status, _, err = run_main("predict", "--model", path, "--input", write_csv(self.csv_path("u"), header, rows))
        self.assertEqual(status, 2)
        self.assertIn("unknown class 'tulip'", err)

    def test_one_sigmoid_output_gives_the_probability_of_the_class_it_names(self):
        path, header, rows = self.model_rows("breast_cancer", with_target=False)
        _, lines, _ = run_main("predict", "--model", path, "--input", write_csv(self.csv_path("b"), header, rows))
        for line, (p_malignant,) in zip(lines[1:], by_hand_outputs(Network.load(path), header, rows)):
            expected = ["malignant", f"{p_malignant:.4f}"] if p_malignant > 0.5 else ["benign", f"{1 - p_malignant:.4f}"]
            self.assertEqual(line.split()[1:], expected)

    def test_regression_predictions_are_in_the_targets_own_units(self):
        path, header, rows = self.model_rows("diabetes", with_target=False)
        _, lines, _ = run_main("predict", "--model", path, "--input", write_csv(self.csv_path("d"), header, rows))
        stats = Network.load(path).metadata["target_normalization"]
        for line, (output,) in zip(lines[1:], by_hand_outputs(Network.load(path), header, rows)):
            self.assertAlmostEqual(float(line.split()[1]), output * stats["scale"][0] + stats["shift"][0], places=3)

    def test_a_model_that_outputs_logits_still_gives_probabilities(self):
        config, network, _ = train_config("iris", 3)
        network.layers = network.layers[:-1]  # as trained with output_activation "linear"
        X = pipeline.prepare_data(config, make_rng(0)).inputs(pipeline.prepare_data(config, make_rng(0)).test)
        logits = network.predict(X).rows
        for row, probabilities in zip(logits, pipeline.class_probabilities(network, X)):
            total = sum(math.exp(z) for z in row)
            for z, p in zip(row, probabilities):
                self.assertAlmostEqual(p, math.exp(z) / total, places=12)


class EvaluateTest(PredictTestCase):
    def test_evaluate_reports_what_training_reported_on_the_same_rows(self):
        for name in ("iris", "breast_cancer", "diabetes"):
            with self.subTest(model=name):
                path, header, rows = self.model_rows(name)
                status, lines, _ = run_main("evaluate", "--model", path, "--input",
                                            write_csv(self.csv_path(name), header, rows))
                self.assertEqual(status, 0)
                scores = self.models[name][2]
                self.assertEqual("\n".join(lines[1:]), "\n".join(pipeline.report_lines(scores, prefix="")))

    def test_evaluate_without_the_target_column_is_an_error(self):
        path, header, rows = self.model_rows("iris", with_target=False)
        status, _, err = run_main("evaluate", "--model", path, "--input", write_csv(self.csv_path("n"), header, rows))
        self.assertEqual(status, 2)
        self.assertIn("no target column 'species'", err)


class ModelFileTest(PredictTestCase):
    def broken_model(self, change):
        """A copy of the iris model file with change(data) applied to its JSON."""
        with open(self.models["iris"][1], encoding="utf-8") as f:
            data = json.load(f)
        change(data)
        path = self.csv_path("model").replace(".csv", ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        return path

    def predict_error(self, model_path):
        _, header, rows = self.model_rows("iris", with_target=False)
        status, lines, err = run_main("predict", "--model", model_path, "--input",
                                      write_csv(self.csv_path("rows"), header, rows))
        self.assertEqual((status, lines), (2, []))
        self.assertEqual(len(err.strip().splitlines()), 1)
        return err

    def test_a_model_from_a_newer_format_version_is_refused(self):
        path = self.broken_model(lambda data: data.update(format_version=FORMAT_VERSION + 1))
        self.assertIn("newer version", self.predict_error(path))

    def test_a_damaged_model_file_is_refused(self):
        with open(self.models["iris"][1], encoding="utf-8") as f:
            text = f.read()
        path = os.path.join(self.folder, "truncated.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text[:len(text) // 2])
        self.assertIn("damaged or truncated", self.predict_error(path))

    def test_a_model_without_metadata_is_refused(self):
        path = self.broken_model(lambda data: data.update(metadata={}))
        self.assertIn("holds no metadata", self.predict_error(path))

    def test_metadata_that_does_not_fit_the_weights_is_refused(self):
        path = self.broken_model(lambda data: data["metadata"]["feature_names"].pop())
        self.assertIn("metadata.feature_names must be a list of 4 column names", self.predict_error(path))
        path = self.broken_model(lambda data: data["metadata"]["normalization"]["scale"].append(1.0))
        self.assertIn("metadata.normalization", self.predict_error(path))
        path = self.broken_model(lambda data: data["metadata"]["class_names"].pop())
        self.assertIn("metadata.class_names", self.predict_error(path))

    def test_the_saved_model_carries_what_prediction_needs(self):
        meta = Network.load(self.models["iris"][1]).metadata
        header, _ = read_csv_rows(os.path.join(ROOT, "data", "iris.csv"))
        self.assertEqual(meta["feature_names"], header[:-1])
        self.assertEqual(meta["class_names"], ["setosa", "versicolor", "virginica"])
        self.assertEqual(len(meta["normalization"]["shift"]), 4)
        self.assertEqual(meta["config"]["training"]["optimizer"]["name"], "adamw")


if __name__ == "__main__":
    unittest.main()
