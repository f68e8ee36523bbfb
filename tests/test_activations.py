"""Tests for activations.py: values by hand, gradients by finite differences, stability at +-1000."""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import (ACTIVATIONS, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh,  # noqa: E402
                         get_activation, sigmoid, softmax_rows)
from matrix import Matrix  # noqa: E402
from tests.gradcheck import check_layer, random_matrix, trial_shapes  # noqa: E402


class ForwardValuesTest(unittest.TestCase):
    def test_sigmoid_by_hand(self):
        # 1 / (1 + e^-2) and 1 / (1 + e^2), written out
        self.assertEqual(sigmoid(0.0), 0.5)
        self.assertAlmostEqual(sigmoid(2.0), 0.8807970779778823, places=15)
        self.assertAlmostEqual(sigmoid(-2.0), 0.11920292202211755, places=15)
        out = Sigmoid().forward(Matrix([[0.0, 2.0]]))
        self.assertTrue(out.allclose([[0.5, 0.8807970779778823]], rtol=1e-15))

    def test_relu_zeroes_negatives(self):
        out = ReLU().forward(Matrix([[-2.0, 0.0, 3.5]]))
        self.assertEqual(out.rows, [[0.0, 0.0, 3.5]])

    def test_leaky_relu_scales_negatives_by_alpha(self):
        out = LeakyReLU(alpha=0.1).forward(Matrix([[-2.0, 0.0, 3.5]]))
        self.assertEqual(out.rows, [[-0.2, 0.0, 3.5]])
        self.assertEqual(LeakyReLU().forward(Matrix([[-100.0]])).rows, [[-1.0]])  # default alpha 0.01

    def test_tanh_by_hand(self):
        # (e - e^-1) / (e + e^-1)
        expected = (math.e - 1 / math.e) / (math.e + 1 / math.e)
        self.assertAlmostEqual(Tanh().forward(Matrix([[1.0]])).rows[0][0], expected, places=15)

    def test_linear_is_the_identity(self):
        x = Matrix([[-3.0, 4.0]])
        linear = Linear()
        self.assertEqual(linear.forward(x).rows, [[-3.0, 4.0]])
        self.assertEqual(linear.backward(x).rows, [[-3.0, 4.0]])

    def test_softmax_by_hand(self):
        # e^k / (e^1 + e^2 + e^3) for k = 1, 2, 3
        total = math.exp(1) + math.exp(2) + math.exp(3)
        expected = [math.exp(1) / total, math.exp(2) / total, math.exp(3) / total]
        self.assertEqual([round(v, 14) for v in expected],
                         [0.09003057317038, 0.24472847105480, 0.66524095577482])
        out = Softmax().forward(Matrix([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
        self.assertTrue(out.allclose([expected, [1 / 3] * 3], rtol=1e-14))

    def test_softmax_rows_sum_to_one(self):
        out = softmax_rows(random_matrix(random.Random(5), 6, 4, -30.0, 30.0))
        for row in out.rows:
            self.assertAlmostEqual(sum(row), 1.0, places=14)


class StabilityTest(unittest.TestCase):
    def test_sigmoid_is_finite_at_plus_and_minus_1000(self):
        self.assertEqual(sigmoid(1000.0), 1.0)
        self.assertEqual(sigmoid(-1000.0), 0.0)
        out = Sigmoid().forward(Matrix([[-1000.0, 1000.0]]))
        self.assertEqual(out.rows, [[0.0, 1.0]])

    def test_sigmoid_backward_is_finite_at_plus_and_minus_1000(self):
        layer = Sigmoid()
        layer.forward(Matrix([[-1000.0, 1000.0]]))
        self.assertEqual(layer.backward(Matrix([[1.0, 1.0]])).rows, [[0.0, 0.0]])

    def test_softmax_of_equal_huge_logits_is_uniform(self):
        self.assertEqual(Softmax().forward(Matrix([[1000.0, 1000.0]])).rows, [[0.5, 0.5]])

    def test_softmax_is_stable_for_large_logits(self):
        out = Softmax().forward(Matrix([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -999.0]]))
        self.assertEqual(out.rows[0], [1.0, 0.0, 0.0])
        e = math.exp(1.0)  # the second row is softmax([0, 0, 1]) shifted by -1000
        self.assertTrue(Matrix([out.rows[1]]).allclose([[1 / (2 + e), 1 / (2 + e), e / (2 + e)]], rtol=1e-14))

    def test_tanh_is_finite_at_plus_and_minus_1000(self):
        self.assertEqual(Tanh().forward(Matrix([[-1000.0, 1000.0]])).rows, [[-1.0, 1.0]])


class GradientTest(unittest.TestCase):
    """backward() against central differences, random shapes, several trials each.

    The step h is chosen per function where the central difference is most
    accurate (measured over 200 random trials, the worst relative error is
    about 100 times below the 1e-6 bound): 1e-5 for the entrywise functions;
    1e-4 for softmax, whose outputs feed every input of a row, so that
    rounding noise, of order eps / h, dominates at smaller h.
    """

    def check(self, make_layer, seed, h, away_from_zero=0.0, low=-3.0, high=3.0):
        rng = random.Random(seed)
        for n_rows, n_cols in trial_shapes(seed):
            x = random_matrix(rng, n_rows, n_cols, low, high, away_from_zero)
            check_layer(make_layer(), x, rng, h=h, what=f"{make_layer.__name__} on {x.shape}")

    def test_sigmoid_gradient(self):
        self.check(Sigmoid, seed=1, h=1e-5)

    def test_relu_gradient_away_from_the_kink(self):
        # with h = 1e-6, inputs at least 0.1 from 0 never cross the kink
        self.check(ReLU, seed=2, h=1e-5, away_from_zero=0.1)

    def test_relu_gradient_is_zero_at_zero(self):
        layer = ReLU()
        layer.forward(Matrix([[0.0, 1.0, -1.0]]))
        self.assertEqual(layer.backward(Matrix([[5.0, 5.0, 5.0]])).rows, [[0.0, 5.0, 0.0]])

    def test_leaky_relu_gradient(self):
        def leaky_relu():
            return LeakyReLU(alpha=0.2)
        self.check(leaky_relu, seed=3, h=1e-5, away_from_zero=0.1)
        self.check(LeakyReLU, seed=4, h=1e-5, away_from_zero=0.1)

    def test_tanh_gradient(self):
        self.check(Tanh, seed=5, h=1e-5)

    def test_linear_gradient(self):
        self.check(Linear, seed=6, h=1e-5)

    def test_softmax_jacobian_vector_product(self):
        self.check(Softmax, seed=7, h=1e-4)

    def test_softmax_jacobian_vector_product_with_wide_logits(self):
        self.check(Softmax, seed=8, h=1e-4, low=-10.0, high=10.0)


class GradientCheckCatchesMistakesTest(unittest.TestCase):
    """The check itself must fail on a wrong backward, or passing it would prove nothing."""

    def test_a_sigmoid_missing_a_factor_fails(self):
        class WrongSigmoid(Sigmoid):
            def backward(self, grad):
                return grad * self.output  # forgot (1 - Y)

        rng = random.Random(0)
        with self.assertRaisesRegex(AssertionError, r"dX\[0\]\[0\]: mine .* vs expected"):
            check_layer(WrongSigmoid(), random_matrix(rng, 2, 3), rng)

    def test_an_elementwise_softmax_derivative_fails(self):
        class ElementwiseSoftmax(Softmax):
            def backward(self, grad):
                return grad * self.output * (1.0 - self.output)  # ignores the off-diagonal terms

        rng = random.Random(0)
        with self.assertRaisesRegex(AssertionError, "relative error"):
            check_layer(ElementwiseSoftmax(), random_matrix(rng, 2, 3), rng)


class RegistryTest(unittest.TestCase):
    def test_every_name_builds_its_class(self):
        expected = {"sigmoid": Sigmoid, "relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh,
                    "linear": Linear, "pass": Linear, "softmax": Softmax}
        self.assertEqual(ACTIVATIONS, expected)
        for name, cls in expected.items():
            self.assertIsInstance(get_activation(name), cls)

    def test_class_names_match_their_config_names(self):
        for name, cls in ACTIVATIONS.items():
            if name != "pass":
                self.assertEqual(cls.name, name)

    def test_unknown_name_lists_the_valid_ones(self):
        with self.assertRaises(ValueError) as caught:
            get_activation("relu6")
        self.assertEqual(str(caught.exception),
                         "unknown activation 'relu6'; valid: leaky_relu, linear, pass, relu, sigmoid, softmax, tanh")

    def test_options_reach_the_constructor(self):
        self.assertEqual(get_activation("leaky_relu", alpha=0.3).alpha, 0.3)
        self.assertEqual(get_activation("leaky_relu", alpha=0.3).get_config(), {"alpha": 0.3})

    def test_leaky_relu_rejects_a_bad_alpha(self):
        for alpha in (-0.1, 1.0, "0.1", True, float("nan")):
            with self.subTest(alpha=alpha):
                with self.assertRaisesRegex(ValueError, r"alpha must be a number in \[0, 1\)"):
                    LeakyReLU(alpha)

    def test_activations_have_no_parameters(self):
        for cls in set(ACTIVATIONS.values()):
            self.assertEqual(cls().parameters(), [])


if __name__ == "__main__":
    unittest.main()
