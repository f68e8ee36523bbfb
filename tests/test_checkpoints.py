"""Tests for training safely: checkpoints and exact resume, Ctrl-C, early stopping, the NaN guard."""

import contextlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import main  # noqa: E402
from activations import ReLU  # noqa: E402
from layers import BatchNorm, Dense, Dropout  # noqa: E402
from losses import MSE, CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import SGD, Adam  # noqa: E402
from schedulers import LinearWarmup, StepLR  # noqa: E402
from app.progress import Progress  # noqa: E402
from app.training import (Checkpoint, CheckpointError, EarlyStopping, NonFiniteGuard, StopRequest,  # noqa: E402
                          TrainingDiverged, TrainingInterrupted, load_checkpoint, standard_callbacks)


def classification_data(rng, n_rows):
    """Three features, two noisy classes: X (n, 3) and one-hot Y (n, 2)."""
    X = [[rng.gauss(0, 1) for _ in range(3)] for _ in range(n_rows)]
    Y = [[1.0, 0.0] if row[0] + 0.5 * row[1] + rng.gauss(0, 0.8) > 0 else [0.0, 1.0] for row in X]
    return Matrix(X), Matrix(Y)


class Run:
    """One training run with every stateful feature on: dropout, batch norm, Adam, a warm-up
    and step schedule, early stopping, clipping; built the same way from the same seed."""

    def __init__(self, seed=0):
        data_rng = random.Random(100)
        self.X, self.Y = classification_data(data_rng, 30)
        self.validation = classification_data(data_rng, 12)
        self.rng = random.Random(seed)
        rng = self.rng
        self.network = Network([Dense(3, 6, rng=rng, l2=0.001), BatchNorm(6), ReLU(), Dropout(0.3, rng=rng),
                                Dense(6, 2, rng=rng)])
        self.optimizer = Adam(self.network.parameters(), lr=0.02)
        self.scheduler = LinearWarmup(self.optimizer, 1, after=StepLR(self.optimizer, step_size=2, gamma=0.5))
        self.early_stopping = EarlyStopping(monitor="val_loss", patience=50)

    def fit(self, epochs=5, **options):
        callbacks = standard_callbacks(scheduler=self.scheduler, early_stopping=self.early_stopping, clip_norm=1.0,
                                       **options)
        return self.network.fit(self.X, self.Y, CrossEntropy(), self.optimizer, epochs, batch_size=7,
                                validation_data=self.validation, rng=self.rng, callbacks=callbacks)


class _Progress(Progress):
    """A progress report that runs `action(epoch, batch)` after each batch (bar=True) and
    `at_epoch_end(epoch)` after each epoch."""

    bar = True

    def __init__(self, action=None, at_epoch_end=None):
        self.action, self.at_epoch_end, self.epoch = action, at_epoch_end, 0
        self.epochs = self.n_batches = None

    def start_epoch(self, epoch, batches_done=0):
        self.epoch = epoch

    def batch_done(self, batch, rows_done, total_loss):
        if self.action:
            self.action(self.epoch, batch)

    def end_epoch(self, line):
        if self.at_epoch_end:
            self.at_epoch_end(self.epoch)

    def message(self, text):
        pass


class ResumeTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.folder.name, "checkpoint.json")
        reference = Run()
        self.history = reference.fit()
        self.weights = reference.network.get_weights()

    def tearDown(self):
        self.folder.cleanup()

    def assert_same_as_uninterrupted(self, run, history):
        self.assertEqual(run.network.get_weights(), self.weights)  # bit for bit: == on every float
        self.assertEqual(history, self.history)

    def test_resuming_a_periodic_checkpoint_after_a_crash_is_bit_identical(self):
        def crash(epoch):
            if epoch == 3:
                raise RuntimeError("power cut")
        with self.assertRaises(RuntimeError):
            Run().fit(checkpoint=Checkpoint(self.path, every=2), progress=_Progress(at_epoch_end=crash))
        self.assertEqual(load_checkpoint(self.path)["epoch"], 2)  # the last checkpoint before the crash
        resumed = Run(seed=12345)  # other initial weights and rng: the checkpoint must override them all
        history = resumed.fit(resume=self.path)
        self.assert_same_as_uninterrupted(resumed, history)

    def test_ctrl_c_in_the_middle_of_an_epoch_saves_and_resumes_bit_identically(self):
        def press_ctrl_c(epoch, batch):
            if (epoch, batch) == (3, 2):
                signal.raise_signal(signal.SIGINT)
        interrupted = Run()
        with self.assertRaises(TrainingInterrupted) as caught:
            interrupted.fit(checkpoint=Checkpoint(self.path), progress=_Progress(press_ctrl_c))
        self.assertIn("after batch 2 of 5 in epoch 3", str(caught.exception))
        self.assertEqual(caught.exception.checkpoint_path, self.path)
        position = load_checkpoint(self.path)["position"]
        self.assertEqual((position["epoch"], position["batches_done"]), (3, 2))
        resumed = Run(seed=999)
        history = resumed.fit(resume=self.path)
        self.assert_same_as_uninterrupted(resumed, history)

    def test_ctrl_c_without_a_checkpoint_path_says_nothing_was_saved(self):
        def press_ctrl_c(epoch, batch):
            signal.raise_signal(signal.SIGINT)
        with self.assertRaises(TrainingInterrupted) as caught:
            Run().fit(progress=_Progress(press_ctrl_c))
        self.assertIn("nothing was saved", str(caught.exception))
        self.assertIsNone(caught.exception.checkpoint_path)

    def test_checkpoint_is_json_with_every_part_of_the_state(self):
        Run().fit(epochs=2, checkpoint=Checkpoint(self.path, every=1, extra={"note": "x"}))
        with open(self.path, encoding="utf-8") as f:
            data = json.load(f)
        for key in ("model", "optimizer", "scheduler", "early_stopping", "random_state", "history", "position"):
            self.assertIn(key, data)
        self.assertEqual(data["epoch"], 2)
        self.assertEqual(data["optimizer"]["t"], 10)  # 2 epochs of 5 batches
        self.assertEqual(data["extra"], {"note": "x"})
        self.assertEqual(len(data["random_state"][1]), 625)  # Mersenne Twister state, as a JSON list
        batch_norm = data["model"]["layers"][1]
        self.assertEqual(sorted(batch_norm["buffers"]), ["running_mean", "running_var"])

    def test_resuming_into_a_different_network_is_refused_and_changes_nothing(self):
        Run().fit(epochs=1, checkpoint=Checkpoint(self.path, every=1))
        other = Run()
        other.network = Network([Dense(3, 2, rng=random.Random(1))])
        other.optimizer = Adam(other.network.parameters(), lr=0.02)
        other.scheduler = LinearWarmup(other.optimizer, 1, after=StepLR(other.optimizer, step_size=2))
        before = other.network.get_weights()
        with self.assertRaisesRegex(CheckpointError, "differ from this network"):
            other.fit(resume=self.path)
        self.assertEqual(other.network.get_weights(), before)

    def test_a_rate_a_schedule_annealed_to_zero_resumes_and_a_negative_one_is_refused(self):
        Run().fit(epochs=1, checkpoint=Checkpoint(self.path, every=1))
        with open(self.path, encoding="utf-8") as f:
            data = json.load(f)
        for lr, works in ((0.0, True), (-0.1, False)):
            data["optimizer"]["lr"] = lr
            with open(self.path, "w", encoding="utf-8") as f:
                json.dump(data, f)
            if works:
                self.assertEqual(load_checkpoint(self.path)["optimizer"]["lr"], 0.0)
            else:
                with self.assertRaisesRegex(CheckpointError, "optimizer.lr' must be a number >= 0"):
                    load_checkpoint(self.path)

    def test_a_model_file_is_not_a_checkpoint(self):
        model_path = os.path.join(self.folder.name, "model.json")
        Run().network.save(model_path)
        with self.assertRaisesRegex(CheckpointError, "not a checkpoint"):
            load_checkpoint(model_path)
        with self.assertRaisesRegex(CheckpointError, "not found"):
            load_checkpoint(os.path.join(self.folder.name, "missing.json"))


class StopRequestTest(unittest.TestCase):
    def test_first_ctrl_c_sets_a_flag_second_raises_and_the_old_handler_returns(self):
        original = signal.getsignal(signal.SIGINT)
        with StopRequest() as stop:
            signal.raise_signal(signal.SIGINT)
            self.assertTrue(stop.requested)
            with self.assertRaises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        self.assertIs(signal.getsignal(signal.SIGINT), original)


class EarlyStoppingTest(unittest.TestCase):
    def train(self, restore_best=True):
        rng = random.Random(0)
        X, Y = classification_data(rng, 16)
        validation = classification_data(rng, 30)
        network = Network([Dense(3, 16, rng=rng), ReLU(), Dense(16, 2, rng=rng)])
        stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best=restore_best)
        weights_after = {}
        progress = _Progress(at_epoch_end=lambda epoch: weights_after.update({epoch: network.get_weights()}))
        progress.bar = False
        history = network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.05), 40, batch_size=4,
                              validation_data=validation, rng=rng, callbacks=[stopper, progress])
        return network, stopper, history, weights_after

    def test_stops_after_patience_epochs_and_restores_the_best_weights(self):
        network, stopper, history, weights_after = self.train()
        val_loss = history["val_loss"]
        best_epoch = val_loss.index(min(val_loss)) + 1
        self.assertEqual(stopper.best_epoch, best_epoch)
        self.assertEqual(stopper.stopped_epoch, best_epoch + 2)  # patience 2: the second bad epoch stops
        self.assertEqual(len(val_loss), stopper.stopped_epoch)
        self.assertNotEqual(weights_after[best_epoch], weights_after[stopper.stopped_epoch])
        self.assertEqual(network.get_weights(), weights_after[best_epoch])

    def test_without_restore_best_the_last_weights_stay(self):
        network, stopper, history, weights_after = self.train(restore_best=False)
        self.assertEqual(network.get_weights(), weights_after[stopper.stopped_epoch])

    def test_the_message_names_the_stopping_and_the_kept_epoch(self):
        stopper = EarlyStopping(patience=2, min_delta=0.01)
        network = Network([Dense(1, 1)])
        decisions = [stopper.update(epoch, value, network)
                     for epoch, value in enumerate([1.0, 0.95, 0.949, 0.948], 1)]
        # 0.949 and 0.948 do not beat 0.95 by more than min_delta 0.01: the second of them stops
        self.assertEqual(decisions, [False, False, False, True])
        text = stopper.finish(network, 4)
        self.assertIn("stopped after epoch 4", text)
        self.assertIn("kept the weights of epoch 2", text)

    def test_an_accuracy_is_to_be_maximised(self):
        stopper = EarlyStopping(monitor="val_accuracy", patience=0)
        network = Network([Dense(1, 1)])
        self.assertFalse(stopper.update(1, 0.5, network))
        self.assertFalse(stopper.update(2, 0.7, network))
        self.assertTrue(stopper.update(3, 0.6, network))


class DivergenceTest(unittest.TestCase):
    def regression(self):
        rng = random.Random(4)
        X = Matrix([[rng.uniform(-2, 2) for _ in range(3)] for _ in range(24)])
        Y = Matrix([[3.0 * row[0] - row[1] + 10.0] for row in X.rows])
        network = Network([Dense(3, 8, rng=rng), ReLU(), Dense(8, 1, rng=rng)])
        return network, X, Y, rng

    def test_a_learning_rate_of_a_million_stops_training_with_a_helpful_message(self):
        network, X, Y, rng = self.regression()
        with self.assertRaises(TrainingDiverged) as caught:
            network.fit(X, Y, MSE(), SGD(network.parameters(), lr=1e6), epochs=5, batch_size=4, rng=rng,
                        callbacks=[NonFiniteGuard()])
        message = str(caught.exception)
        self.assertRegex(message, r"epoch 1, batch \d+ of 6")
        self.assertRegex(message, r"first layer affected is layer \d")
        self.assertIn("smaller learning rate (now 1e+06", message)

    def test_a_nan_gradient_with_a_finite_loss_stops_before_the_step_and_names_the_layer(self):
        network, X, Y, rng = self.regression()
        hidden = network.layers[0]
        honest_backward = hidden.backward

        def poisoned_backward(grad, **options):
            result = honest_backward(grad, **options)
            hidden.weight.grad.rows[1][2] = float("nan")
            return result
        hidden.backward = poisoned_backward
        before = network.get_weights()
        with self.assertRaises(TrainingDiverged) as caught:
            network.fit(X, Y, MSE(), SGD(network.parameters(), lr=0.01), epochs=1, batch_size=4, rng=rng,
                        callbacks=[NonFiniteGuard()])
        message = str(caught.exception)
        self.assertIn("epoch 1, batch 1 of 6: a gradient became NaN or infinite", message)
        self.assertIn("layer 1, Dense(3 -> 8): its weight gradient includes nan", message)
        self.assertEqual(network.get_weights(), before)  # the step never happened

    def test_diverging_in_main_leaves_files_saved_earlier_untouched(self):
        with tempfile.TemporaryDirectory() as folder:
            data_path, model_path = os.path.join(folder, "data.csv"), os.path.join(folder, "model.json")
            checkpoint_path = os.path.join(folder, "checkpoint.json")
            _, X, Y, _ = self.regression()
            with open(data_path, "w", encoding="utf-8") as f:
                f.write("a,b,c,y\n" + "".join(f"{x[0]},{x[1]},{x[2]},{y[0]}\n" for x, y in zip(X.rows, Y.rows)))
            for path in (model_path, checkpoint_path):
                with open(path, "w", encoding="utf-8") as f:
                    f.write("saved earlier\n")
            config_path = os.path.join(folder, "config.json")
            with open(config_path, "w", encoding="utf-8") as f:
                json.dump({"data": {"path": data_path, "target": "y"}, "task": "regression",
                           "model": {"hidden_layers": [{"units": 8}], "output_activation": "linear"},
                           "training": {"loss": "mse", "optimizer": {"name": "sgd", "lr": 1e6}, "epochs": 3,
                                        "batch_size": 4, "checkpoint_every": 1, "checkpoint_path": checkpoint_path},
                           "output": {"model_path": model_path, "plot": ""}}, f)
            errors = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
                status = main.main(["--config", config_path])
            self.assertEqual(status, 2)
            self.assertIn("training diverged at epoch 1", errors.getvalue())
            for path in (model_path, checkpoint_path):
                with open(path, encoding="utf-8") as f:
                    self.assertEqual(f.read(), "saved earlier\n")


class _StopAfterChecks:
    """Stands in for training.StopRequest: Ctrl-C 'arrives' at the n-th look at the flag."""

    n = 7

    def __init__(self):
        self.looks = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    @property
    def requested(self):
        self.looks += 1
        return self.looks == self.n


class CommandLineResumeTest(unittest.TestCase):
    def test_main_resume_ends_with_the_same_model_as_an_uninterrupted_run(self):
        with tempfile.TemporaryDirectory() as folder:
            X, Y = classification_data(random.Random(5), 40)
            data_path = os.path.join(folder, "data.csv")
            with open(data_path, "w", encoding="utf-8") as f:
                f.write("a,b,c,label\n" + "".join(f"{x[0]},{x[1]},{x[2]},{'yes' if y[0] else 'no'}\n"
                                                  for x, y in zip(X.rows, Y.rows)))
            model_path, checkpoint_path = os.path.join(folder, "model.json"), os.path.join(folder, "run.json")
            config_path = os.path.join(folder, "config.json")
            with open(config_path, "w", encoding="utf-8") as f:
                json.dump({"seed": 3, "data": {"path": "data.csv", "target": "label", "validation_fraction": 0.2},
                           "model": {"hidden_layers": [{"units": 5, "dropout": 0.2, "batch_norm": True, "l2": 0.01}]},
                           "training": {"optimizer": {"name": "adam", "lr": 0.02}, "epochs": 4, "batch_size": 5,
                                        "scheduler": {"name": "cosine", "warmup_epochs": 1},
                                        "early_stopping": {"patience": 10}, "checkpoint_path": checkpoint_path},
                           "output": {"model_path": model_path, "plot": ""}}, f)
            quiet = contextlib.redirect_stdout(io.StringIO())
            with quiet:
                self.assertEqual(main.main(["--config", config_path, "--quiet"]), 0)
            with open(model_path, encoding="utf-8") as f:
                uninterrupted = json.load(f)["layers"]
            os.remove(model_path)
            errors = io.StringIO()
            with mock.patch("app.training.StopRequest", _StopAfterChecks), contextlib.redirect_stderr(errors), \
                    contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(main.main(["--config", config_path, "--quiet"]), 130)
            self.assertIn(f"continue with: python main.py --resume {checkpoint_path}", errors.getvalue())
            self.assertFalse(os.path.exists(model_path))
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                self.assertEqual(main.main(["--resume", checkpoint_path]), 0)
            self.assertIn("resuming", output.getvalue())
            with open(model_path, encoding="utf-8") as f:
                self.assertEqual(json.load(f)["layers"], uninterrupted)

    def test_resume_with_a_config_is_refused(self):
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors):
            self.assertEqual(main.main(["--resume", "x.json", "--config", "config.json"]), 2)
        self.assertIn("leave out --config", errors.getvalue())


if __name__ == "__main__":
    unittest.main()
