"""Tests for Dropout, BatchNorm, the L1/L2 penalties of Dense, and gradient clipping.

Gradients are checked against central finite differences in float64 (tests/gradcheck.py),
with a random upstream gradient; statistics against numbers worked out by hand.
"""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ReLU  # noqa: E402
from layers import BatchNorm, Dense, Dropout, Parameter  # noqa: E402
from losses import CrossEntropy, MSE  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import SGD  # noqa: E402
from tests.gradcheck import (assert_close, check_layer, numerical_gradient, random_matrix,  # noqa: E402
                             trial_shapes, upstream_gradient)
from app.training import GradientClipping, clip_grad_norm, global_grad_norm  # noqa: E402


def weighted_sum(y, g):
    return math.fsum(a * b for ya, ga in zip(y.rows, g.rows) for a, b in zip(ya, ga))


def check_training_mode(layer, x, rng, reset=lambda: None, what="layer"):
    """Like gradcheck.check_layer, but through forward(x, training=True); `reset` runs before
    every forward pass (Dropout: re-seed, so that every pass draws the same mask)."""
    reset()
    y = layer.forward(x, training=True)
    grad_output = upstream_gradient(rng, *y.shape)
    analytic = [("dX", x, layer.backward(grad_output).copy())]
    analytic += [(f"d{p.name}", p.value, p.grad.copy()) for p in layer.parameters()]

    def loss():
        reset()
        return weighted_sum(layer.forward(x, training=True), grad_output)

    for name, value, grad in analytic:
        assert_close(grad, numerical_gradient(loss, value), f"{what} {name}")


class DropoutTest(unittest.TestCase):
    def test_gradient_with_a_fixed_mask_matches_finite_differences(self):
        rng = random.Random(1)
        for trial, (n_rows, n_cols) in enumerate(trial_shapes(1, trials=4, max_rows=5, max_cols=6)):
            layer = Dropout(0.4)

            def reset(seed=trial):
                layer.rng = random.Random(seed)  # the same seed draws the same mask every pass
            check_training_mode(layer, random_matrix(rng, n_rows, n_cols), rng, reset, f"Dropout trial {trial}")

    def test_kept_entries_are_scaled_by_one_over_keep_probability(self):
        layer = Dropout(0.25, rng=random.Random(2))
        x = Matrix.full(40, 50, 3.0)
        y = layer.forward(x, training=True)
        values = {v for row in y.rows for v in row}
        self.assertEqual(values, {0.0, 4.0})  # 3 / (1 - 0.25)
        dropped = sum(v == 0.0 for row in y.rows for v in row) / 2000
        self.assertAlmostEqual(dropped, 0.25, delta=0.03)

    def test_evaluation_passes_inputs_through_unchanged(self):
        x = Matrix([[1.0, -2.0], [3.0, 4.0]])
        layer = Dropout(0.5)
        self.assertIs(layer.forward(x), x)
        grad = Matrix([[1.0, 1.0], [1.0, 1.0]])
        self.assertIs(layer.backward(grad), grad)

    def test_masks_are_reproducible_from_the_seed(self):
        x = Matrix.full(5, 5, 1.0)
        first = Dropout(0.5, rng=random.Random(7)).forward(x, training=True)
        second = Dropout(0.5, rng=random.Random(7)).forward(x, training=True)
        self.assertEqual(first, second)

    def test_p_outside_zero_to_one_is_refused(self):
        for p in (-0.1, 1.0, True, "0.5"):
            with self.assertRaisesRegex(ValueError, r"\[0, 1\)"):
                Dropout(p)


class BatchNormTest(unittest.TestCase):
    def test_training_gradients_match_finite_differences(self):
        rng = random.Random(3)
        for trial, (n_rows, n_cols) in enumerate(trial_shapes(3, trials=5, max_rows=6, max_cols=4)):
            # with 2 rows the outputs are +-1 whatever X is, so dX is ~1e-8 and only rounding would be compared
            n_rows = max(n_rows, 3)
            layer = BatchNorm(n_cols)
            layer.gamma.value = random_matrix(rng, 1, n_cols, 0.5, 2.0)
            layer.beta.value = random_matrix(rng, 1, n_cols)
            check_training_mode(layer, random_matrix(rng, n_rows, n_cols), rng, what=f"BatchNorm trial {trial}")

    def test_evaluation_gradients_match_finite_differences(self):
        rng = random.Random(4)
        layer = BatchNorm(3)
        layer.gamma.value = random_matrix(rng, 1, 3, 0.5, 2.0)
        layer.running_mean = random_matrix(rng, 1, 3)
        layer.running_var = random_matrix(rng, 1, 3, 0.5, 2.0)
        check_layer(layer, random_matrix(rng, 4, 3), rng, what="BatchNorm (evaluation)")

    def test_training_output_has_zero_mean_and_unit_variance_per_column(self):
        layer = BatchNorm(2)
        y = layer.forward(Matrix([[1.0, 10.0], [2.0, 30.0], [3.0, 20.0], [6.0, 60.0]]), training=True)
        for column in zip(*y.rows):
            mean = sum(column) / 4
            variance = sum((v - mean) ** 2 for v in column) / 4
            self.assertAlmostEqual(mean, 0.0, places=12)
            self.assertAlmostEqual(variance, 1.0, places=4)  # var / (var + eps) with eps = 1e-5

    def test_running_statistics_use_the_unbiased_variance(self):
        # column [1, 2, 3, 6]: mean 3, biased variance 14/4, unbiased 14/3 (torch.nn.BatchNorm1d)
        layer = BatchNorm(1, momentum=0.1)
        y = layer.forward(Matrix([[1.0], [2.0], [3.0], [6.0]]), training=True)
        self.assertAlmostEqual(layer.running_mean.rows[0][0], 0.9 * 0.0 + 0.1 * 3.0, places=15)
        self.assertAlmostEqual(layer.running_var.rows[0][0], 0.9 * 1.0 + 0.1 * 14.0 / 3.0, places=15)
        # the batch itself is normalized with the biased variance
        self.assertAlmostEqual(y.rows[0][0], (1.0 - 3.0) / math.sqrt(3.5 + 1e-5), places=12)

    def test_evaluation_normalizes_with_the_running_statistics(self):
        layer = BatchNorm(2, eps=1e-5)
        layer.running_mean = Matrix([[1.0, -2.0]])
        layer.running_var = Matrix([[4.0, 0.25]])
        layer.gamma.value, layer.beta.value = Matrix([[2.0, 1.0]]), Matrix([[0.5, 0.0]])
        y = layer.forward(Matrix([[3.0, -1.0]]))
        self.assertAlmostEqual(y.rows[0][0], 2.0 * (3.0 - 1.0) / math.sqrt(4.0 + 1e-5) + 0.5, places=12)
        self.assertAlmostEqual(y.rows[0][1], (-1.0 + 2.0) / math.sqrt(0.25 + 1e-5), places=12)
        self.assertEqual(layer.running_mean, Matrix([[1.0, -2.0]]))  # evaluation changes nothing

    def test_a_training_batch_of_one_row_is_refused_with_advice(self):
        with self.assertRaisesRegex(ValueError, "at least 2 rows.*batch_size"):
            BatchNorm(3).forward(Matrix([[1.0, 2.0, 3.0]]), training=True)

    def test_fit_never_gives_batchnorm_a_batch_of_one_row(self):
        rng = random.Random(5)
        X = random_matrix(rng, 9, 2)  # batches of 4, 4 and 1: the last row joins the batch before
        network = Network([Dense(2, 3, rng=rng), BatchNorm(3), ReLU(), Dense(3, 1, rng=rng)])
        history = network.fit(X, X.take(range(9)).T.take([0]).T, MSE(), SGD(network.parameters(), lr=0.01),
                              epochs=2, batch_size=4, rng=rng)
        self.assertEqual(len(history["loss"]), 2)

    def test_running_statistics_and_parameters_survive_save_and_load(self):
        rng = random.Random(6)
        network = Network([Dense(2, 3, rng=rng), BatchNorm(3), ReLU(), Dropout(0.3), Dense(3, 2, rng=rng)])
        network.layers[1].forward(random_matrix(rng, 5, 3), training=True)  # move the running statistics
        network.layers[1].gamma.value = Matrix([[1.5, 0.5, 2.0]])
        copy = Network.from_dict(network.to_dict())
        self.assertEqual(copy.layers[1].running_mean, network.layers[1].running_mean)
        self.assertEqual(copy.layers[1].running_var, network.layers[1].running_var)
        self.assertEqual(copy.layers[3].p, 0.3)
        x = random_matrix(rng, 4, 2)
        self.assertEqual(copy.predict(x), network.predict(x))


class PenaltyTest(unittest.TestCase):
    def test_l1_and_l2_gradients_match_finite_differences_of_loss_plus_penalty(self):
        rng = random.Random(7)
        for l1, l2 in ((0.1, 0.0), (0.0, 0.3), (0.05, 0.2)):
            layer = Dense(3, 2, rng=rng, l1=l1, l2=l2)
            layer.weight.value = random_matrix(rng, 3, 2, away_from_zero=0.1)  # |w| has a kink at 0
            check_layer(layer, random_matrix(rng, 4, 3), rng, what=f"Dense l1={l1} l2={l2}",
                        extra_loss=layer.penalty)

    def test_penalty_by_hand(self):
        layer = Dense(2, 2, l1=0.1, l2=0.5)
        layer.weight.value = Matrix([[1.0, -2.0], [0.0, 3.0]])
        # 0.1 * (1 + 2 + 0 + 3) + 0.5 * (1 + 4 + 0 + 9)
        self.assertAlmostEqual(layer.penalty(), 0.6 + 7.0, places=15)
        # 0.1 * sign(w) + 2 * 0.5 * w, sign(0) = 0
        self.assertEqual(layer.penalty_gradient(), Matrix([[1.1, -2.1], [0.0, 3.1]]))

    def test_bias_is_not_penalized_and_no_penalty_costs_nothing(self):
        layer = Dense(2, 2, l2=1.0)
        layer.bias.value = Matrix([[5.0, 5.0]])
        layer.weight.value = Matrix([[0.0, 0.0], [0.0, 0.0]])
        self.assertEqual(layer.penalty(), 0.0)
        self.assertEqual(Dense(2, 2).penalty(), 0.0)
        self.assertNotIn("l2", Dense(2, 2).get_config())  # models without penalties keep their format

    def test_reported_loss_includes_the_penalty(self):
        rng = random.Random(8)
        X = random_matrix(rng, 6, 2)
        Y = Matrix([[1.0, 0.0] if row[0] > 0 else [0.0, 1.0] for row in X.rows])
        network = Network([Dense(2, 2, rng=rng, l2=0.5)])
        data_loss = network.evaluate(X, Y, CrossEntropy())["loss"]
        penalty = network.layers[0].penalty()
        # one batch of all rows: the epoch's loss is the loss before the single step
        history = network.fit(X, Y, CrossEntropy(), SGD(network.parameters(), lr=0.1), epochs=1,
                              batch_size=6, shuffle=False)
        self.assertAlmostEqual(history["loss"][0], data_loss + penalty, places=12)
        self.assertGreater(penalty, 0.01)

    def test_negative_penalties_are_refused(self):
        with self.assertRaisesRegex(ValueError, "l2 must be a number >= 0"):
            Dense(2, 2, l2=-0.1)


class ClipTest(unittest.TestCase):
    def make_parameters(self):
        first, second = Parameter(Matrix([[0.0, 0.0]])), Parameter(Matrix([[0.0]]))
        first.grad, second.grad = Matrix([[3.0, 4.0]]), Matrix([[12.0]])  # global norm 13
        return [first, second]

    def test_gradients_above_max_norm_are_scaled_to_it(self):
        params = self.make_parameters()
        self.assertEqual(clip_grad_norm(params, 6.5), 13.0)
        scale = 6.5 / (13.0 + 1e-6)  # torch.nn.utils.clip_grad_norm_
        self.assertEqual(params[0].grad, Matrix([[3.0 * scale, 4.0 * scale]]))
        self.assertEqual(params[1].grad, Matrix([[12.0 * scale]]))
        self.assertAlmostEqual(global_grad_norm(params), 6.5, places=6)

    def test_gradients_below_max_norm_are_left_alone(self):
        params = self.make_parameters()
        clip_grad_norm(params, 20.0)
        self.assertEqual(params[0].grad, Matrix([[3.0, 4.0]]))

    def test_fit_with_clip_norm_caps_each_step(self):
        rng = random.Random(9)
        X = random_matrix(rng, 4, 3, -5, 5)
        network = Network([Dense(3, 2, rng=rng)])
        before = network.get_weights()
        network.fit(X, X.T.take([0, 1]).T * 10.0, MSE(), SGD(network.parameters(), lr=1.0), epochs=1,
                    batch_size=4, callbacks=[GradientClipping(0.01)])
        step = math.sqrt(math.fsum((a - b) ** 2 for m_after, m_before in zip(network.get_weights(), before)
                                   for row_a, row_b in zip(m_after, m_before) for a, b in zip(row_a, row_b)))
        self.assertAlmostEqual(step, 0.01, places=6)  # lr 1 times a gradient clipped to norm 0.01


class ModelFromConfigTest(unittest.TestCase):
    def test_hidden_layer_options_build_dense_batchnorm_activation_dropout(self):
        config = {"hidden_layers": [{"units": 4, "activation": "tanh", "dropout": 0.2, "batch_norm": True,
                                     "l1": 0.01, "l2": 0.02}, {"units": 3}]}
        network = Network.from_config(config, 2, 2, rng=random.Random(0))
        kinds = [type(layer).__name__ for layer in network.layers]
        self.assertEqual(kinds, ["Dense", "BatchNorm", "Tanh", "Dropout", "Dense", "ReLU", "Dense", "Softmax"])
        first = network.layers[0]
        self.assertIsNone(first.bias)  # BatchNorm's beta replaces it
        self.assertEqual((first.l1, first.l2), (0.01, 0.02))
        self.assertEqual(network.layers[3].p, 0.2)
        self.assertIsNotNone(network.layers[4].bias)

    def test_dropout_and_batchnorm_do_not_change_the_initial_weights(self):
        plain = Network.from_config({"hidden_layers": [{"units": 4}]}, 3, 2, rng=random.Random(1))
        extra = Network.from_config({"hidden_layers": [{"units": 4, "dropout": 0.5}]}, 3, 2, rng=random.Random(1))
        self.assertEqual(plain.get_weights(), extra.get_weights())


if __name__ == "__main__":
    unittest.main()
