"""Same seed, same run: one seed fixes everything random, down to the last bit.

`python main.py` and the square detector each run twice with the same seed, as
separate processes with different string-hash seeds (PYTHONHASHSEED: the order of
sets and dicts of strings changes between processes, so any randomness leaking from
it would show). The saved files must be byte for byte the same, and the printed
histories too (the timings aside). A third run with another seed must differ, so
that the comparison can fail. Everything random in a run comes from random.Random
generators seeded from the one seed, and the arithmetic is IEEE double arithmetic
done in a fixed order, so the same holds on any machine with the same Python version.
(Between versions the last bits may differ: Python 3.12 made sum() of floats
compensated and added math.sumprod, which matrix.py uses, so 3.11 and 3.12 round
some sums differently.)
"""

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
MAIN = os.path.join(ROOT, "main.py")
SQUARE_DETECTOR = os.path.join(ROOT, "demos", "square_detector.py")

# Every random part of a run at once: the splits, the initial weights, the shuffling,
# the dropout masks; and every file a run writes: model, checkpoint, chart.
CONFIG = {
    "seed": 17,
    "data": {"path": os.path.join(ROOT, "train_data.csv"), "target": "species", "test_fraction": 0.2,
             "validation_fraction": 0.2},
    "model": {"hidden_layers": [{"units": 6, "activation": "relu", "dropout": 0.2, "batch_norm": True},
                                {"units": 5, "activation": "tanh", "dropout": 0.1}]},
    "training": {"optimizer": {"name": "adamw", "lr": 0.02}, "epochs": 3, "batch_size": 16, "shuffle": True,
                 "checkpoint_every": 1, "checkpoint_path": "checkpoint.json"},
    "output": {"model_path": "model.json", "plot": "curves.svg"},
}
MAIN_OUTPUTS = ("model.json", "checkpoint.json", "curves.svg")

# The square detector's smallest run: 8x8 images, 10 of each kind, one epoch.
SQUARE_OPTIONS = ["--size", "8", "--train", "10", "--test", "10", "--epochs", "1", "--hidden", "4",
                  "--show", "0", "--no-compare", "--model", "square.json"]


def without_timings(text):
    """Printed output with the clock readings taken out: '(0.02 s)', 'in 1.3 s', '1,520 samples/s'."""
    text = re.sub(r"\d[\d,]*\.?\d* (s\b|samples/s)", "<time>", text)
    return re.sub(r"\(\d+\.\d+ s\)", "(<time>)", text)


class SameSeedSameRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.parent = tempfile.mkdtemp()
        other_seed = dict(CONFIG, seed=18)
        runs = {
            "main 1": ("main", CONFIG, "0"),
            "main 2": ("main", CONFIG, "4242"),
            "main, other seed": ("main", other_seed, "0"),
            "square 1": ("square", ["--seed", "3"], "0"),
            "square 2": ("square", ["--seed", "3"], "777"),
            "square, other seed": ("square", ["--seed", "4"], "0"),
        }

        def run(item):
            name, (program, options, hash_seed) = item
            folder = os.path.join(cls.parent, name.replace(" ", "_").replace(",", ""))
            os.mkdir(folder)
            if program == "main":
                with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
                    json.dump(options, f)
                argv = [MAIN, "--config", "config.json"]
            else:
                argv = [SQUARE_DETECTOR, *SQUARE_OPTIONS, *options]
            environment = dict(os.environ, PYTHONHASHSEED=hash_seed)
            result = subprocess.run([sys.executable, *argv], cwd=folder, capture_output=True, text=True,
                                    timeout=300, env=environment)
            return name, folder, result

        with ThreadPoolExecutor(max_workers=3) as pool:
            cls.runs = {name: (folder, result) for name, folder, result in pool.map(run, runs.items())}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.parent)

    def output(self, name, file_name):
        """The bytes of a file the run wrote; a checkpoint names the run's folder (to find the config
        again on resume), which is the one difference allowed."""
        folder, result = self.runs[name]
        self.assertEqual(result.returncode, 0, f"{name}: {result.stderr}")
        with open(os.path.join(folder, file_name), "rb") as f:
            return f.read().replace(json.dumps(folder)[1:-1].encode("utf-8"), b"<folder>")

    def test_main_writes_the_same_files_and_prints_the_same_history(self):
        for file_name in MAIN_OUTPUTS:
            with self.subTest(file=file_name):
                self.assertEqual(self.output("main 1", file_name), self.output("main 2", file_name))
        first, second = (without_timings(self.runs[name][1].stdout) for name in ("main 1", "main 2"))
        self.assertIn("epoch 3/3", first)
        self.assertEqual(first, second)

    def test_main_with_another_seed_differs(self):
        self.assertNotEqual(self.output("main 1", "model.json"), self.output("main, other seed", "model.json"))

    def test_the_square_detector_saves_the_same_model(self):
        self.assertEqual(self.output("square 1", "square.json"), self.output("square 2", "square.json"))
        first, second = (without_timings(self.runs[name][1].stdout) for name in ("square 1", "square 2"))
        self.assertEqual(first, second)

    def test_the_square_detector_with_another_seed_differs(self):
        self.assertNotEqual(self.output("square 1", "square.json"),
                            self.output("square, other seed", "square.json"))


class TimingsTest(unittest.TestCase):
    def test_only_clock_readings_are_taken_out(self):
        self.assertEqual(without_timings("epoch 1/3  loss 0.5321  (0.02 s)"), "epoch 1/3  loss 0.5321  (<time>)")
        self.assertEqual(without_timings("Trained in 1.3 s (0.9 s of processor time"),
                         "Trained in <time> (<time> of processor time")
        self.assertEqual(without_timings("test accuracy: 0.9333"), "test accuracy: 0.9333")


if __name__ == "__main__":
    unittest.main()
