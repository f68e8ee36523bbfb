"""Tests for normalization.py: LayerNorm and RMSNorm over each time step, against finite
differences, a slow reference written from the formulas, and (when installed) PyTorch."""

import json
import math
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matrix import Matrix  # noqa: E402
from network import LAYER_TYPES, Network  # noqa: E402
from normalization import LayerNorm, RMSNorm  # noqa: E402
from tests.gradcheck import assert_close, check_layer, random_matrix, upstream_gradient  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

LENGTHS = (1, 2, 5)  # time steps per sample


def reference_norm(x, features, weight, bias, eps, centre):
    """Y for rows of T * D values, one step at a time, straight from the definition:
    centre=True is LayerNorm, centre=False RMSNorm (then bias is None)."""
    out = []
    for row in x:
        out_row = []
        for start in range(0, len(row), features):
            step = row[start:start + features]
            mean = math.fsum(step) / features if centre else 0.0
            spread = math.fsum((v - mean) ** 2 for v in step) / features
            for j, v in enumerate(step):
                y = (v - mean) / math.sqrt(spread + eps)
                y = y * (weight[j] if weight is not None else 1.0) + (bias[j] if bias is not None else 0.0)
                out_row.append(y)
        out.append(out_row)
    return out


def reference_input_grad(x, grad, features, weight, eps, centre):
    """dX = J.T @ dY step by step, with the Jacobian of one step written out entry by entry:
        LayerNorm  dy_i/dx_j = w_i * s * (delta_ij - 1/D - x_hat_i x_hat_j / D)
        RMSNorm    dy_i/dx_j = w_i * s * (delta_ij - x_hat_i x_hat_j / D)"""
    out = []
    for row, grad_row in zip(x, grad):
        out_row = []
        for start in range(0, len(row), features):
            step, g = row[start:start + features], grad_row[start:start + features]
            mean = math.fsum(step) / features if centre else 0.0
            s = 1.0 / math.sqrt(math.fsum((v - mean) ** 2 for v in step) / features + eps)
            x_hat = [(v - mean) * s for v in step]
            for j in range(features):
                total = 0.0
                for i in range(features):
                    w = weight[i] if weight is not None else 1.0
                    jacobian = w * s * ((i == j) - (1.0 / features if centre else 0.0) - x_hat[i] * x_hat[j] / features)
                    total += g[i] * jacobian
                out_row.append(total)
        out.append(out_row)
    return out


def randomized(layer, rng):
    """The layer with random weight and bias, so that a mix-up of the two would show."""
    for param in layer.parameters():
        param.value = random_matrix(rng, *param.value.shape)
    return layer


def all_kinds(features=4):
    return [LayerNorm(features), LayerNorm(features, bias=False), LayerNorm(features, elementwise_affine=False),
            RMSNorm(features), RMSNorm(features, elementwise_affine=False)]


def weight_and_bias(layer):
    weight = layer.weight.value.rows[0] if layer.weight is not None else None
    bias = layer.bias.value.rows[0] if layer.bias is not None else None
    return weight, bias


class GradientTest(unittest.TestCase):
    def test_every_kind_matches_finite_differences(self):
        rng = random.Random(12)
        for steps in LENGTHS:
            for n_samples in (1, 3):
                for layer in all_kinds(4):
                    with self.subTest(layer=repr(layer), steps=steps, n=n_samples):
                        x = random_matrix(rng, n_samples, 4 * steps)
                        error = check_layer(randomized(layer, rng), x, rng, what=repr(layer))
                        self.assertLess(error, 1e-6)

    def test_one_feature_per_step(self):
        # D = 1: LayerNorm's centred value is 0, so y = bias; RMSNorm gives sign(x) * |x| / sqrt(x^2 + eps)
        rng = random.Random(3)
        layer = randomized(LayerNorm(1), rng)
        y = layer.forward(Matrix([[2.0, -3.0]]))
        self.assertEqual(y.rows, [[layer.bias.value.rows[0][0]] * 2])
        check_layer(randomized(RMSNorm(1), rng), random_matrix(rng, 2, 3, away_from_zero=0.5), rng)


class ReferenceTest(unittest.TestCase):
    def test_forward_and_backward_equal_the_slow_reference(self):
        rng = random.Random(5)
        for steps in LENGTHS:
            for layer in all_kinds(3):
                with self.subTest(layer=repr(layer), steps=steps):
                    randomized(layer, rng)
                    centre = isinstance(layer, LayerNorm)
                    weight, bias = weight_and_bias(layer)
                    x = random_matrix(rng, 2, 3 * steps)
                    y = layer.forward(x, training=True)
                    assert_close(y, reference_norm(x.rows, 3, weight, bias, layer.eps, centre), "forward",
                                 tolerance=1e-12)
                    grad = upstream_gradient(rng, *y.shape)
                    grad_input = layer.backward(grad)
                    assert_close(grad_input, reference_input_grad(x.rows, grad.rows, 3, weight, layer.eps, centre),
                                 "dX", tolerance=1e-11)
                    if layer.weight is not None:
                        unweighted = reference_norm(x.rows, 3, None, None, layer.eps, centre)
                        expected = [[math.fsum(g[t * 3 + j] * u[t * 3 + j] for g, u in zip(grad.rows, unweighted)
                                               for t in range(steps)) for j in range(3)]]
                        assert_close(layer.weight.grad, expected, "dweight", tolerance=1e-12)
                    if layer.bias is not None:
                        expected = [[math.fsum(g[t * 3 + j] for g in grad.rows for t in range(steps))
                                     for j in range(3)]]
                        assert_close(layer.bias.grad, expected, "dbias", tolerance=1e-12)

    def test_by_hand(self):
        # x = [1, 3]: mean 2, variance 1, x_hat = [-1, 1] (eps = 0 would give exactly that)
        layer = LayerNorm(2, eps=1e-300)
        self.assertEqual(layer.forward(Matrix([[1.0, 3.0, 5.0, 5.0]])).rows, [[-1.0, 1.0, 0.0, 0.0]])
        # x = [3, 4]: mean square 12.5, so y = [3, 4] / sqrt(12.5)
        y = RMSNorm(2, eps=1e-300).forward(Matrix([[3.0, 4.0]])).rows[0]
        self.assertAlmostEqual(y[0], 3.0 / math.sqrt(12.5), places=15)
        self.assertAlmostEqual(y[1], 4.0 / math.sqrt(12.5), places=15)

    def test_the_worked_example_of_docs_attention_md(self):
        layer = RMSNorm(2, elementwise_affine=False, eps=1e-300)
        assert_close(layer.forward(Matrix([[3.0, 4.0]])), [[0.84853, 1.13137]], "y", tolerance=1e-5)
        assert_close(layer.backward(Matrix([[1.0, 0.0]])), [[0.18102, -0.13576]], "dx", tolerance=5e-5)

    def test_steps_are_normalized_independently(self):
        layer = LayerNorm(3)
        x = Matrix([[1.0, 2.0, 4.0, 10.0, -7.0, 3.0]])
        changed = Matrix([[1.0, 2.0, 4.0, 100.0, 7.0, -30.0]])
        self.assertEqual(layer.forward(x).rows[0][:3], layer.forward(changed).rows[0][:3])
        self.assertEqual(layer.forward(x, training=True).rows, layer.forward(x, training=False).rows)


@unittest.skipIf(torch is None, "PyTorch is not installed")
class TorchTest(unittest.TestCase):
    def test_equal_to_torch_in_float64(self):
        rng = random.Random(7)
        n, features = 3, 5
        for steps in LENGTHS:
            for layer in all_kinds(features):
                with self.subTest(layer=repr(layer), steps=steps):
                    randomized(layer, rng)
                    affine = layer.weight is not None
                    if isinstance(layer, LayerNorm):
                        module = torch.nn.LayerNorm(features, eps=layer.eps, elementwise_affine=affine,
                                                    bias=layer.bias is not None, dtype=torch.float64)
                    else:
                        module = torch.nn.RMSNorm(features, eps=layer.eps, elementwise_affine=affine,
                                                  dtype=torch.float64)
                    with torch.no_grad():
                        if affine:
                            module.weight.copy_(torch.tensor(layer.weight.value.rows[0], dtype=torch.float64))
                        if layer.bias is not None:
                            module.bias.copy_(torch.tensor(layer.bias.value.rows[0], dtype=torch.float64))
                    x = random_matrix(rng, n, features * steps)
                    grad = upstream_gradient(rng, n, features * steps)
                    x_torch = torch.tensor(x.rows, dtype=torch.float64).reshape(n, steps, features).requires_grad_()
                    y_torch = module(x_torch)
                    y_torch.backward(torch.tensor(grad.rows, dtype=torch.float64).reshape(n, steps, features))
                    y = layer.forward(x)
                    grad_input = layer.backward(grad)
                    assert_close(y, y_torch.detach().reshape(n, -1).tolist(), "Y", tolerance=1e-12)
                    assert_close(grad_input, x_torch.grad.reshape(n, -1).tolist(), "dX", tolerance=1e-12,
                                 tiny=1e-3)
                    if affine:
                        assert_close(layer.weight.grad, [module.weight.grad.tolist()], "dweight", tolerance=1e-12)
                    if layer.bias is not None:
                        assert_close(layer.bias.grad, [module.bias.grad.tolist()], "dbias", tolerance=1e-12)


class SavingTest(unittest.TestCase):
    def test_registered_saved_loaded_and_summarized(self):
        rng = random.Random(2)
        layers = [randomized(layer, rng) for layer in all_kinds(4)]
        network = Network(layers)
        for layer in layers:
            self.assertIs(LAYER_TYPES[type(layer).__name__], type(layer))
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "norms.json")
            network.save(path)
            loaded = Network.load(path)
            with open(path) as file:
                self.assertEqual(json.load(file)["layers"][0]["type"], "LayerNorm")
        x = random_matrix(rng, 2, 8)
        self.assertEqual(loaded.forward(x).rows, network.forward(x).rows)
        self.assertEqual([repr(layer) for layer in loaded.layers], [repr(layer) for layer in layers])
        summary = Network([LayerNorm(4, elementwise_affine=False)] + layers).summary(8)
        self.assertIn("LayerNorm(4, no bias)", summary)
        self.assertIn("RMSNorm(4, no weight)", summary)
        self.assertIn("Total parameters: 16", summary)  # weight and bias 8, weight 4, -, weight 4, -


class ErrorTest(unittest.TestCase):
    def test_a_row_that_is_not_whole_steps_names_the_sizes(self):
        with self.assertRaisesRegex(ValueError, r"LayerNorm\(4\) takes rows of T steps of 4 values, got rows of 6"):
            LayerNorm(4).forward(Matrix.zeros(1, 6))
        with self.assertRaisesRegex(ValueError, r"RMSNorm\(4\) normalizes steps of 4 values, but its input has"):
            Network([RMSNorm(4)]).layers[0].build((6,))

    def test_bad_options(self):
        for make in (lambda: LayerNorm(0), lambda: RMSNorm(2, eps=0.0), lambda: RMSNorm(2, eps=float("nan")),
                     lambda: LayerNorm(2, elementwise_affine=1), lambda: LayerNorm(2, bias="yes")):
            with self.assertRaises(ValueError):
                make()

    def test_backward_before_forward(self):
        with self.assertRaisesRegex(RuntimeError, "backward called before forward"):
            RMSNorm(2, elementwise_affine=False).backward(Matrix.zeros(1, 2))


if __name__ == "__main__":
    unittest.main()
