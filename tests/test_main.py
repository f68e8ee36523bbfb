"""Tests for main.py, run as a user runs it: a subprocess in a folder of its own.

Every mistake in a config or a data file must come back as one line on stderr,
exit status 2, no traceback, and leave a model saved earlier untouched.
The runs are tiny (a few epochs) and the error cases run side by side.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from network import Network  # noqa: E402

MAIN = os.path.join(ROOT, "main.py")
PREVIOUS_MODEL = b'{"an older model": [1, 2, 3]}\n\x00 exactly these bytes'

with open(os.path.join(ROOT, "train_data.csv"), encoding="utf-8") as _f:
    IRIS_LINES = _f.read().splitlines()

BASE_CONFIG = {
    "seed": 3,
    "data": {"path": "data.csv", "target": "species", "test_fraction": 0.2},
    "model": {"hidden_layers": [{"units": 8, "activation": "relu"}], "output_activation": "softmax"},
    "training": {"loss": "cross_entropy", "optimizer": {"name": "adam", "lr": 0.05}, "epochs": 3,
                 "batch_size": 16},
    "output": {"model_path": "model.json"},
}


def with_value(dotted, value):
    """BASE_CONFIG with the value at a dotted path set (a copy)."""
    config = copy.deepcopy(BASE_CONFIG)
    *parents, last = dotted.split(".")
    section = config
    for key in parents:
        section = section[key]
    section[last] = value
    return config


def with_line(number, text):
    """The iris CSV with line `number` (1 = the header) replaced by text."""
    lines = IRIS_LINES[:]
    lines[number - 1] = text
    return "\n".join(lines) + "\n"


def run_main(folder, *args):
    """python main.py ARGS in folder; returns the CompletedProcess with text output."""
    return subprocess.run([sys.executable, MAIN, *args], cwd=folder, capture_output=True, text=True, timeout=120)


def make_folder(parent, name, config=BASE_CONFIG, csv_text=None, config_text=None):
    """A folder with config.json, data.csv and an earlier model.json; returns its path."""
    folder = os.path.join(parent, name)
    os.mkdir(folder)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        f.write(config_text if config_text is not None else json.dumps(config))
    with open(os.path.join(folder, "data.csv"), "w", encoding="utf-8") as f:
        f.write(csv_text if csv_text is not None else "\n".join(IRIS_LINES) + "\n")
    with open(os.path.join(folder, "model.json"), "wb") as f:
        f.write(PREVIOUS_MODEL)
    return folder


# name -> (config, CSV text or None for the good file, raw config text or None, what the message must say)
ERROR_CASES = {
    "unknown top-level key": (dict(BASE_CONFIG, trainig={}), None, None, ["unknown key 'trainig'", "training"]),
    "misspelt key": (with_value("data", {"path": "data.csv", "tagret": "species"}), None, None,
                     ["unknown key 'tagret'", "did you mean 'target'"]),
    "unknown activation": (with_value("model.hidden_layers", [{"units": 8, "activation": "relu6"}]), None, None,
                           ["unknown activation 'relu6'", "valid:", "leaky_relu", "sigmoid", "tanh"]),
    "unknown loss": (with_value("training.loss", "hinge"), None, None,
                     ["unknown loss 'hinge'", "valid:", "binary_cross_entropy", "cross_entropy", "mse"]),
    "unknown optimizer": (with_value("training.optimizer", {"name": "adagrad"}), None, None,
                          ["unknown optimizer 'adagrad'", "valid:", "adam", "adamw", "rmsprop", "sgd"]),
    "wrong type": (with_value("training.epochs", "10"), None, None, ["training.epochs", "positive integer"]),
    "zero learning rate": (with_value("training.optimizer.lr", 0), None, None, ["training.optimizer.lr", "> 0"]),
    "negative learning rate": (with_value("training.optimizer.lr", -0.01), None, None, ["training.optimizer.lr"]),
    "zero epochs": (with_value("training.epochs", 0), None, None, ["training.epochs", "positive integer"]),
    "zero batch size": (with_value("training.batch_size", 0), None, None, ["training.batch_size"]),
    "negative batch size": (with_value("training.batch_size", -8), None, None, ["training.batch_size"]),
    "test fraction 0": (with_value("data.test_fraction", 0), None, None, ["data.test_fraction", "(0, 1)"]),
    "test fraction 1": (with_value("data.test_fraction", 1), None, None, ["data.test_fraction", "(0, 1)"]),
    "test fraction 1.5": (with_value("data.test_fraction", 1.5), None, None, ["data.test_fraction"]),
    "validation fraction 1": (with_value("data.validation_fraction", 1.0), None, None,
                              ["data.validation_fraction"]),
    "invalid JSON": (None, None, '{"data": {"path": "data.csv",}}', ["invalid JSON at line 1"]),
    "missing data file": (with_value("data.path", "nowhere.csv"), None, None, ["nowhere.csv", "file not found"]),
    "target not in the CSV": (with_value("data.target", "kind"), None, None,
                              ["target column 'kind' is not in the header", "species"]),
    "ragged row": (BASE_CONFIG, with_line(5, "4.6,3.1,1.5,setosa"), None, ["line 5", "expected 5 values"]),
    "non-numeric row": (BASE_CONFIG, with_line(7, "4.6,abc,1.4,0.3,setosa"), None,
                        ["line 7", "'sepal_width'", "'abc'", "not a number"]),
    "NaN value": (BASE_CONFIG, with_line(9, "4.4,2.9,NaN,0.2,setosa"), None, ["line 9", "NaN and infinite"]),
    "infinite value": (BASE_CONFIG, with_line(10, "4.9,3.1,1.5,inf,setosa"), None, ["line 10", "NaN and infinite"]),
    "one class": (BASE_CONFIG, "\n".join(IRIS_LINES[:51]) + "\n", None,
                  ["only one class ('setosa')", "need at least 2"]),
    # finite, but their sum overflows in the normalization (math.fsum raises OverflowError)
    "huge values": (BASE_CONFIG, "\n".join([IRIS_LINES[0], "1e308,3.5,1.4,0.2,setosa", "1.7e308,3,1.4,0.2,setosa"]
                                           + IRIS_LINES[3:]) + "\n", None,
                    ["data.csv", "'sepal_length'", "too large to normalize"]),
    "model folder missing": (with_value("output.model_path", "no/such/folder/model.json"), None, None,
                             ["no/such/folder/model.json", "does not exist"]),
}


class MainErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.parent = tempfile.mkdtemp()
        folders = {name: make_folder(cls.parent, f"case{i}", case[0], case[1], case[2])
                   for i, (name, case) in enumerate(ERROR_CASES.items())}
        folders["missing config file"] = make_folder(cls.parent, "missing-config")
        cls.listings = {name: sorted(os.listdir(folder)) for name, folder in folders.items()}

        def run(item):
            name, folder = item
            args = ["--config", "absent.json"] if name == "missing config file" else ["--config", "config.json"]
            return name, folder, run_main(folder, *args)

        with ThreadPoolExecutor(max_workers=8) as pool:
            cls.results = {name: (folder, result) for name, folder, result in pool.map(run, folders.items())}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.parent)

    def check(self, name, expected):
        folder, result = self.results[name]
        lines = result.stderr.splitlines()
        self.assertEqual(result.returncode, 2, f"{name}: stderr {result.stderr!r}")
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(len(lines), 1, f"{name}: stderr {result.stderr!r}")
        self.assertTrue(lines[0].startswith("error: "), lines[0])
        for text in expected:
            self.assertIn(text, lines[0], name)
        with open(os.path.join(folder, "model.json"), "rb") as f:
            self.assertEqual(f.read(), PREVIOUS_MODEL, f"{name}: the earlier model was changed")
        self.assertEqual(sorted(os.listdir(folder)), self.listings[name], f"{name}: files were written")

    def test_each_config_and_data_error_is_one_line_with_status_2(self):
        for name, (_, _, _, expected) in ERROR_CASES.items():
            with self.subTest(case=name):
                self.check(name, expected)

    def test_missing_config_file(self):
        self.check("missing config file", ["absent.json", "file not found"])


class MainCommandLineTest(unittest.TestCase):
    def setUp(self):
        self.parent = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.parent)

    def test_help_exits_0_and_mentions_config(self):
        result = run_main(self.parent, "--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("--config", result.stdout)
        self.assertEqual(result.stderr, "")

    def test_unknown_option_is_one_line_with_status_2(self):
        result = run_main(self.parent, "--epochs", "3")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn("--epochs", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_a_small_run_reports_accuracy_and_saves_the_model(self):
        folder = make_folder(self.parent, "run")
        result = run_main(folder, "--config", "config.json")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, re.compile(r"^test accuracy: [01]\.\d{4}$", re.MULTILINE))
        self.assertRegex(result.stdout, re.compile(r"^model saved to model\.json$", re.MULTILINE))
        network = Network.load(os.path.join(folder, "model.json"))  # the earlier file was replaced
        self.assertEqual(network.metadata["class_names"], ["setosa", "versicolor", "virginica"])

    def test_the_default_config_reaches_93_percent(self):
        folder = os.path.join(self.parent, "default")
        os.mkdir(folder)
        for name in ("config.json", "train_data.csv"):
            shutil.copy(os.path.join(ROOT, name), folder)
        result = run_main(folder)
        self.assertEqual(result.returncode, 0, result.stderr)
        found = re.search(r"^test accuracy: (\d\.\d{4})$", result.stdout, re.MULTILINE)
        self.assertIsNotNone(found, result.stdout)
        self.assertGreaterEqual(float(found.group(1)), 0.93)
        self.assertIn("model saved to model.json", result.stdout)
        self.assertTrue(os.path.exists(os.path.join(folder, "model.json")))


if __name__ == "__main__":
    unittest.main()
