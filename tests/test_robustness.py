"""Every kind of bad input, one table row each: what the learner did, and what they must be told.

The command-line cases run `python main.py ...` as a user would, side by side, each in a
folder of its own holding an earlier model. Each must end with exit status 2, one
"error: ..." line on stderr that names the problem (a "warning: ..." line may come
first), no traceback, and every file in the folder exactly as it was: nothing
written, nothing changed. The Python API cases check the exception type and that its
message names the values involved. (tests/test_main.py, test_config.py, test_utils.py
and test_network.py hold further cases; none is repeated here.)
"""

import contextlib
import copy
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
from activations import ReLU, Softmax  # noqa: E402
from layers import Dense  # noqa: E402
from losses import MSE, CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import ModelFileError, Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from app.training import CheckpointError, load_checkpoint  # noqa: E402
from datasets import DataError, Normalizer, read_csv_rows  # noqa: E402

MAIN = os.path.join(ROOT, "main.py")
PREVIOUS_MODEL = b'{"an older model": [1, 2, 3]}\n'

with open(os.path.join(ROOT, "train_data.csv"), encoding="utf-8") as _file:
    IRIS = _file.read().splitlines()
HEADER = IRIS[0]
IRIS_TEXT = "\n".join(IRIS) + "\n"
FEATURES_TEXT = "\n".join(",".join(line.split(",")[:4]) for line in IRIS[:6]) + "\n"  # no species column
NUMBERED_CLASSES_WITHOUT_HEADER = "\n".join(IRIS[1:]).replace("setosa", "0").replace("versicolor", "1") \
    .replace("virginica", "2") + "\n"

CONFIG = {
    "seed": 1,
    "data": {"path": "data.csv", "target": "species"},
    "model": {"hidden_layers": [{"units": 4}]},
    "training": {"epochs": 2, "optimizer": {"name": "adam", "lr": 0.05}},
    "output": {"model_path": "model.json"},
}


def config_with(**changes):
    """CONFIG as JSON text, with changes given as section__key=value (or key=value at the top)."""
    config = copy.deepcopy(CONFIG)
    for dotted, value in changes.items():
        *sections, key = dotted.split("__")
        place = config
        for section in sections:
            place = place.setdefault(section, {})
        place[key] = value
    return json.dumps(config)


def iris_with(number, text):
    """The iris CSV with line `number` (1 = the header) replaced by text."""
    lines = IRIS[:]
    lines[number - 1] = text
    return "\n".join(lines) + "\n"


DIRECTORY = object()  # in a case's files: make a folder of this name


def trained_model():
    """A model trained by main.py on the iris data, as JSON text."""
    return trained_files()[0]


def trained_checkpoint(change):
    """The checkpoint of that run as JSON text after change(data) (which edits data in place)."""
    data = json.loads(trained_files()[1])
    change(data)
    return json.dumps(data)


@functools.lru_cache(maxsize=None)
def trained_files():
    """The model and the last checkpoint of one run of main.py on the iris data, as JSON text
    (trained once, in this process)."""
    folder = tempfile.mkdtemp()
    try:
        with open(os.path.join(folder, "data.csv"), "w", encoding="utf-8") as f:
            f.write(IRIS_TEXT)
        config = copy.deepcopy(CONFIG)
        config["data"]["path"] = os.path.join(folder, "data.csv")
        config["output"]["model_path"] = os.path.join(folder, "model.json")
        config["training"].update(checkpoint_every=1, checkpoint_path=os.path.join(folder, "checkpoint.json"))
        with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f)
        with contextlib.redirect_stdout(io.StringIO()):
            status = main.main(["--config", os.path.join(folder, "config.json"), "--quiet"])
        assert status == 0, status
        texts = []
        for name in ("model.json", "checkpoint.json"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                texts.append(f.read())
        return texts
    finally:
        shutil.rmtree(folder)


def model_with(change):
    """The trained model as JSON text after change(data) (which edits data in place)."""
    data = json.loads(trained_model())
    change(data)
    return json.dumps(data)


def set_path(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def predict(model_text=None, rows=IRIS_TEXT, command="predict", extra=()):
    """Files and arguments of a predict (or evaluate) run: trained.json and rows.csv."""
    files = {"trained.json": trained_model() if model_text is None else model_text, "rows.csv": rows}
    return files, [command, "--model", "trained.json", "--input", "rows.csv", *extra]


def train(config=None, data=IRIS_TEXT, extra_files=None, argv=("--config", "config.json")):
    files = {"config.json": config_with() if config is None else config, "data.csv": data}
    files.update(extra_files or {})
    return files, list(argv)


def cli_cases():
    """name -> ((files, argv), texts the error line must contain)."""
    return {
        # ------------------------------------------------------------ the config
        "config is a folder": (train(extra_files={"settings": DIRECTORY}, argv=["--config", "settings"]),
                               ["settings", "is a directory"]),
        "config not UTF-8": (train(config=b'{"data": {"path": "d\xe9j\xe0.csv"}}'), ["config.json", "not UTF-8"]),
        "config empty": (train(config=""), ["config.json", "invalid JSON at line 1"]),
        "config nested too deeply": (train(config="[" * 100000), ["nested too deeply"]),
        "config is a list": (train(config="[1, 2]"), ["top level must be a JSON object"]),
        "config with NaN": (train(config=config_with().replace('"lr": 0.05', '"lr": NaN')),
                            ["training.optimizer.lr", "finite number", "NaN"]),
        "every config problem at once": (
            train(config=json.dumps(dict(json.loads(config_with(training__epochs=0)), trainig={},
                                         model={"hidden_layers": [{"units": 4, "activation": "relu6"}]}))),
            ["unknown key 'trainig' (did you mean 'training'?)", "training.epochs", "unknown activation 'relu6'"]),
        "misspelt scheduler": (train(config=config_with(training__scheduler={"name": "cosin"})),
                               ["unknown scheduler 'cosin'", "did you mean 'cosine'"]),
        "delimiter inside numbers": (train(config=config_with(data__delimiter=".")), ["data.delimiter", "'.'"]),
        # --------------------------------------------- files the run would write
        "plot over the model": (train(config=config_with(output__plot="model.json")),
                                ["output.plot", "also output.model_path"]),
        "model over the data": (train(config=config_with(output__model_path="data.csv")),
                                ["output.model_path", "the data file"]),
        "model over the config": (train(config=config_with(output__model_path="config.json")),
                                  ["output.model_path", "the config file"]),
        "checkpoint over the model": (train(config=config_with(training__checkpoint_every=1,
                                                               training__checkpoint_path="model.json")),
                                      ["training.checkpoint_path", "also output.model_path"]),
        "model folder is a file": (train(config=config_with(output__model_path="data.csv/model.json")),
                                   ["data.csv/model.json", "is a file, not a folder"]),
        "model path is a folder": (train(config=config_with(output__model_path="models"),
                                         extra_files={"models": DIRECTORY}), ["models", "is a directory"]),
        "model path ends in a slash": (train(config=config_with(output__model_path="models/")),
                                       ["models/", "is a directory, expected a file path"]),
        "model file name too long": (train(config=config_with(output__model_path="m" * 300 + ".json")),
                                     ["the file name is longer than the"]),
        "NUL in a file name": (train(config=config_with(output__plot="curves\u0000.svg")),
                               ["'curves\\x00.svg'", "NUL character"]),
        "plot folder missing": (train(config=config_with(output__plot="charts/curves.svg")),
                                ["charts/curves.svg", "does not exist"]),
        "checkpoint folder missing": (train(config=config_with(training__checkpoint_every=1,
                                                               training__checkpoint_path="runs/checkpoint.json")),
                                      ["runs/checkpoint.json", "does not exist"]),
        # ---------------------------------------------------------- the CSV file
        "CSV header missing": (train(data=NUMBERED_CLASSES_WITHOUT_HEADER),
                               ["data.csv line 1", "the first row is all numbers", "header is missing"]),
        "CSV header missing, text target": (train(data="\n".join(IRIS[1:]) + "\n"),
                                            ["target column 'species' is not in the header", "header row missing"]),
        "CSV with semicolons": (train(data=IRIS_TEXT.replace(",", ";")), ["separated by ';'", "data.delimiter"]),
        "CSV too small to split": (train(data="\n".join([HEADER, IRIS[1], IRIS[51]]) + "\n"),
                                   ["data.csv", "2 rows are too few to split"]),
        "CSV duplicate column": (train(data=iris_with(1, "sepal_length,sepal_length,petal_length,petal_width,species")),
                                 ["line 1", "duplicate column name 'sepal_length'"]),
        "CSV empty": (train(data=""), ["data.csv", "the file is empty"]),
        "CSV header only": (train(data=HEADER + "\n"), ["data.csv", "has a header but no data rows"]),
        "CSV is a folder": (train(config=config_with(data__path="tables"), extra_files={"tables": DIRECTORY}),
                            ["tables", "is a directory"]),
        "CSV empty target cell": (train(data=iris_with(4, "4.7,3.2,1.3,0.2,")),
                                  ["line 4", "target column 'species' is empty"]),
        "CSV unclosed quote": (train(data=iris_with(5, '4.6,"3.1,1.5,0.2,setosa')),
                               ["line 5", "expected 5 values", "closing quote missing"]),
        "CSV quoted comma in a number": (train(data=iris_with(2, '"5,1",3.5,1.4,0.2,setosa')),
                                         ["line 2", "'sepal_length'", "'5,1'", "not a number"]),
        "CSV text target for regression": (train(config=config_with(task="regression")),
                                           ["line 2", "'species'", "'setosa'", "not a number"]),
        "CSV missing feature column": (train(config=config_with(data__features=["sepal_length", "petal_size"])),
                                       ["missing feature column(s) 'petal_size'"]),
        "CSV in a Windows code page, wrong": (train(data=b"\xc9t\xe9,\x80\x81\n\x82,\x83\n"),
                                              ["data.csv", "target column 'species' is not in the header",
                                               "columns: \u00c9t\u00e9, '\\x80\\x81'"]),
        "CSV is a spreadsheet file": (train(data=b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"),
                                      ["data.csv", "not a text file", "NUL bytes", "saved as CSV"]),
        # ------------------------------------------------ model files (predict)
        "model not found": (({"rows.csv": IRIS_TEXT}, ["predict", "--model", "nowhere.json", "--input", "rows.csv"]),
                            ["nowhere.json", "model file not found"]),
        "model truncated": (predict(trained_model()[:len(trained_model()) // 2]),
                            ["trained.json", "damaged or truncated"]),
        "model is a config": (predict(config_with()), ["trained.json", "not a model file of this framework"]),
        "model is a list": (predict("[1, 2, 3]"), ["not a model file of this framework"]),
        "model newer format": (predict(model_with(lambda m: m.update(format_version=99))),
                               ["newer version", "format 99"]),
        "model weight shape": (predict(model_with(lambda m: set_path(m, ["layers", 0, "parameters", "weight"],
                                                                     [[0.5] * 4] * 3))),
                               ["layers[0].parameters.weight", "shape (3, 4) does not match the layer's (4, 4)"]),
        "model unknown layer": (predict(model_with(lambda m: set_path(m, ["layers", 1, "type"], "Conv3D"))),
                                ["layers[1]", "unknown layer type 'Conv3D'"]),
        "model missing feature names": (predict(model_with(lambda m: m["metadata"].pop("feature_names"))),
                                        ["metadata.feature_names"]),
        "model layer asks for an rng": (predict(model_with(lambda m: set_path(m, ["layers", 1, "config"],
                                                                              {"rng": "os.system"}))),
                                        ["layers[1].config", "unexpected key 'rng'"]),
        "model declares a huge layer": (predict(model_with(lambda m: set_path(m, ["layers", 0, "config", "in_features"],
                                                                              10 ** 9))),
                                        ["layers[0].parameters.weight", "(1000000000, 4)"]),
        "model zero scale": (predict(model_with(lambda m: set_path(m, ["metadata", "normalization", "scale", 1], 0))),
                             ["metadata.normalization", "scale > 0"]),
        "model nested too deeply": (predict("[" * 100000), ["trained.json", "nested too deeply"]),
        "model is a folder": (({"kept": DIRECTORY, "rows.csv": IRIS_TEXT}, ["predict", "--model", "kept", "--input",
                                                                             "rows.csv"]), ["kept", "is a directory"]),
        # ------------------------------------------------------ prediction input
        "input missing a column": (predict(rows="sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n"),
                                   ["rows.csv", "missing feature column(s) 'petal_width'"]),
        "input wrong value type": (predict(rows=FEATURES_TEXT.replace("4.9,3", "4.9,three")),
                                   ["rows.csv line 3", "'sepal_width'", "'three'", "not a number"]),
        "input empty": (predict(rows=""), ["rows.csv", "the file is empty"]),
        "input header only": (predict(rows=HEADER + "\n"), ["rows.csv", "no data rows"]),
        "input unknown class": (predict(rows=iris_with(3, "4.9,3,1.4,0.2,daisy"), command="evaluate"),
                                ["line 3", "unknown class 'daisy'", "setosa"]),
        "evaluate without targets": (predict(rows=FEATURES_TEXT, command="evaluate"), ["no target column 'species'"]),
        "input delimiter too long": (predict(extra=["--delimiter", ";;"]), ["delimiter", "single character"]),
        "input with semicolons": (predict(rows=FEATURES_TEXT.replace(",", ";")),
                                  ["missing feature column(s)", "separated by ';'", "--delimiter"]),
        "input is a folder": (({"trained.json": trained_model(), "batch": DIRECTORY},
                               ["predict", "--model", "trained.json", "--input", "batch"]),
                              ["batch", "is a directory"]),
        "input header missing": (predict(rows="\n".join(FEATURES_TEXT.splitlines()[1:]) + "\n"),
                                 ["rows.csv line 1", "header is missing"]),
        "input infinite value": (predict(rows=FEATURES_TEXT.replace("1.3", "inf")), ["line 4", "NaN and infinite"]),
        # ------------------------------------------------------------ checkpoints
        "resume missing checkpoint": (train(argv=["--resume", "checkpoint.json"]), ["checkpoint file not found"]),
        "resume from a model file": (train(extra_files={"trained.json": trained_model()},
                                           argv=["--resume", "trained.json"]),
                                     ["trained.json", "not a checkpoint", "not a model file"]),
        "resume a damaged checkpoint": (
            train(extra_files={"checkpoint.json": trained_checkpoint(
                lambda data: data["position"].update(order="all"))}, argv=["--resume", "checkpoint.json"]),
            ["checkpoint.json", "field 'position.order'", "row numbers"]),
        "resume with a wrong random state": (
            train(extra_files={"checkpoint.json": trained_checkpoint(
                lambda data: data["random_state"][1].pop())}, argv=["--resume", "checkpoint.json"]),
            ["checkpoint.json", "field 'random_state'", "state of a random generator"]),
        # --------------------------------------------------------- the command line
        "unknown command": (train(argv=["trian"]), ["unknown command 'trian'", "did you mean 'train'"]),
        "config without --config": (train(argv=["config.json"]), ["unknown command 'config.json'", "--config"]),
        "option without its value": (train(argv=["--config"]), ["--config", "expected one argument"]),
        "predict without --model": (({"rows.csv": IRIS_TEXT}, ["predict", "--input", "rows.csv"]), ["--model"]),
        "explain with a bad number": (train(argv=["explain", "--lr", "fast"]), ["--lr", "'fast'"]),
        "predict unknown option": (predict(extra=["--bogus"]), ["unrecognized arguments: --bogus"]),
    }


def make_files(folder, files):
    for name, content in files.items():
        path = os.path.join(folder, name)
        if content is DIRECTORY:
            os.mkdir(path)
            continue
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode("utf-8"))


def snapshot(folder):
    """Every file under folder with its bytes, and every folder: what 'nothing changed' compares."""
    found = {}
    for place, folders, names in os.walk(folder):
        for name in folders:
            found[os.path.relpath(os.path.join(place, name), folder) + "/"] = None
        for name in names:
            path = os.path.join(place, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


class CommandLineBadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.parent = tempfile.mkdtemp()
        cls.folders, cls.before = {}, {}
        cls.cases = cli_cases()
        for number, (name, ((files, argv), _)) in enumerate(cls.cases.items()):
            folder = os.path.join(cls.parent, f"case{number}")
            os.mkdir(folder)
            make_files(folder, dict(files, **{"model.json": PREVIOUS_MODEL}))
            cls.folders[name], cls.before[name] = folder, snapshot(folder)

        def run(name):
            argv = cls.cases[name][0][1]
            started = time.perf_counter()
            result = subprocess.run([sys.executable, MAIN, *argv], cwd=cls.folders[name], capture_output=True,
                                    text=True, timeout=120)
            return name, result, time.perf_counter() - started

        with ThreadPoolExecutor(max_workers=8) as pool:
            cls.results = {name: (result, seconds) for name, result, seconds in pool.map(run, cls.cases)}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.parent)

    def test_there_are_at_least_40_kinds_of_bad_input(self):
        self.assertGreaterEqual(len(self.cases) + len(API_CASES), 40)

    def test_each_is_one_error_line_with_status_2_and_changes_nothing(self):
        for name, (_, expected) in self.cases.items():
            with self.subTest(case=name):
                result, seconds = self.results[name]
                shown = f"{name}: status {result.returncode}, stderr {result.stderr!r}"
                self.assertEqual(result.returncode, 2, shown)
                self.assertNotIn("Traceback", result.stderr, shown)
                lines = result.stderr.splitlines()
                self.assertTrue(lines and lines[-1].startswith("error: "), shown)
                self.assertTrue(all(line.startswith("warning: ") for line in lines[:-1]), shown)
                for text in expected:
                    self.assertIn(text, lines[-1], shown)
                self.assertEqual(snapshot(self.folders[name]), self.before[name], f"{name}: files changed")
                self.assertLess(seconds, 30, f"{name}: took {seconds:.1f} s to fail")

    def test_a_latin_1_file_is_read_with_one_warning_naming_it(self):
        # a bad file too, so that the run ends early: the warning comes before the error
        result, _ = self.results["CSV in a Windows code page, wrong"]
        warning = result.stderr.splitlines()[0]
        self.assertTrue(warning.startswith("warning: data.csv: not UTF-8"), warning)
        self.assertIn("Latin-1", warning)


class ReadOnlyFolderTest(unittest.TestCase):
    @unittest.skipIf(os.name != "posix" or os.geteuid() == 0, "needs POSIX permissions and a user other than root")
    def test_a_model_path_in_a_read_only_folder_is_refused_before_training(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        make_files(folder, {"config.json": config_with(output__model_path="locked/model.json"),
                            "data.csv": IRIS_TEXT, "locked": DIRECTORY})
        os.chmod(os.path.join(folder, "locked"), 0o555)
        self.addCleanup(os.chmod, os.path.join(folder, "locked"), 0o755)
        result = subprocess.run([sys.executable, MAIN, "--config", "config.json"], cwd=folder,
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertEqual(result.stderr, "error: locked/model.json: cannot be written (permission denied)\n")
        self.assertNotIn("epoch", result.stdout)  # refused before training


class Latin1Test(unittest.TestCase):
    def test_a_latin_1_file_trains_with_one_warning_line_even_on_an_ascii_console(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        text = IRIS_TEXT.replace("setosa", "s\u00e9tosa")
        make_files(folder, {"data.csv": text.encode("latin-1"), "config.json": config_with()})
        # a console that cannot show the class name: printed escaped, and the model still saved
        result = subprocess.run([sys.executable, MAIN, "--config", "config.json", "--quiet"], cwd=folder,
                                capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, PYTHONIOENCODING="ascii"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("s\\xe9tosa", result.stdout)
        self.assertEqual(result.stderr.splitlines(), [
            "warning: data.csv: not UTF-8 text; read as Latin-1 (ISO-8859-1), so check any accented names; "
            "save the file as UTF-8 to be sure"])
        self.assertEqual(Network.load(os.path.join(folder, "model.json")).metadata["class_names"][0],
                         "s\u00e9tosa")


# ------------------------------------------------------------------ the Python API
def _network():
    return Network([Dense(2, 3), ReLU(), Dense(3, 2), Softmax()])


X = Matrix([[1.0, 2.0], [3.0, 4.0]])


def _load_damaged_checkpoint():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "checkpoint.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"format": "pure-python-neural-network-checkpoint", "format_version": 1, "model": {},
                       "optimizer": {}, "random_state": [], "history": {},
                       "position": {"epoch": 1, "batches_done": 0, "correct": 0, "total_loss": 0.0,
                                    "order": [0, "1"]}}, f)
        return load_checkpoint(path)


def _huge_layer():
    data = _network().to_dict()
    data["layers"][0]["config"]["in_features"] = 10 ** 9
    return data


# name -> (call, exception type, texts its message must contain)
API_CASES = {
    "list into a Dense layer": (lambda: Dense(2, 3).forward([[1.0, 2.0]]), TypeError,
                                ["Dense(2 -> 3)", "Matrix", "(n, 2)", "list"]),
    "list into a network": (lambda: _network().predict([[1.0, 2.0]]), TypeError, ["Matrix(rows)", "list"]),
    "a name where a layer goes": (lambda: Network([Dense(2, 3), "relu"]), TypeError, ["layer 1", "'relu'"]),
    "list into a loss": (lambda: MSE().forward([[1.0]], Matrix([[1.0]])), TypeError,
                         ["MSE", "predictions must be a Matrix", "list"]),
    "loss backward before forward": (lambda: CrossEntropy().backward(), ValueError,
                                     ["CrossEntropy.backward called before forward"]),
    "optimizer given the network": (lambda: Adam(_network()), TypeError, ["network.parameters()", "Network"]),
    "optimizer given layers": (lambda: Adam(_network().layers), TypeError, ["item 0", "Dense", "not a Parameter"]),
    "optimizer given nothing": (lambda: Adam([]), ValueError, ["Adam was given no parameters"]),
    "class index out of range": (lambda: _network().evaluate(X, [0, 3], CrossEntropy()), ValueError,
                                 ["class index 3 out of range for 2 classes"]),
    "too few class indices": (lambda: _network().evaluate(X, [0], CrossEntropy()), ValueError,
                              ["2 predictions but 1 class indices"]),
    "fractional class labels": (lambda: _network().evaluate(X, [0.0, 1.0], CrossEntropy()), ValueError,
                                ["Matrix of shape (2, 2)", "class indices"]),
    "class indices into fit": (lambda: _network().fit(X, [0, 1], CrossEntropy(), Adam(_network().parameters()),
                                                      epochs=1), TypeError, ["one_hot", "list"]),
    "normalization with zero scale": (lambda: Normalizer.from_dict({"method": "zscore", "shift": [0.0],
                                                                    "scale": [0.0]}), ValueError, ["scale > 0"]),
    "delimiter of two characters": (lambda: read_csv_rows(os.path.join(ROOT, "train_data.csv"), delimiter=";;"),
                                    DataError, ["train_data.csv", "single character", "';;'"]),
    "model declaring a huge layer": (lambda: Network.from_dict(_huge_layer()), ModelFileError,
                                     ["layers[0].parameters.weight", "(1000000000, 3)"]),
    "damaged checkpoint": (_load_damaged_checkpoint, CheckpointError,
                           ["position.order", "row numbers"]),
}


class PythonApiBadInputTest(unittest.TestCase):
    def test_each_misuse_raises_a_clear_error(self):
        for name, (call, kind, expected) in API_CASES.items():
            with self.subTest(case=name):
                started = time.perf_counter()
                with self.assertRaises(kind) as caught:
                    call()
                for text in expected:
                    self.assertIn(text, str(caught.exception))
                self.assertNotIn("\n", str(caught.exception))
                self.assertLess(time.perf_counter() - started, 5.0, f"{name}: slow to fail")

    def test_evaluate_takes_class_indices_as_the_losses_do(self):
        network = _network()
        by_index = network.evaluate(X, [1, 0], CrossEntropy())
        by_rows = network.evaluate(X, Matrix([[0.0, 1.0], [1.0, 0.0]]), CrossEntropy())
        self.assertEqual(by_index, by_rows)
        self.assertEqual(set(by_index), {"loss", "accuracy"})


if __name__ == "__main__":
    unittest.main()
