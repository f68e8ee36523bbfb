"""Tests for schedulers.py: each schedule's rates against hand-computed values, as PyTorch defines them."""

import io
import json
import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ReLU  # noqa: E402
from layers import Dense  # noqa: E402
from losses import MSE  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import SGD  # noqa: E402
from app.progress import Progress  # noqa: E402
from app.training import LearningRateSchedule  # noqa: E402
from schedulers import (CosineAnnealingLR, ExponentialLR, LinearWarmup, ReduceLROnPlateau,  # noqa: E402
                        StepLR, get_scheduler)


class _Optimizer:
    """Just what a schedule touches: a learning rate."""

    def __init__(self, lr):
        self.lr = lr


def rates(scheduler, epochs, metrics=None):
    """The rate of each of the first `epochs` epochs: read, then step (as fit does)."""
    seen = []
    for epoch in range(epochs):
        seen.append(scheduler.lr)
        scheduler.step(metrics[epoch] if metrics else None)
    return seen


class ScheduleFormulaTest(unittest.TestCase):
    def assert_rates(self, actual, expected):
        self.assertEqual(len(actual), len(expected))
        for epoch, (a, b) in enumerate(zip(actual, expected)):
            self.assertAlmostEqual(a, b, places=15, msg=f"epoch {epoch}: mine {a!r} vs expected {b!r}")

    def test_step_lr_halves_every_two_epochs(self):
        # torch StepLR(step_size=2, gamma=0.5) from lr 0.1
        self.assert_rates(rates(StepLR(_Optimizer(0.1), step_size=2, gamma=0.5), 6),
                          [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])

    def test_exponential_lr_multiplies_by_gamma_each_epoch(self):
        self.assert_rates(rates(ExponentialLR(_Optimizer(0.1), gamma=0.9), 4), [0.1, 0.09, 0.081, 0.0729])

    def test_cosine_annealing_follows_half_a_cosine_to_eta_min(self):
        # eta_min + (0.1 - eta_min) (1 + cos(pi e / 4)) / 2, with cos(pi/4) = sqrt(2)/2
        half_root = math.sqrt(2.0) / 2.0
        expected = [0.1, 0.1 * (1 + half_root) / 2, 0.05, 0.1 * (1 - half_root) / 2, 0.0]
        self.assert_rates(rates(CosineAnnealingLR(_Optimizer(0.1), t_max=4), 5), expected)
        # with eta_min 0.02: halfway is (0.1 + 0.02) / 2
        cosine = CosineAnnealingLR(_Optimizer(0.1), t_max=4, eta_min=0.02)
        self.assert_rates(rates(cosine, 5)[::2], [0.1, 0.06, 0.02])

    def test_linear_warmup_climbs_in_equal_steps_then_keeps_the_base_rate(self):
        # 3 warm-up epochs: 1/4, 2/4, 3/4 of 0.1, then 0.1
        self.assert_rates(rates(LinearWarmup(_Optimizer(0.1), 3), 5), [0.025, 0.05, 0.075, 0.1, 0.1])

    def test_warmup_then_step_starts_the_step_schedule_after_the_warmup(self):
        optimizer = _Optimizer(0.1)
        scheduler = LinearWarmup(optimizer, 2, after=StepLR(optimizer, step_size=2, gamma=0.5))
        self.assert_rates(rates(scheduler, 7), [0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.05, 0.05, 0.025])

    def test_plateau_cuts_the_rate_after_patience_epochs_without_improvement(self):
        # torch ReduceLROnPlateau(mode="min", factor=0.5, patience=1, threshold=1e-4, threshold_mode="rel")
        metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.85]
        # rates in force after each step: epochs 3 and 4 are two bad ones in a row (more than
        # patience 1) -> cut after epoch 4; epochs 7 and 8 are bad again -> cut after epoch 8
        scheduler = ReduceLROnPlateau(_Optimizer(0.1), factor=0.5, patience=1)
        after = []
        for value in metrics:
            scheduler.step(value)
            after.append(scheduler.lr)
        self.assert_rates(after, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025])

    def test_plateau_needs_a_relative_improvement_larger_than_the_threshold(self):
        scheduler = ReduceLROnPlateau(_Optimizer(0.1), factor=0.5, patience=0, threshold=1e-2)
        scheduler.step(1.0)
        scheduler.step(0.995)  # not below 1.0 * (1 - 0.01): no improvement, patience 0 -> cut
        self.assertAlmostEqual(scheduler.lr, 0.05)
        self.assertEqual(scheduler.best, 1.0)

    def test_plateau_never_goes_below_min_lr(self):
        scheduler = ReduceLROnPlateau(_Optimizer(0.1), factor=0.1, patience=0, min_lr=0.005)
        for value in [1.0, 1.0, 1.0, 1.0]:
            scheduler.step(value)
        self.assertEqual(scheduler.lr, 0.005)

    def test_plateau_on_an_accuracy_wants_it_to_rise(self):
        scheduler = ReduceLROnPlateau(_Optimizer(0.1), monitor="val_accuracy", factor=0.5, patience=0)
        self.assertEqual(scheduler.mode, "max")
        scheduler.step(0.5)
        scheduler.step(0.6)  # better
        self.assertEqual(scheduler.lr, 0.1)
        scheduler.step(0.55)  # worse
        self.assertEqual(scheduler.lr, 0.05)

    def test_plateau_step_without_a_metric_says_which_is_needed(self):
        with self.assertRaisesRegex(ValueError, "val_loss"):
            ReduceLROnPlateau(_Optimizer(0.1)).step()

    def test_bad_options_are_reported_with_the_allowed_range(self):
        with self.assertRaisesRegex(ValueError, "step_size"):
            StepLR(_Optimizer(0.1), step_size=0)
        with self.assertRaisesRegex(ValueError, r"factor must be a number in \(0, 1\), got 1.5"):
            ReduceLROnPlateau(_Optimizer(0.1), factor=1.5)


class StateTest(unittest.TestCase):
    def test_every_schedule_resumes_with_the_same_rates_after_a_json_round_trip(self):
        makers = [
            lambda o: StepLR(o, step_size=2, gamma=0.5),
            lambda o: ExponentialLR(o, gamma=0.8),
            lambda o: CosineAnnealingLR(o, t_max=5, eta_min=0.001),
            lambda o: LinearWarmup(o, 2, after=CosineAnnealingLR(o, t_max=5)),
            lambda o: LinearWarmup(o, 2, after=ReduceLROnPlateau(o, factor=0.5, patience=0)),
            lambda o: ReduceLROnPlateau(o, factor=0.5, patience=0),
        ]
        metrics = [1.0, 0.9, 0.95, 0.96, 0.8, 0.85, 0.84, 0.9]
        for make in makers:
            straight = rates(make(_Optimizer(0.1)), 8, metrics)
            first = make(_Optimizer(0.1))
            head = rates(first, 3, metrics)
            saved = json.loads(json.dumps(first.state_dict()))
            optimizer = _Optimizer(0.1)
            second = make(optimizer)
            second.load_state_dict(saved)
            tail = rates(second, 5, metrics[3:])
            self.assertEqual(head + tail, straight, repr(second))

    def test_loading_another_schedules_state_is_refused(self):
        state = StepLR(_Optimizer(0.1), step_size=2).state_dict()
        with self.assertRaisesRegex(ValueError, "StepLR"):
            ExponentialLR(_Optimizer(0.1), gamma=0.5).load_state_dict(state)


class FromConfigTest(unittest.TestCase):
    def test_config_names_map_to_the_schedules(self):
        cases = [({"name": "step", "step_size": 3, "gamma": 0.5}, StepLR),
                 ({"name": "exponential", "gamma": 0.9}, ExponentialLR),
                 ({"name": "cosine", "t_max": 10, "eta_min": 0.0}, CosineAnnealingLR),
                 ({"name": "plateau", "monitor": "loss", "patience": 2}, ReduceLROnPlateau)]
        for options, cls in cases:
            self.assertIsInstance(get_scheduler(options, _Optimizer(0.1)), cls)
        self.assertIsNone(get_scheduler(None, _Optimizer(0.1)))

    def test_warmup_epochs_wrap_the_schedule(self):
        optimizer = _Optimizer(0.1)
        scheduler = get_scheduler({"name": "exponential", "gamma": 0.5, "warmup_epochs": 1}, optimizer)
        self.assertIsInstance(scheduler, LinearWarmup)
        self.assertEqual(rates(scheduler, 4), [0.05, 0.1, 0.05, 0.025])

    def test_unknown_names_and_options_list_the_valid_ones(self):
        with self.assertRaisesRegex(ValueError, "valid: cosine, exponential, plateau, step"):
            get_scheduler({"name": "linear"}, _Optimizer(0.1))
        with self.assertRaisesRegex(ValueError, "its options"):
            get_scheduler({"name": "step", "step_size": 2, "patience": 3}, _Optimizer(0.1))


class FitRecordsTheRateTest(unittest.TestCase):
    def test_history_and_epoch_lines_show_each_epochs_rate(self):
        rng = random.Random(3)
        X = Matrix([[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(12)])
        Y = Matrix([[row[0] - row[1]] for row in X.rows])
        network = Network([Dense(2, 4, rng=rng), ReLU(), Dense(4, 1, rng=rng)])
        optimizer = SGD(network.parameters(), lr=0.1)
        out = io.StringIO()
        history = network.fit(X, Y, MSE(), optimizer, epochs=4, batch_size=4, rng=rng,
                              callbacks=[LearningRateSchedule(StepLR(optimizer, step_size=1, gamma=0.5)),
                                         Progress(4, 3, stream=out)])
        self.assertEqual(history["lr"], [0.1, 0.05, 0.025, 0.0125])
        lines = out.getvalue().splitlines()
        self.assertIn("lr 0.1 ", lines[0])
        self.assertIn("lr 0.0125 ", lines[3])

    def test_plateau_watching_a_missing_metric_is_refused_before_training(self):
        network = Network([Dense(1, 1)])
        optimizer = SGD(network.parameters(), lr=0.1)
        X = Matrix([[1.0], [2.0]])
        with self.assertRaisesRegex(ValueError, "val_loss.*validation_data"):
            network.fit(X, X, MSE(), optimizer, epochs=1,
                        callbacks=[LearningRateSchedule(ReduceLROnPlateau(optimizer, monitor="val_loss"))])


if __name__ == "__main__":
    unittest.main()
