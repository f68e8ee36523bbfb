"""Tests that every training key of the config reaches training, through pipeline.py and main.py."""

import contextlib
import io
import json
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import main  # noqa: E402
from app import pipeline  # noqa: E402
from app.config import validate_config  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from schedulers import LinearWarmup, ReduceLROnPlateau  # noqa: E402
from app.training import EarlyStopping, load_checkpoint  # noqa: E402


class ConfigWiringTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        rng = random.Random(8)
        rows = []
        for _ in range(60):
            a, b = rng.gauss(0, 1), rng.gauss(0, 1)
            rows.append(f"{a},{b},{'left' if a + 0.3 * rng.gauss(0, 1) < 0 else 'right'}")
        self.data_path = self.path("points.csv")
        with open(self.data_path, "w", encoding="utf-8") as f:
            f.write("a,b,side\n" + "\n".join(rows) + "\n")

    def tearDown(self):
        self.folder.cleanup()

    def path(self, name):
        return os.path.join(self.folder.name, name)

    def config(self, hidden=None, training=None, output=None):
        return {"seed": 1, "data": {"path": self.data_path, "target": "side", "validation_fraction": 0.2},
                "model": {"hidden_layers": hidden or [{"units": 6}]},
                "training": dict({"optimizer": {"name": "adam", "lr": 0.02}, "epochs": 6, "batch_size": 8},
                                 **(training or {})),
                "output": dict({"model_path": self.path("model.json")}, **(output or {}))}

    def run_main(self, config, *flags):
        config_path = self.path("config.json")
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        out, errors = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errors):
            status = main.main(["--config", config_path, *flags])
        self.assertEqual(status, 0, errors.getvalue())
        return out.getvalue()

    def test_every_key_at_once_trains_saves_and_reloads(self):
        hidden = [{"units": 6, "activation": "tanh", "dropout": 0.2, "batch_norm": True, "l1": 0.001, "l2": 0.01}]
        training = {"clip_norm": 1.0, "scheduler": {"name": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 1},
                    "early_stopping": {"monitor": "val_loss", "patience": 20, "min_delta": 0.0},
                    "checkpoint_every": 4, "checkpoint_path": self.path("run.json")}
        text = self.run_main(self.config(hidden, training, {"plot": self.path("curves.svg")}))
        saved = Network.load(self.path("model.json"))
        kinds = [type(layer).__name__ for layer in saved.layers]
        self.assertEqual(kinds, ["Dense", "BatchNorm", "Tanh", "Dropout", "Dense", "Softmax"])
        self.assertEqual((saved.layers[0].l1, saved.layers[0].l2), (0.001, 0.01))
        self.assertNotEqual(saved.layers[1].running_var.rows[0], [1.0] * 6)  # running statistics were saved
        self.assertEqual(load_checkpoint(self.path("run.json"))["epoch"], 4)
        with open(self.path("curves.svg"), encoding="utf-8") as f:
            self.assertIn('data-series="val_loss"', f.read())
        self.assertIn("lr 0.01 ", text)  # epoch 1 of the warm-up: half of 0.02
        self.assertIn("early stopping:", text)
        self.assertIn("training loss per epoch", text)

    def test_training_helpers_build_what_the_config_names(self):
        config = validate_config(self.config(training={
            "clip_norm": 2.5, "scheduler": {"name": "plateau", "monitor": "val_accuracy", "warmup_epochs": 2},
            "early_stopping": {"monitor": "val_accuracy", "patience": 3, "min_delta": 0.01, "restore_best": False},
            "checkpoint_every": 5}))
        optimizer = Adam(Network.from_config({}, 2, 2).parameters())
        helpers = pipeline.training_helpers(config, optimizer)
        self.assertEqual(helpers["clip_norm"], 2.5)
        self.assertIsInstance(helpers["scheduler"], LinearWarmup)
        self.assertIsInstance(helpers["scheduler"].after, ReduceLROnPlateau)
        self.assertEqual(helpers["scheduler"].after.mode, "max")
        stopper = helpers["early_stopping"]
        self.assertIsInstance(stopper, EarlyStopping)
        self.assertEqual((stopper.monitor, stopper.patience, stopper.min_delta, stopper.restore_best, stopper.mode),
                         ("val_accuracy", 3, 0.01, False, "max"))
        # named after the model, so two runs in one folder never share a checkpoint
        model_stem = os.path.splitext(config["output"]["model_path"])[0]
        self.assertEqual((helpers["checkpoint"].path, helpers["checkpoint"].every), (model_stem + "_checkpoint.json", 5))

    def test_no_training_keys_means_none_of_the_extras(self):
        helpers = pipeline.training_helpers(validate_config(self.config()),
                                            Adam(Network.from_config({}, 2, 2).parameters()))
        self.assertEqual([helpers[key] for key in ("scheduler", "clip_norm", "early_stopping")], [None] * 3)
        self.assertIsNone(helpers["checkpoint"].every)  # still there, for Ctrl-C

    def test_early_stopping_from_the_config_stops_and_says_where(self):
        text = self.run_main(self.config(training={"epochs": 60, "early_stopping": {"patience": 0, "min_delta": 0.5}}))
        self.assertIn("stopped after epoch 2", text)  # no later epoch beats epoch 1 by 0.5
        self.assertIn("kept the weights of epoch 1", text)
        self.assertNotIn("epoch 3/60", text)

    def test_plot_goes_beside_the_model_unless_turned_off(self):
        self.run_main(self.config(), "--quiet")
        self.assertTrue(os.path.exists(self.path("model_training.svg")))
        os.remove(self.path("model_training.svg"))
        self.run_main(self.config(output={"plot": ""}), "--quiet")
        self.assertFalse(os.path.exists(self.path("model_training.svg")))

    def test_diagnose_flag_prints_the_layer_table(self):
        text = self.run_main(self.config(), "--diagnose")
        self.assertIn("diagnostics after epoch 6", text)
        self.assertIn("grad norm", text)

    def test_quiet_prints_no_epoch_lines(self):
        text = self.run_main(self.config(), "--quiet")
        self.assertNotIn("epoch 1/", text)
        self.assertIn("model saved to", text)


if __name__ == "__main__":
    unittest.main()
