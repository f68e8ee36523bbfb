"""A seeded fuzz test: hundreds of damaged configs, CSV files, checkpoints and model files.

Each case starts from a valid file and breaks it the way files get broken: a key
deleted, a value of the wrong type, a misspelt key, the file cut short, a few
bytes inserted. `main.main(argv)` runs in this process (a subprocess per case
would take minutes) and must end in success (0) or a clean error (2: one
"error:" line on stderr, no traceback, the model saved before untouched);
any exception escaping it, or a run that does not finish, fails the test with
the mutated input shown. The runs are tiny (24 rows, 2 epochs), so the whole
fuzz takes a few seconds; the generator's seed makes it the same every time.
"""

import contextlib
import copy
import io
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
from network import ModelFileError, Network  # noqa: E402

PREVIOUS_MODEL = b'{"an older model": true}\n'
SECONDS_PER_RUN = 30  # far more than any tiny run takes: a run still going is stuck

with open(os.path.join(ROOT, "train_data.csv"), encoding="utf-8") as _file:
    _IRIS = _file.read().splitlines()
# 8 rows of each class: enough to split into training, validation and test rows
CSV_TEXT = "\n".join([_IRIS[0]] + _IRIS[1:9] + _IRIS[51:59] + _IRIS[101:109]) + "\n"

# Every section has something for the mutations to break.
BASE_CONFIG = {
    "seed": 5,
    "task": "auto",
    "data": {"path": "data.csv", "target": "species", "test_fraction": 0.25, "validation_fraction": 0.25,
             "normalize": "zscore", "delimiter": ","},
    "model": {"hidden_layers": [{"units": 3, "activation": "tanh", "dropout": 0.1},
                                {"units": 3, "activation": "relu", "batch_norm": True, "l2": 0.001}],
              "output_activation": "softmax", "init": "he"},
    "training": {"loss": "cross_entropy", "optimizer": {"name": "adam", "lr": 0.01, "betas": [0.9, 0.999]},
                 "epochs": 2, "batch_size": 4, "shuffle": True, "clip_norm": 5.0,
                 "scheduler": {"name": "plateau", "patience": 1},
                 "early_stopping": {"monitor": "val_loss", "patience": 3},
                 "checkpoint_every": 1, "checkpoint_path": "checkpoint.json"},
    "output": {"model_path": "model.json", "plot": "curves.svg"},
}

# What a value may be replaced by: every JSON type, edge numbers and names. No large
# integers: a config asking for a million epochs is valid, just slow.
REPLACEMENTS = [None, True, False, 0, -1, 1, 2, 3, 0.5, -0.5, 1.5, 1e308, -1e308, "", " ", "x", "relu",
                "sigmoid", "mse", "sgd", "data.csv", "val_accuracy", [], [1], [0.5, 0.5], ["x"], {},
                {"name": "adam"}, {"units": 2}, {"a": 1}, "nul\u0000.json", "\ud800", "long" * 100]
# Bytes a damaged file may gain. Digits are left out (they turn 2 epochs into 29 or 92,
# valid but slow), and so are / and \ (they would move output files out of the test folder).
INSERTED = [b",", b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xef\xbb\xbf", b"{", b"}", b"[", b"]",
            b":", b";", b"\t", b" ", b"x", b"e", b"-", b".", b"\xe9", b"nan", b"inf"]
CELLS = ["", " ", "nan", "inf", "-inf", "1e999", "1e308", "abc", "setosa", '"', "1,2", "0x10", "1_0",
         "\u00e9", "-0", "3"]


def json_locations(value, path=()):
    """Every (container path, key) in a JSON value: where a mutation can act."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key
            yield from json_locations(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield path, index
            yield from json_locations(item, path + (index,))


def container(value, path):
    for key in path:
        value = value[key]
    return value


def misspell(word, rng):
    """word with one character dropped, doubled or swapped with the next."""
    if len(word) < 2:
        return word + "x"
    i = rng.randrange(len(word) - 1)
    return rng.choice([word[:i] + word[i + 1:], word[:i] + word[i] + word[i:],
                       word[:i] + word[i + 1] + word[i] + word[i + 2:]])


def mutate_json(data, rng, skip_keys=()):
    """(bytes of a damaged JSON file, description): one structural change, or a text-level one."""
    data = copy.deepcopy(data)
    kind = rng.choice(["delete", "retype", "retype", "rename", "cut", "insert"])
    if kind in ("cut", "insert"):
        return mutate_bytes(json.dumps(data, indent=1).encode("utf-8"), rng, kind)
    locations = [(path, key) for path, key in json_locations(data) if key not in skip_keys
                 and not any(part in skip_keys for part in path)]
    path, key = rng.choice(locations)
    parent = container(data, path)
    where = "/".join(map(str, path + (key,)))
    if kind == "delete" or (kind == "rename" and isinstance(parent, list)):
        del parent[key]
        return json.dumps(data).encode("utf-8"), f"deleted {where}"
    if kind == "rename":
        parent[misspell(key, rng)] = parent.pop(key)
        return json.dumps(data).encode("utf-8"), f"misspelt key {where}"
    parent[key] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return json.dumps(data).encode("utf-8"), f"{where} = {parent[key]!r}"


def mutate_bytes(raw, rng, kind=None):
    """raw cut short at a random point, or with 1 to 3 random insertions."""
    kind = kind or rng.choice(["cut", "insert"])
    if kind == "cut":
        at = rng.randrange(len(raw))
        return raw[:at], f"cut to {at} of {len(raw)} bytes"
    inserted = []
    for _ in range(rng.randint(1, 3)):
        at, piece = rng.randrange(len(raw) + 1), rng.choice(INSERTED)
        raw = raw[:at] + piece + raw[at:]
        inserted.append(f"{piece!r} at {at}")
    return raw, "inserted " + ", ".join(inserted)


def mutate_csv(text, rng):
    """(bytes of a damaged CSV file, description)."""
    kind = rng.choice(["cut", "insert", "insert", "cell", "cell", "line"])
    if kind in ("cut", "insert"):
        return mutate_bytes(text.encode("utf-8"), rng, kind)
    lines = text.splitlines()
    number = rng.randrange(len(lines))
    if kind == "line":
        action = rng.choice(["deleted", "doubled", "delimiter"])
        if action == "deleted":
            del lines[number]
        elif action == "doubled":
            lines.insert(number, lines[number])
        else:
            lines[number] = lines[number].replace(",", ";")
        return ("\n".join(lines) + "\n").encode("utf-8"), f"line {number + 1} {action}"
    cells = lines[number].split(",")
    column, cell = rng.randrange(len(cells)), rng.choice(CELLS)
    cells[column] = cell
    lines[number] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode("utf-8"), f"line {number + 1} column {column + 1} = {cell!r}"


class InProcessRun:
    """main.main(argv) with its output captured, in a thread so that a stuck run is noticed."""

    def __init__(self, argv):
        self.argv, self.status, self.escaped = argv, None, None
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(self.stdout), contextlib.redirect_stderr(self.stderr):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            worker.join(SECONDS_PER_RUN)
        self.finished = not worker.is_alive()

    def _run(self):
        try:
            self.status = main.main(self.argv)
        except SystemExit as stop:  # argparse's --help; every other way out is a return value
            self.status = stop.code
        except BaseException as error:  # noqa: B902 - anything else escaping main is the bug looked for
            self.escaped = error


class FuzzTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp()
        cls.previous_folder = os.getcwd()
        os.chdir(cls.folder)  # relative output paths in a mutated config land here

    @classmethod
    def tearDownClass(cls):
        os.chdir(cls.previous_folder)
        shutil.rmtree(cls.folder)

    def setUp(self):
        # each test its own generator, seeded by its name: the same cases whatever runs before it
        self.rng = random.Random(f"fuzz:{self._testMethodName}")

    def write(self, name, content):
        with open(os.path.join(self.folder, name), "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode("utf-8"))

    def fresh_folder(self, config_bytes, csv_bytes):
        """The test folder with only config.json, data.csv and an older model.json."""
        for name in os.listdir(self.folder):
            path = os.path.join(self.folder, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        self.write("config.json", config_bytes)
        self.write("data.csv", csv_bytes)
        self.write("model.json", PREVIOUS_MODEL)

    def check_run(self, argv, description):
        """Run main in process; fail, showing the mutation, unless it ended in 0 or a clean error."""
        run = InProcessRun(argv)
        shown = f"{description}\nargv: {argv}\nstderr: {run.stderr.getvalue()[-2000:]}"
        self.assertTrue(run.finished, f"still running after {SECONDS_PER_RUN} s: {shown}")
        if run.escaped is not None:
            raise AssertionError(f"{type(run.escaped).__name__} escaped main: {run.escaped}\n{shown}") \
                from run.escaped
        self.assertIn(run.status, (0, 2), shown)
        lines = run.stderr.getvalue().splitlines()
        self.assertNotIn("Traceback", run.stderr.getvalue(), shown)
        if run.status == 2:
            errors = [line for line in lines if line.startswith("error: ")]
            self.assertEqual(len(errors), 1, shown)
            self.assertTrue(all(line.startswith(("error: ", "warning: ")) for line in lines), shown)
        return run

    def model_is_old_or_loadable(self, status, shown):
        with open("model.json", "rb") as f:
            content = f.read()
        if status == 2 or content == PREVIOUS_MODEL:
            self.assertEqual(content, PREVIOUS_MODEL, f"a failed run changed the model: {shown}")
        else:
            Network.load("model.json")  # a successful run saved a model that loads

    def test_mutated_configs_end_in_success_or_a_clean_error(self):
        outcomes = {0: 0, 2: 0}
        for _ in range(300):
            config_bytes, description = mutate_json(BASE_CONFIG, self.rng)
            self.fresh_folder(config_bytes, CSV_TEXT)
            run = self.check_run(["--config", "config.json", "--quiet"], f"config {description}")
            outcomes[run.status] += 1
            self.model_is_old_or_loadable(run.status, description)
        # both outcomes must occur, or the mutations are too gentle (or too harsh) to test anything
        self.assertGreater(outcomes[0], 10, outcomes)
        self.assertGreater(outcomes[2], 50, outcomes)

    def test_mutated_csv_files_end_in_success_or_a_clean_error(self):
        outcomes = {0: 0, 2: 0}
        config = copy.deepcopy(BASE_CONFIG)
        config["training"].update(checkpoint_every=None, scheduler=None, early_stopping=None)
        config["data"]["validation_fraction"] = 0
        for _ in range(200):
            csv_bytes, description = mutate_csv(CSV_TEXT, self.rng)
            self.fresh_folder(json.dumps(config), csv_bytes)
            run = self.check_run(["--config", "config.json", "--quiet"], f"CSV {description}")
            outcomes[run.status] += 1
            self.model_is_old_or_loadable(run.status, description)
        self.assertGreater(outcomes[0], 10, outcomes)
        self.assertGreater(outcomes[2], 30, outcomes)

    def test_mutated_checkpoints_are_resumed_or_refused_cleanly(self):
        self.fresh_folder(json.dumps(BASE_CONFIG), CSV_TEXT)
        self.check_run(["--config", "config.json", "--quiet"], "the valid run")
        with open("checkpoint.json", encoding="utf-8") as f:
            checkpoint = json.load(f)
        for _ in range(100):
            # the weights are long lists of numbers: break the bookkeeping around them as often
            skip = ("model",) if self.rng.random() < 0.7 else ()
            raw, description = mutate_json(checkpoint, self.rng, skip_keys=skip)
            self.fresh_folder(json.dumps(BASE_CONFIG), CSV_TEXT)
            self.write("damaged.json", raw)
            run = self.check_run(["--resume", "damaged.json", "--quiet"], f"checkpoint {description}")
            self.model_is_old_or_loadable(run.status, description)

    def trained_model(self):
        """A model trained by main.py on the small data set, as JSON data."""
        self.fresh_folder(json.dumps(BASE_CONFIG), CSV_TEXT)
        self.check_run(["--config", "config.json", "--quiet"], "the valid run")
        with open("model.json", encoding="utf-8") as f:
            return json.load(f)

    def test_mutated_model_files_predict_or_are_refused_cleanly(self):
        model = self.trained_model()
        for _ in range(200):
            skip = ("config",) if self.rng.random() < 0.5 else ()  # the metadata's copy of the training config
            raw, description = mutate_json(model, self.rng, skip_keys=skip)
            self.write("damaged.json", raw)
            self.check_run(["predict", "--model", "damaged.json", "--input", "data.csv"], f"model {description}")
            try:  # the same file through the Python API: a ModelFileError or a network
                Network.load("damaged.json")
            except ModelFileError as error:
                self.assertNotIn("\n", str(error), description)
            except Exception as error:  # noqa: B902 - any other exception is the bug looked for
                raise AssertionError(f"{type(error).__name__} from Network.load: {error}\n{description}") from error

    def test_mutated_prediction_inputs_are_predicted_or_refused_cleanly(self):
        model = self.trained_model()
        self.write("model.json", json.dumps(model))
        features = "\n".join(",".join(line.split(",")[:4]) for line in CSV_TEXT.splitlines()) + "\n"
        for _ in range(200):
            source = self.rng.choice([CSV_TEXT, features])  # with the target column, or without
            raw, description = mutate_csv(source, self.rng)
            self.write("rows.csv", raw)
            command = self.rng.choice(["predict", "evaluate"])
            self.check_run([command, "--model", "model.json", "--input", "rows.csv"], f"{command} input {description}")


if __name__ == "__main__":
    unittest.main()
