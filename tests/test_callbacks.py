"""Tests for callbacks.py: the hooks of fit, a user's own callback, and the layering rule."""

import ast
import os
import random
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from activations import ReLU  # noqa: E402
from callbacks import Callback, CallbackList  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import SGD  # noqa: E402

# the core: every top-level module but the command line
CORE = sorted(name for name in os.listdir(ROOT) if name.endswith(".py") and name != "main.py")


def data(rng, n=12):
    X = [[rng.gauss(0, 1), rng.gauss(0, 1)] for _ in range(n)]
    Y = [[1.0, 0.0] if x[0] > x[1] else [0.0, 1.0] for x in X]
    return Matrix(X), Matrix(Y)


class Recorder(Callback):
    """Writes down every hook call, in order."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, run):
        self.calls.append("train_begin")

    def on_epoch_begin(self, run):
        self.calls.append(f"epoch_begin {run.epoch}")

    def on_backward_end(self, run):
        self.calls.append(f"backward {run.batch}")

    def on_batch_end(self, run):
        self.calls.append(f"batch {run.batch}")

    def on_epoch_end(self, run):
        self.calls.append(f"epoch_end {run.epoch} loss={len(run.history['loss'])}")

    def on_train_end(self, run):
        self.calls.append("train_end")

    def teardown(self, run):
        self.calls.append("teardown")


class CallbackTest(unittest.TestCase):
    def network(self):
        rng = random.Random(3)
        return Network([Dense(2, 4, rng=rng), ReLU(), Dense(4, 2, rng=rng)])

    def test_hooks_run_in_the_textbook_order(self):
        network, recorder = self.network(), Recorder()
        X, Y = data(random.Random(1), 6)
        network.fit(X, Y, CrossEntropy(), SGD(network.parameters(), lr=0.1), epochs=2, batch_size=4,
                    callbacks=[recorder])
        self.assertEqual(recorder.calls, [
            "train_begin",
            "epoch_begin 1", "backward 1", "batch 1", "backward 2", "batch 2", "epoch_end 1 loss=1",
            "epoch_begin 2", "backward 1", "batch 1", "backward 2", "batch 2", "epoch_end 2 loss=2",
            "train_end", "teardown"])

    def test_a_callback_can_stop_training(self):
        class StopAfterTwo(Callback):
            def on_epoch_end(self, run):
                run.stop = run.epoch == 2

        network = self.network()
        X, Y = data(random.Random(1))
        history = network.fit(X, Y, CrossEntropy(), SGD(network.parameters(), lr=0.1), epochs=10,
                              callbacks=[StopAfterTwo()])
        self.assertEqual(len(history["loss"]), 2)

    def test_teardown_runs_after_an_exception_and_train_end_does_not(self):
        class Boom(Callback):
            def on_batch_end(self, run):
                raise RuntimeError("boom")

        network, recorder = self.network(), Recorder()
        X, Y = data(random.Random(1))
        with self.assertRaisesRegex(RuntimeError, "boom"):
            network.fit(X, Y, CrossEntropy(), SGD(network.parameters(), lr=0.1), epochs=1,
                        callbacks=[recorder, Boom()])
        self.assertEqual(recorder.calls[-1], "teardown")
        self.assertNotIn("train_end", recorder.calls)

    def test_callbacks_do_not_change_the_arithmetic(self):
        X, Y = data(random.Random(1))
        weights = []
        for callbacks in ([], [Recorder()]):
            network = self.network()
            network.fit(X, Y, CrossEntropy(), SGD(network.parameters(), lr=0.1), epochs=3, batch_size=5,
                        rng=random.Random(2), callbacks=callbacks)
            weights.append(network.get_weights())
        self.assertEqual(weights[0], weights[1])

    def test_only_callbacks_are_accepted(self):
        with self.assertRaisesRegex(TypeError, "Callback objects"):
            CallbackList([print])

    def test_fit_is_short(self):
        with open(os.path.join(ROOT, "network.py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        fit = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "fit")
        body = fit.body[1:]  # without the docstring
        self.assertLessEqual(body[-1].end_lineno - body[0].lineno + 1, 32)


class LayeringTest(unittest.TestCase):
    def test_the_core_never_imports_the_application_side(self):
        self.assertIn("network.py", CORE)
        self.assertIn("matrix.py", CORE)
        for name in CORE:
            with open(os.path.join(ROOT, name), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                modules = []
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                for module in modules:
                    with self.subTest(module=name, imports=module):
                        self.assertFalse(module == "app" or module.startswith("app.") or
                                         module in ("config", "pipeline", "training", "progress", "charts",
                                                    "diagnostics", "explain"))


if __name__ == "__main__":
    unittest.main()
