"""The user's mistakes against the program's: InputError is one line and exit 2, anything else a traceback.

Every error about what the user gave (a config, a CSV file, a model file, a
checkpoint, the command line, an image file) derives from utils.InputError, and
main.py and the demos turn exactly those into `error: ...` with exit status 2.
Any other exception is a bug: it must keep its traceback (exit status 1), even a
plain ValueError, which used to be printed as if the config were wrong.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
from app import pipeline  # noqa: E402
from app.config import ConfigError  # noqa: E402
from app.training import CheckpointError, TrainingDiverged  # noqa: E402
from datasets import DataError  # noqa: E402
from demos import fashion_mnist, square_detector  # noqa: E402
from demos.square_drawing import DisplayUnavailable  # noqa: E402
from demos.square_shapes import ImageFileError  # noqa: E402
from network import ModelFileError  # noqa: E402
from utils import InputError, quote, short  # noqa: E402

with open(os.path.join(ROOT, "train_data.csv"), encoding="utf-8") as _file:
    IRIS_LINES = _file.read().splitlines()

CONFIG = {"seed": 1, "data": {"path": "data.csv", "target": "species"},
          "model": {"hidden_layers": [{"units": 4}]}, "training": {"epochs": 2, "batch_size": 16},
          "output": {"model_path": "model.json"}}

HUGE = "x" * 100_000  # a 100 KB value: a damaged export, a column of base64


def run_in_process(function, argv):
    """(status, stdout, stderr) of function(argv), the way a user sees main()."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = function(argv)
    return status, out.getvalue(), err.getvalue()


class InputErrorClassesTest(unittest.TestCase):
    def test_every_input_error_derives_from_one_base(self):
        for error in (ConfigError, DataError, ModelFileError, CheckpointError, TrainingDiverged,
                      main.CommandLineError, square_detector.CommandLineError, fashion_mnist.CommandLineError,
                      ImageFileError,
                      DisplayUnavailable):
            with self.subTest(error=error.__name__):
                self.assertTrue(issubclass(error, InputError))

    def test_a_diverged_run_is_still_a_floating_point_error(self):
        self.assertTrue(issubclass(TrainingDiverged, FloatingPointError))

    def test_quote_cuts_a_long_value_and_says_how_long_it_was(self):
        self.assertEqual(quote("abc"), "'abc'")
        self.assertLess(len(quote(HUGE)), 240)
        self.assertIn("100,002 characters", quote(HUGE))
        self.assertEqual(short("abc"), "abc")
        self.assertLess(len(short(HUGE)), 240)


class BugsShowTracebacksTest(unittest.TestCase):
    """A bug injected into the program must not be reported as the user's mistake."""

    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)
        with open(os.path.join(self.folder, "config.json"), "w", encoding="utf-8") as f:
            json.dump(CONFIG, f)
        with open(os.path.join(self.folder, "data.csv"), "w", encoding="utf-8") as f:
            f.write("\n".join(IRIS_LINES) + "\n")

    def run_with_bug(self, module, function, exception, argv, script=None):
        """Run main.py (or `script`) in a subprocess with module.function replaced by one raising `exception`."""
        code = (f"import sys; sys.path.insert(0, {ROOT!r}); sys.argv[0] = 'main.py'\n"
                f"import {module} as target\n"
                f"def broken(*args, **kwargs):\n    raise {exception}('an internal shape mismatch')\n"
                f"target.{function} = broken\n")
        code += (f"import main\nsys.exit(main.main({argv!r}))\n" if script is None else
                 f"from demos import {script} as demo\nsys.exit(demo.main({argv!r}))\n")
        return subprocess.run([sys.executable, "-c", code], cwd=self.folder, capture_output=True, text=True,
                              timeout=120)

    def test_an_index_error_inside_training_shows_its_traceback(self):
        result = self.run_with_bug("app.pipeline", "build_model", "IndexError", ["--quiet"])
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("Traceback (most recent call last)", result.stderr)
        self.assertIn("IndexError: an internal shape mismatch", result.stderr)
        self.assertNotIn("error: an internal", result.stderr)

    def test_a_plain_value_error_is_a_bug_too(self):
        # before: main caught every ValueError and printed it as a mistake in the config
        result = self.run_with_bug("layers", "Dense.forward", "ValueError", ["--quiet"])
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("Traceback (most recent call last)", result.stderr)
        self.assertIn("ValueError: an internal shape mismatch", result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.folder, "model.json")))

    def test_a_bug_in_the_square_detector_shows_its_traceback(self):
        example = os.path.join(ROOT, "demos", "examples", "circle_16.txt")
        result = self.run_with_bug("demos.square_detector", "load_model", "ValueError", ["--predict", example],
                                   script="square_detector")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("Traceback (most recent call last)", result.stderr)
        # while a mistake of the user's (a model file that is not there) stays one line with status 2
        status, _, err = run_in_process(square_detector.main, ["--predict", example, "--model",
                                                               os.path.join(self.folder, "absent.json")])
        self.assertEqual(status, 2, err)
        self.assertIn("model file not found", err)
        self.assertEqual(err.count("\n"), 1, err)

    def test_the_same_mistake_in_process_is_one_line_and_a_bug_propagates(self):
        status, _, err = run_in_process(main.main, ["--config", os.path.join(self.folder, "absent.json")])
        self.assertEqual(status, 2)
        self.assertTrue(err.startswith("error: ") and err.count("\n") == 1, err)
        original = pipeline.prepare_data

        def broken(*args, **kwargs):
            raise KeyError("a bug")
        pipeline.prepare_data = broken
        self.addCleanup(setattr, pipeline, "prepare_data", original)
        with self.assertRaises(KeyError):
            run_in_process(main.main, ["--config", os.path.join(self.folder, "config.json"), "--quiet"])


class LongValuesAreCutTest(unittest.TestCase):
    """A 100 KB cell or name becomes an error line of a few hundred characters, not of 100 KB."""

    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def write(self, name, text):
        path = os.path.join(self.folder, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def error_of(self, argv, config=None, csv_text=None):
        config_path = self.write("config.json", json.dumps(config or dict(CONFIG, data={
            "path": os.path.join(self.folder, "data.csv"), "target": "species"})))
        self.write("data.csv", csv_text or "\n".join(IRIS_LINES) + "\n")
        status, _, err = run_in_process(main.main, [arg.replace("CONFIG", config_path) for arg in argv])
        self.assertEqual(status, 2, err)
        self.assertEqual(err.count("\n"), 1, err[:500])
        self.assertTrue(err.startswith("error: "), err[:500])
        self.assertLess(len(err), 700, err[:800])
        return err

    def test_a_100_kb_feature_cell(self):
        lines = IRIS_LINES[:]
        lines[4] = f"5.0,{HUGE},1.4,0.2,setosa"
        err = self.error_of(["--config", "CONFIG"], csv_text="\n".join(lines) + "\n")
        self.assertIn("line 5", err)
        self.assertIn("not a number", err)
        self.assertIn("'xxxxxxxxxx", err)

    def test_a_100_kb_column_name(self):
        lines = IRIS_LINES[:]
        lines[0] = lines[0].replace("petal_width", HUGE)
        config = dict(CONFIG, data={"path": os.path.join(self.folder, "data.csv"), "target": "petal_width"})
        err = self.error_of(["--config", "CONFIG"], config=config, csv_text="\n".join(lines) + "\n")
        self.assertIn("target column 'petal_width' is not in the header", err)

    def test_a_100_kb_target_name_and_config_key(self):
        config = dict(CONFIG, data={"path": os.path.join(self.folder, "data.csv"), "target": HUGE})
        self.assertIn("is not in the header", self.error_of(["--config", "CONFIG"], config=config))
        config = dict(CONFIG, **{HUGE: 1})
        self.assertIn("unknown key 'xxx", self.error_of(["--config", "CONFIG"], config=config))

    def test_a_100_kb_command_word(self):
        self.assertIn("unknown command", self.error_of([HUGE]))

    def test_a_100_kb_class_name_when_predicting(self):
        folder = self.folder
        self.write("config.json", json.dumps(dict(CONFIG, data={"path": os.path.join(folder, "data.csv"),
                                                              "target": "species"},
                                                  output={"model_path": os.path.join(folder, "model.json")})))
        self.write("data.csv", "\n".join(IRIS_LINES) + "\n")
        status, _, err = run_in_process(main.main, ["--config", os.path.join(folder, "config.json"), "--quiet"])
        self.assertEqual(status, 0, err)
        lines = IRIS_LINES[:3]
        lines[2] = lines[2].rsplit(",", 1)[0] + "," + HUGE
        rows = self.write("rows.csv", "\n".join(lines) + "\n")
        status, _, err = run_in_process(main.main, ["evaluate", "--model", os.path.join(folder, "model.json"),
                                                     "--input", rows])
        self.assertEqual(status, 2, err[:300])
        self.assertIn("unknown class 'xxx", err)
        self.assertLess(len(err), 700)


if __name__ == "__main__":
    unittest.main()
