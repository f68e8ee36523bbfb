"""Tests for parallel.py: a batch split across worker processes gives the single-process step.

Tiny networks, a few batches: every test forks two workers and finishes in well under a second.
"""

import copy
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
from activations import ReLU, Softmax, Tanh  # noqa: E402
from app import pipeline  # noqa: E402
from app.config import ConfigError, validate_config  # noqa: E402
from app.training import load_checkpoint  # noqa: E402
from callbacks import Callback  # noqa: E402
from layers import BatchNorm, Dense, Dropout  # noqa: E402
from losses import MSE, CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import SGD, Adam  # noqa: E402

HAS_FORK = "fork" in multiprocessing.get_all_start_methods()
if HAS_FORK:
    from multiprocessing import shared_memory

    from parallel import DataParallel, WorkerError, shard_bounds, sum_regions  # noqa: E402


def data(n=41, n_in=5, n_classes=3, seed=1):
    rng = random.Random(seed)
    X = [[rng.gauss(0, 1) for _ in range(n_in)] for _ in range(n)]
    Y = [[1.0 if c == (int(abs(x[0]) * 3) % n_classes) else 0.0 for c in range(n_classes)] for x in X]
    return Matrix(X), Matrix(Y)


def mlp(dropout=0.0, l2=0.0, seed=3):
    rng = random.Random(seed)
    layers = [Dense(5, 8, rng=rng, l2=l2), Tanh()]
    if dropout:
        layers.append(Dropout(dropout, rng=random.Random(7)))
    layers += [Dense(8, 6, rng=rng), ReLU(), Dense(6, 3, rng=rng), Softmax()]
    return Network(layers)


def train(workers, dropout=0.0, l2=0.0, epochs=2, batch_size=8, seed=0, callbacks=(), optimizer=Adam):
    X, Y = data()
    network = mlp(dropout, l2)
    trainer = network if workers == 1 else DataParallel(network, workers, seed=seed)
    history = trainer.fit(X, Y, CrossEntropy(), optimizer(network.parameters(), lr=0.01), epochs=epochs,
                          batch_size=batch_size, rng=random.Random(5), callbacks=callbacks)
    return network, history


def flat(network):
    return [v for matrix in network.get_weights() for row in matrix for v in row]


def worker_processes():
    return sorted((p for p in multiprocessing.active_children() if p.name.startswith("DataParallel")),
                  key=lambda p: p.name)


@unittest.skipUnless(HAS_FORK, "DataParallel needs the fork start method")
class TestDataParallel(unittest.TestCase):
    def test_shards_cover_the_batch_in_order(self):
        self.assertEqual(shard_bounds(7, 2), [(0, 3), (3, 7)])
        self.assertEqual(shard_bounds(1, 2), [(0, 0), (0, 1)])

    def test_the_workers_sum_adds_the_regions_in_worker_order(self):
        # (1e16 + 1) - 1e16 == 0.0 (1e16 + 1 rounds to 1e16) but (1e16 - 1e16) + 1 == 1.0: the order shows
        memory = shared_memory.SharedMemory(create=True, size=4 * 2 * 8)
        view = memory.buf.cast("d")
        try:
            view[0:6] = array("d", [1e16, 2.0, 1.0, 3.0, -1e16, 4.0])  # regions of 2 numbers at 0, 2, 4
            sum_regions(memory.buf, view, [0, 2, 4], 0, 1, 6)  # the first number only
            sum_regions(memory.buf, view, [0, 2, 4], 1, 2, 6)  # the second, as another worker would
            self.assertEqual(view[6:8].tolist(), [0.0, 9.0])
        finally:
            view.release()
            memory.close()
            memory.unlink()

    def test_agrees_with_one_process_to_rounding(self):
        # 41 rows in batches of 8: shards of 4 and 4, and a last batch of 1 row (one worker idle);
        # the L2 penalty's gradient must be added once, not once per worker
        single, history_1 = train(1, l2=0.01)
        double, history_2 = train(2, l2=0.01)
        a, b = flat(single), flat(double)
        self.assertNotEqual(a, flat(mlp(l2=0.01)))  # it trained
        worst = max(abs(x - y) / max(abs(x), 1e-3) for x, y in zip(a, b))
        self.assertLess(worst, 1e-9)
        for key in ("loss", "accuracy"):
            for x, y in zip(history_1[key], history_2[key]):
                self.assertAlmostEqual(x, y, delta=1e-9)

    def test_bit_for_bit_repeatable_for_a_given_n(self):
        first, history = train(2, dropout=0.3, seed=11)
        second, again = train(2, dropout=0.3, seed=11)
        self.assertEqual(flat(first), flat(second))
        self.assertEqual(history, again)
        other, _ = train(2, dropout=0.3, seed=12)  # the workers' dropout masks come from the seed
        self.assertNotEqual(flat(first), flat(other))

    def test_three_workers_and_plain_sgd(self):
        single, _ = train(1, optimizer=SGD, batch_size=10)
        triple, _ = train(3, optimizer=SGD, batch_size=10)
        worst = max(abs(x - y) / max(abs(x), 1e-3) for x, y in zip(flat(single), flat(triple)))
        self.assertLess(worst, 1e-9)

    def test_regression_loss_and_gradients_seen_by_callbacks(self):
        X, _ = data()
        Y = Matrix([[row[0] * 0.5 - row[1]] for row in X.rows])
        norms = {}

        class GradNorm(Callback):
            def __init__(self, key):
                self.key = key

            def on_backward_end(self, run):
                norms.setdefault(self.key, []).append(
                    math.fsum(g * g for p in run.network.parameters() for row in p.grad.rows for g in row))

        for workers in (1, 2):
            network = Network([Dense(5, 4, rng=random.Random(2)), Tanh(), Dense(4, 1, rng=random.Random(4))])
            trainer = network if workers == 1 else DataParallel(network, workers)
            trainer.fit(X, Y, MSE(), SGD(network.parameters(), lr=0.05), epochs=1, batch_size=16,
                        rng=random.Random(5), callbacks=[GradNorm(workers)])
        for a, b in zip(norms[1], norms[2]):
            self.assertAlmostEqual(a, b, delta=1e-12 * max(1.0, a))

    def test_workers_end_with_the_run(self):
        train(2, epochs=1)
        self.assertEqual(worker_processes(), [])

        class Boom(Callback):
            def on_batch_end(self, run):
                if run.batch == 2:
                    raise ValueError("a callback failed")

        with self.assertRaises(ValueError):
            train(2, callbacks=[Boom()])
        self.assertEqual(worker_processes(), [])

    def test_a_killed_worker_ends_training_with_one_clear_error(self):
        seen = {}

        class Kill(Callback):
            def on_batch_end(self, run):
                if run.epoch == 1 and run.batch == 2:
                    workers = worker_processes()
                    seen["pids"] = [p.pid for p in workers]
                    seen["weights"] = run.network.get_weights()
                    os.kill(workers[1].pid, signal.SIGKILL)

        X, Y = data()
        network = mlp()
        with self.assertRaises(WorkerError) as caught:
            DataParallel(network, 2).fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.01), epochs=2,
                                         batch_size=8, rng=random.Random(5), callbacks=[Kill()])
        message = str(caught.exception)
        self.assertIn("worker 2 of 2", message)
        self.assertIn("SIGKILL", message)
        self.assertIn("batch 3 of epoch 1", message)
        self.assertNotIn("\n", message)
        self.assertEqual(caught.exception.run.batch, 3)
        self.assertEqual(network.get_weights(), seen["weights"])  # batch 3 never stepped
        self.assertEqual(worker_processes(), [])
        for pid in seen["pids"]:
            with self.assertRaises(OSError):  # reaped: no such process
                os.kill(pid, 0)

    def test_batch_norm_is_refused_with_the_reason(self):
        network = Network([Dense(5, 4), BatchNorm(4), ReLU(), Dense(4, 3), Softmax()])
        with self.assertRaises(ValueError) as caught:
            DataParallel(network, 2)
        self.assertIn("variance", str(caught.exception))
        self.assertIn("workers", str(caught.exception))
        DataParallel(network, 1)  # one worker computes the batch's statistics

    def test_inference_stays_in_this_process(self):
        network = mlp()
        X, _ = data(n=4)
        self.assertEqual(DataParallel(network, 2).predict(X).tolist(), network.predict(X).tolist())


IRIS = os.path.join(ROOT, "data", "iris.csv")
CONFIG = {
    "seed": 3,
    "data": {"path": IRIS, "target": "species", "test_fraction": 0.2},
    "model": {"hidden_layers": [{"units": 8, "activation": "tanh"}], "output_activation": "softmax"},
    "training": {"loss": "cross_entropy", "optimizer": {"name": "adam", "lr": 0.05}, "epochs": 2,
                 "batch_size": 16},
    "output": {"model_path": "model.json"},
}


def run_main(folder, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=folder, capture_output=True,
                          text=True, timeout=60)


@unittest.skipUnless(HAS_FORK, "DataParallel needs the fork start method")
class TestWorkersFromTheCommandLine(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def write_config(self, config, name="config.json"):
        with open(os.path.join(self.folder, name), "w", encoding="utf-8") as f:
            json.dump(config, f)
        return name

    def test_workers_2_trains_the_same_model_to_rounding(self):
        self.write_config(CONFIG)
        weights = {}
        for workers in ("1", "2"):
            done = run_main(self.folder, "--quiet", "--workers", workers)
            self.assertEqual(done.returncode, 0, done.stderr)
            weights[workers] = flat(Network.load(os.path.join(self.folder, "model.json")))
        worst = max(abs(x - y) / max(abs(x), 1e-3) for x, y in zip(weights["1"], weights["2"]))
        self.assertLess(worst, 1e-9)

    def test_batch_norm_with_workers_is_one_line(self):
        config = copy.deepcopy(CONFIG)
        config["model"]["hidden_layers"][0]["batch_norm"] = True
        self.write_config(config)
        done = run_main(self.folder, "--workers", "2")
        self.assertEqual(done.returncode, 2)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
        self.assertIn("BatchNorm cannot be used with training.workers 2", done.stderr)
        config["training"]["workers"] = 2
        with self.assertRaises(ConfigError):
            validate_config(config)

    def test_a_dead_worker_saves_a_checkpoint_and_no_model(self):
        config = copy.deepcopy(CONFIG)
        config["training"].update(workers=2, epochs=3)
        config["output"]["model_path"] = os.path.join(self.folder, "model.json")
        checkpoint = os.path.join(self.folder, "run.ckpt.json")
        config["training"]["checkpoint_path"] = checkpoint

        class Kill(Callback):
            def on_batch_end(self, run):
                if run.epoch == 2 and run.batch == 3:
                    os.kill(worker_processes()[0].pid, signal.SIGKILL)

        with self.assertRaises(WorkerError) as caught:
            pipeline.train(validate_config(config), verbose=False, progress=Kill())
        message = str(caught.exception)
        self.assertIn("worker 1 of 2", message)
        self.assertIn(f"checkpoint saved to {checkpoint} (after batch 3 of epoch 2)", message)
        self.assertEqual(load_checkpoint(checkpoint)["position"]["batches_done"], 3)
        self.assertFalse(os.path.exists(config["output"]["model_path"]))
        self.assertEqual(worker_processes(), [])
        self.assertEqual(main.error_line(caught.exception).count("\n"), 0)
        # resuming the checkpoint (with workers again) ends exactly where an uninterrupted run does
        resumed, history, _ = pipeline.train(validate_config(config), verbose=False,
                                             resume=load_checkpoint(checkpoint))
        self.assertEqual(len(history["loss"]), 3)
        config["training"]["checkpoint_path"] = ""
        whole, _, _ = pipeline.train(validate_config(config), verbose=False)
        self.assertEqual(flat(resumed), flat(whole))


if __name__ == "__main__":
    unittest.main()
