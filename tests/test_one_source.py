"""One source of truth: one one-hot, one evaluate, one number check, config names and defaults
read from the registries and the constructors (issue 10, section 3)."""

import inspect
import math
import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import datasets  # noqa: E402
import idx  # noqa: E402
import losses  # noqa: E402
import optimizers  # noqa: E402
import schedulers  # noqa: E402
from app import config, pipeline  # noqa: E402
from layers import Dense, Parameter  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from utils import check_count, check_number, is_count, is_number  # noqa: E402


class OneHotTest(unittest.TestCase):
    def test_there_is_one_one_hot(self):
        self.assertIs(datasets.one_hot, losses.one_hot)
        self.assertEqual(losses.one_hot([1, 0, 2], 3).tolist(), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        self.assertEqual(idx.OneHotLabels(bytes([2, 0]), 3).take([0, 1]).tolist(), [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
        with self.assertRaisesRegex(ValueError, r"class index 3 out of range for 3 classes \(0 to 2\)"):
            losses.one_hot([0, 3], 3)
        with self.assertRaisesRegex(ValueError, "class index True"):
            losses.one_hot([True], 3)

    def test_losses_and_evaluate_read_class_indices_the_same_way(self):
        # one output unit: the indices become a 0/1 column, for the losses as for Network.evaluate
        logits = Matrix([[0.3], [-2.0]])
        by_index = losses.BinaryCrossEntropy().forward(logits, [1, 0])
        self.assertEqual(by_index, losses.BinaryCrossEntropy().forward(logits, Matrix([[1.0], [0.0]])))
        network = Network([Dense(1, 1, init="zeros")])
        network.layers[0].weight.value = Matrix([[1.0]])
        scores = network.evaluate(Matrix([[0.3], [-2.0]]), [1, 0], losses.BinaryCrossEntropy())
        self.assertEqual(scores, {"loss": by_index, "accuracy": 1.0})
        for bad in ([0, 2], [0]):
            with self.subTest(targets=bad):
                with self.assertRaises(ValueError):
                    losses.BinaryCrossEntropy().forward(logits, bad)


class OneEvaluateTest(unittest.TestCase):
    def test_pipeline_has_one_evaluate_for_splits_and_rows_read_from_a_file(self):
        self.assertFalse(hasattr(pipeline, "evaluate_rows"))
        self.assertEqual(list(inspect.signature(pipeline.evaluate).parameters), ["network", "part", "X"])


class NumberCheckTest(unittest.TestCase):
    def test_a_number_is_finite_and_never_a_bool(self):
        for value in (0, 1.5, -3, 10 ** 400):
            self.assertTrue(is_number(value), value)
        for value in (True, math.nan, math.inf, "1", None, [1]):
            self.assertFalse(is_number(value), value)
        self.assertTrue(is_count(0) and is_count(3, 1))
        self.assertFalse(is_count(True) or is_count(2.0) or is_count(0, 1))

    def test_messages_say_the_bounds_as_in_a_textbook(self):
        self.assertEqual(check_number(0.5, "p", "in [0, 1)"), 0.5)
        with self.assertRaisesRegex(ValueError, r"^p must be a number in \[0, 1\), got 1$"):
            check_number(1, "p", "in [0, 1)")
        with self.assertRaisesRegex(ValueError, r"^epochs must be a positive integer, got 0$"):
            check_count(0, "epochs", 1)

    def test_the_constructors_use_it(self):
        param = [Parameter(Matrix([[1.0]]), "w")]
        for make, text in ((lambda: optimizers.SGD(param, lr=0), "learning rate lr must be a number > 0, got 0"),
                           (lambda: optimizers.RMSprop(param, alpha=1.0), "alpha must be a number in (0, 1), got 1.0"),
                           (lambda: Dense(2, 0), "must be a positive integer, got 0"),
                           (lambda: schedulers.StepLR(optimizers.SGD(param), step_size=0),
                            "StepLR step_size must be a positive integer, got 0")):
            with self.assertRaises(ValueError) as caught:
                make()
            self.assertIn(text, str(caught.exception))


class ConfigFromRegistriesTest(unittest.TestCase):
    def test_optimizer_defaults_are_the_constructors(self):
        for name, cls in optimizers.OPTIMIZERS.items():
            signature = inspect.signature(cls.__init__).parameters
            options = config.OPTIMIZER_OPTIONS[name]
            self.assertEqual(set(options), set(signature) - {"self", "params"}, name)
            for key, spec in options.items():
                expected = signature[key].default
                self.assertEqual(spec.default, list(expected) if isinstance(expected, tuple) else expected,
                                 f"{name}.{key}")
        filled = config.validate_config({"data": {"path": "d.csv", "target": "y"},
                                         "training": {"optimizer": {"name": "adamw"}}})
        self.assertEqual(filled["training"]["optimizer"]["weight_decay"],
                         inspect.signature(optimizers.AdamW.__init__).parameters["weight_decay"].default)

    def test_scheduler_names_and_defaults_are_the_registrys(self):
        self.assertEqual(config.SCHEDULERS, list(schedulers.SCHEDULERS))
        for name, (cls, arguments) in schedulers.SCHEDULERS.items():
            signature = inspect.signature(cls.__init__).parameters
            options = config.SCHEDULER_OPTIONS[name]
            self.assertEqual(set(options), set(arguments) | {"warmup_epochs"}, name)
            for key, argument in arguments.items():
                spec, default = options[key], signature[argument].default
                if key in config.COMPUTED_DEFAULTS:
                    self.assertTrue(callable(spec.default), key)
                elif default is inspect.Parameter.empty:
                    self.assertTrue(spec.required, f"{name}.{key}")
                else:
                    self.assertEqual(spec.default, default, f"{name}.{key}")

    def test_no_second_copy_in_config_py(self):
        with open(config.__file__, encoding="utf-8") as f:
            source = f.read()
        self.assertNotIn("default=0.01", source)
        self.assertNotIn('"lr": 0.001', source)
        self.assertNotIn('["step", "exponential"', source)

    def test_the_config_bounds_agree_with_the_constructors_at_their_edges(self):
        param = [Parameter(Matrix([[1.0]]), "w")]
        for name, cls in optimizers.OPTIMIZERS.items():
            for key, spec in config.OPTIMIZER_OPTIONS[name].items():
                if not isinstance(spec, config.Real):
                    continue
                for value in (-1e-9, 0, 1e-9, 0.5, 1 - 1e-9, 1, 2):
                    with self.subTest(optimizer=name, option=key, value=value):
                        try:
                            cls(param, **{key: value})
                            accepted = True
                        except ValueError:
                            accepted = False
                        self.assertEqual(spec.problem(value) is None, accepted)

    def test_loss_outputs_come_from_the_losses(self):
        for name, cls in losses.LOSSES.items():
            if cls.fuses_with is not None:
                self.assertIn(cls.fuses_with, config.LOSS_OUTPUT_ACTIVATIONS[name])
        self.assertEqual(config.NORMALIZATIONS, list(datasets.Normalizer.METHODS))


if __name__ == "__main__":
    unittest.main()
