"""Tests for layers.py: Dense by hand and by finite differences, the initializers' statistics, Parameter."""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from layers import INITIALIZERS, Dense, Parameter, seed  # noqa: E402
from matrix import Matrix  # noqa: E402
from tests.gradcheck import check_layer, random_matrix  # noqa: E402


def dense_with(weight, bias=None):
    """A Dense layer holding the given weight rows (in, out) and bias row."""
    layer = Dense(len(weight), len(weight[0]), init="zeros", bias=bias is not None)
    layer.weight.value = Matrix(weight)
    if bias is not None:
        layer.bias.value = Matrix([bias])
    return layer


class DenseForwardTest(unittest.TestCase):
    def test_forward_by_hand(self):
        layer = dense_with([[1.0, 0.0, 2.0], [-1.0, 3.0, 0.5]], bias=[0.5, -0.5, 0.0])
        # X @ W + b for X = [[2, 1], [0, -2]]:
        #   [2*1 + 1*(-1) + 0.5, 2*0 + 1*3 - 0.5, 2*2 + 1*0.5 + 0] = [1.5, 2.5, 4.5]
        #   [0 + 2 + 0.5, 0 - 6 - 0.5, 0 - 1 + 0] = [2.5, -6.5, -1.0]
        y = layer.forward(Matrix([[2.0, 1.0], [0.0, -2.0]]))
        self.assertEqual(y.rows, [[1.5, 2.5, 4.5], [2.5, -6.5, -1.0]])

    def test_forward_without_bias(self):
        layer = dense_with([[2.0], [3.0]])
        self.assertEqual(layer.forward(Matrix([[1.0, 1.0]])).rows, [[5.0]])
        self.assertIsNone(layer.bias)
        self.assertEqual(len(layer.parameters()), 1)

    def test_backward_by_hand(self):
        layer = dense_with([[1.0, 2.0], [3.0, 4.0]], bias=[0.0, 0.0])
        x = Matrix([[1.0, 0.0], [2.0, -1.0]])
        layer.forward(x)
        grad = Matrix([[1.0, -1.0], [0.5, 2.0]])
        grad_input = layer.backward(grad)
        # dW = X.T @ dY = [[1*1 + 2*0.5, 1*(-1) + 2*2], [0*1 + (-1)*0.5, 0*(-1) + (-1)*2]]
        self.assertEqual(layer.weight.grad.rows, [[2.0, 3.0], [-0.5, -2.0]])
        # db = column sums of dY
        self.assertEqual(layer.bias.grad.rows, [[1.5, 1.0]])
        # dX = dY @ W.T = [[1 - 2, 3 - 4], [0.5 + 4, 1.5 + 8]]
        self.assertEqual(grad_input.rows, [[-1.0, -1.0], [4.5, 9.5]])

    def test_backward_does_not_change_the_weights(self):
        layer = Dense(3, 2, rng=random.Random(1))
        before = layer.weight.value.tolist()
        layer.forward(Matrix([[1.0, 2.0, 3.0]]))
        layer.backward(Matrix([[1.0, 1.0]]))
        self.assertEqual(layer.weight.value.tolist(), before)

    def test_wrong_input_width_names_the_shapes(self):
        with self.assertRaises(ValueError) as caught:
            Dense(4, 16).forward(Matrix.zeros(32, 3))
        self.assertEqual(str(caught.exception),
                         "Dense(4 -> 16) expects inputs with 4 columns, got shape (32, 3)")

    def test_backward_before_forward_is_an_error_naming_the_layer(self):
        with self.assertRaisesRegex(RuntimeError, r"^Dense\(2 -> 2\): backward called before forward$"):
            Dense(2, 2).backward(Matrix.zeros(1, 2))

    def test_bad_sizes_are_rejected(self):
        for sizes in ((0, 3), (3, 0), (2.0, 3), (True, 3), ("4", 3)):
            with self.subTest(sizes=sizes):
                with self.assertRaisesRegex(ValueError, "must be a positive integer"):
                    Dense(*sizes)

    def test_unknown_init_lists_the_valid_ones(self):
        with self.assertRaises(ValueError) as caught:
            Dense(2, 2, init="glorot")
        self.assertEqual(str(caught.exception), "unknown init 'glorot'; valid: he, lecun, xavier, zeros")

    def test_config_round_trips_through_the_constructor(self):
        layer = Dense(3, 5, init="xavier", bias=False)
        config = layer.get_config()
        self.assertEqual(config, {"in_features": 3, "out_features": 5, "init": "xavier", "bias": False})
        rebuilt = Dense(**config)
        self.assertEqual((rebuilt.in_features, rebuilt.out_features, rebuilt.bias), (3, 5, None))

    def test_repr_shows_the_sizes(self):
        self.assertEqual(repr(Dense(4, 16)), "Dense(4 -> 16)")


class DenseGradientTest(unittest.TestCase):
    """dX, dW and db against central differences of L = sum(Y * G), random shapes and upstream G.

    Y is linear in each of X, W and b, so central differences have no
    truncation error: a large step h = 1e-3 only shrinks the rounding noise.
    """

    def test_dense_gradients_on_random_shapes(self):
        rng = random.Random(31)
        for trial in range(6):
            n, n_in, n_out = rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 5)
            layer = Dense(n_in, n_out, init="he", rng=rng)
            layer.bias.value = random_matrix(rng, 1, n_out)  # nonzero, so a bias mix-up shows
            x = random_matrix(rng, n, n_in)
            check_layer(layer, x, rng, h=1e-3, what=f"trial {trial} Dense({n_in} -> {n_out}) on {x.shape}")

    def test_dense_gradients_without_bias(self):
        rng = random.Random(32)
        layer = Dense(4, 3, bias=False, rng=rng)
        check_layer(layer, random_matrix(rng, 5, 4), rng, h=1e-3, what="Dense without bias")

    def test_a_weight_gradient_averaged_twice_fails_the_check(self):
        class WrongDense(Dense):
            def backward(self, grad):
                grad_input = super().backward(grad)
                self.weight.grad = self.weight.grad / len(grad)  # the loss already took the mean
                return grad_input

        rng = random.Random(33)
        with self.assertRaisesRegex(AssertionError, r"dweight\[0\]\[0\]: mine"):
            check_layer(WrongDense(3, 3, rng=rng), random_matrix(rng, 2, 3), rng, h=1e-3)


class InitializerTest(unittest.TestCase):
    """Sample statistics of a large layer against each scheme's formula.

    fan_in 400 and fan_out 100 differ, so a scheme that used the wrong fan
    would miss by a factor of two or more. With 40,000 samples the sample
    standard deviation is within about 0.4% of the true one (one sigma), so
    3% is a loose bound that still catches any wrong formula.
    """

    FAN_IN, FAN_OUT = 400, 100

    def weights(self, init, seed=0):
        layer = Dense(self.FAN_IN, self.FAN_OUT, init=init, rng=random.Random(seed))
        return [w for row in layer.weight.value.rows for w in row]

    def assert_mean_and_std(self, values, expected_std):
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)
        self.assertLess(abs(mean), 4 * expected_std / math.sqrt(n))
        self.assertLess(abs(std / expected_std - 1.0), 0.03, f"std {std} vs expected {expected_std}")

    def test_he_normal_std_is_sqrt_2_over_fan_in(self):
        self.assert_mean_and_std(self.weights("he"), math.sqrt(2.0 / self.FAN_IN))

    def test_lecun_normal_std_is_sqrt_1_over_fan_in(self):
        self.assert_mean_and_std(self.weights("lecun"), math.sqrt(1.0 / self.FAN_IN))

    def test_xavier_uniform_bound_is_sqrt_6_over_fan_in_plus_fan_out(self):
        bound = math.sqrt(6.0 / (self.FAN_IN + self.FAN_OUT))
        values = self.weights("xavier")
        self.assertLessEqual(max(abs(v) for v in values), bound)
        self.assertGreater(max(values), 0.99 * bound)  # the whole interval is used
        self.assertLess(min(values), -0.99 * bound)
        self.assert_mean_and_std(values, bound / math.sqrt(3.0))  # the std of U(-a, a) is a / sqrt(3)

    def test_zeros_init_is_all_zeros(self):
        self.assertEqual(set(self.weights("zeros")), {0.0})

    def test_bias_starts_at_zero(self):
        for init in INITIALIZERS:
            layer = Dense(3, 4, init=init)
            self.assertEqual(layer.bias.value.rows, [[0.0] * 4])

    def test_same_seed_same_weights(self):
        self.assertEqual(self.weights("he", seed=5), self.weights("he", seed=5))
        self.assertNotEqual(self.weights("he", seed=5), self.weights("he", seed=6))
        # rng=None draws from one shared generator: two layers in a row differ, as in PyTorch,
        # and seeding that generator repeats them
        seed(11)
        first, second = Dense(3, 2).weight.value.rows, Dense(3, 2).weight.value.rows
        self.assertNotEqual(first, second)
        seed(11)
        self.assertEqual(Dense(3, 2).weight.value.rows, first)
        self.assertEqual(Dense(3, 2).weight.value.rows, second)

    def test_registry_names(self):
        self.assertEqual(sorted(INITIALIZERS), ["he", "lecun", "xavier", "zeros"])


class ParameterTest(unittest.TestCase):
    def test_gradient_starts_at_zero_with_the_value_shape(self):
        p = Parameter(Matrix([[1.0, 2.0, 3.0]]), "weight")
        self.assertEqual(p.grad.rows, [[0.0, 0.0, 0.0]])
        self.assertEqual(p.shape, (1, 3))
        self.assertEqual(repr(p), "Parameter(weight, shape=(1, 3))")

    def test_zero_grad_clears_the_gradient(self):
        p = Parameter(Matrix([[1.0]]))
        p.grad = Matrix([[5.0]])
        p.zero_grad()
        self.assertEqual(p.grad.rows, [[0.0]])
        self.assertEqual(p.value.rows, [[1.0]])

    def test_dense_names_its_parameters(self):
        self.assertEqual([p.name for p in Dense(2, 3).parameters()], ["weight", "bias"])
        self.assertEqual(Dense(2, 3).parameters()[0].shape, (2, 3))
        self.assertEqual(Dense(2, 3).parameters()[1].shape, (1, 3))


if __name__ == "__main__":
    unittest.main()
