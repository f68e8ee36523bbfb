"""Tests for batchnorm2d.py: per-channel batch normalization, by finite differences (training and
evaluation), statistics worked by hand, PyTorch's BatchNorm2d, save and load."""

import math
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ReLU  # noqa: E402
from batchnorm2d import BatchNorm2D  # noqa: E402
from conv import Conv2D  # noqa: E402
from layers import Dense  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from tests.gradcheck import assert_close, check_layer, numerical_gradient, random_matrix, upstream_gradient  # noqa: E402
from tests.test_conv import assert_rows_close  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def random_batchnorm(rng, C, H, W):
    layer = BatchNorm2D(C, input_shape=(C, H, W))
    layer.weight.value = random_matrix(rng, 1, C, 0.5, 1.5)
    layer.bias.value = random_matrix(rng, 1, C)
    return layer


def check_training_mode(test, layer, x, rng, what):
    """gradcheck.check_layer through forward(x, training=True): the batch statistics depend on x too."""
    y = layer.forward(x, training=True)
    grad_output = upstream_gradient(rng, *y.shape)
    analytic = [("dX", x, layer.backward(grad_output).copy())]
    analytic += [(f"d{p.name}", p.value, p.grad.copy()) for p in layer.parameters()]

    def loss():
        output = layer.forward(x, training=True)
        return math.fsum(a * b for ya, ga in zip(output.rows, grad_output.rows) for a, b in zip(ya, ga))

    for name, value, grad in analytic:
        assert_close(grad, numerical_gradient(loss, value), f"{what} {name}")


def reference(x_rows, C, S, weight, bias, eps=1e-5):
    """Per channel by loops: mean and biased variance over every image and pixel, then scale and shift."""
    out = [list(row) for row in x_rows]
    stats = []
    for c in range(C):
        values = [row[c * S + t] for row in x_rows for t in range(S)]
        mean = sum(values) / len(values)
        variance = sum((v - mean) ** 2 for v in values) / len(values)
        stats.append((mean, variance))
        for row, source in zip(out, x_rows):
            for t in range(S):
                row[c * S + t] = (source[c * S + t] - mean) / math.sqrt(variance + eps) * weight[c] + bias[c]
    return out, stats


class BatchNorm2DTest(unittest.TestCase):
    SHAPES = [(2, 2, 3, 3), (3, 3, 2, 2), (1, 2, 1, 5), (4, 1, 3, 2)]  # n, C, H, W

    def test_training_gradients_match_finite_differences(self):
        rng = random.Random(0)
        for n, C, H, W in self.SHAPES:
            with self.subTest(shape=(n, C, H, W)):
                layer = random_batchnorm(rng, C, H, W)
                check_training_mode(self, layer, random_matrix(rng, n, C * H * W), rng, f"BatchNorm2D {(n, C, H, W)}")

    def test_evaluation_gradients_match_finite_differences(self):
        rng = random.Random(1)
        layer = random_batchnorm(rng, 2, 2, 3)
        layer.running_mean, layer.running_var = random_matrix(rng, 1, 2), random_matrix(rng, 1, 2, 0.5, 2.0)
        check_layer(layer, random_matrix(rng, 3, 12), rng, what="BatchNorm2D (evaluation)")

    def test_statistics_pool_the_batch_and_the_pixels(self):
        rng = random.Random(2)
        layer = random_batchnorm(rng, 2, 2, 2)
        x = random_matrix(rng, 3, 8)
        expected, stats = reference(x.rows, 2, 4, layer.weight.value.rows[0], layer.bias.value.rows[0])
        assert_rows_close(self, layer.forward(x, training=True), expected, "Y")
        # running statistics: 0.9 * (0, 1) + 0.1 * (mean, variance * N / (N - 1)), N = 3 images * 4 pixels
        for c, (mean, variance) in enumerate(stats):
            self.assertAlmostEqual(layer.running_mean.rows[0][c], 0.1 * mean, places=14)
            self.assertAlmostEqual(layer.running_var.rows[0][c], 0.9 + 0.1 * variance * 12 / 11, places=14)

    def test_by_hand(self):
        # one channel, two images of 2 pixels: values 1, 3, 5, 7: mean 4, variance 5
        layer = BatchNorm2D(1, input_shape=(1, 1, 2), eps=1e-5)
        y = layer.forward(Matrix([[1.0, 3.0], [5.0, 7.0]]), training=True)
        scale = 1 / math.sqrt(5 + 1e-5)
        assert_rows_close(self, y, [[-3 * scale, -scale], [scale, 3 * scale]], "Y")
        self.assertAlmostEqual(layer.running_var.rows[0][0], 0.9 + 0.1 * 20 / 3, places=14)  # unbiased: 20 / 3

    def test_needs_two_values_per_channel_in_training_and_the_right_shape(self):
        with self.assertRaisesRegex(ValueError, "at least 2 values per channel"):
            BatchNorm2D(2, input_shape=(2, 1, 1)).forward(Matrix([[1.0, 2.0]]), training=True)
        with self.assertRaisesRegex(ValueError, r"^BatchNorm2D\(3\) normalizes images of shape \(3, H, W\), but its "
                                                r"input has shape \(2, 4, 4\)$"):
            BatchNorm2D(3).output_shape((2, 4, 4))
        with self.assertRaisesRegex(ValueError, r"^layer 1: BatchNorm2D\(3\) normalizes images"):
            Network([Conv2D(1, 2, 3, input_shape=(1, 4, 4)), BatchNorm2D(3)])

    def test_save_and_load_keep_the_running_statistics(self):
        rng = random.Random(3)
        network = Network([Conv2D(1, 2, 3, padding=1, input_shape=(1, 3, 3), rng=rng, bias=False),
                           BatchNorm2D(2), ReLU(), Dense(18, 2, rng=rng)])
        x = random_matrix(rng, 4, 9)
        network.forward(x, training=True)  # moves the running statistics
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            network.save(path)
            loaded = Network.load(path)
        self.assertEqual(loaded.layers[1].running_var, network.layers[1].running_var)
        self.assertEqual(loaded.predict(x), network.predict(x))

    @unittest.skipIf(torch is None, "PyTorch is not installed")
    def test_equals_torch_batchnorm2d_in_float64(self):
        rng = random.Random(4)
        n, C, H, W = 4, 3, 2, 3
        layer = random_batchnorm(rng, C, H, W)
        module = torch.nn.BatchNorm2d(C).double()
        with torch.no_grad():
            module.weight.copy_(torch.tensor(layer.weight.value.rows[0], dtype=torch.float64))
            module.bias.copy_(torch.tensor(layer.bias.value.rows[0], dtype=torch.float64))
        for step, training in enumerate((True, True, False)):
            with self.subTest(step=step, training=training):
                module.train(training)
                module.zero_grad()
                x = random_matrix(rng, n, C * H * W, -3.0, 5.0)
                tx = torch.tensor(x.rows, dtype=torch.float64).reshape(n, C, H, W).requires_grad_()
                ty = module(tx)
                y = layer.forward(x, training=training)
                assert_rows_close(self, y, ty.reshape(n, -1).tolist(), "Y")
                grad = upstream_gradient(rng, *y.shape)
                ty.backward(torch.tensor(grad.rows, dtype=torch.float64).reshape(ty.shape))
                assert_rows_close(self, layer.backward(grad), tx.grad.reshape(n, -1).tolist(), "dX")
                assert_rows_close(self, layer.weight.grad, [module.weight.grad.tolist()], "dweight")
                assert_rows_close(self, layer.bias.grad, [module.bias.grad.tolist()], "dbias")
                assert_rows_close(self, layer.running_mean, [module.running_mean.tolist()], "running_mean")
                assert_rows_close(self, layer.running_var, [module.running_var.tolist()], "running_var")


if __name__ == "__main__":
    unittest.main()
