"""Tests for conv.py and im2col.py: Conv2D and Conv1D against finite differences, against a slow
nested-loop convolution written here, and against PyTorch when it is installed.
"""

import json
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ReLU, Softmax  # noqa: E402
import matrix  # noqa: E402
from conv import Conv1D, Conv2D  # noqa: E402
from im2col import Geometry, col2im, columns_to_image, im2col, image_columns  # noqa: E402
from layers import Dense  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import ModelFileError, Network  # noqa: E402
from batchnorm2d import BatchNorm2D  # noqa: E402
from pooling import GlobalAvgPool2D, MaxPool2D  # noqa: E402
from tests.gradcheck import check_layer, random_matrix, upstream_gradient  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

TIGHT = 1e-12


def assert_rows_close(test, mine, expected, what, tolerance=TIGHT):
    """Every entry within tolerance * max(1, |expected|) (sums taken in another order differ by ulps)."""
    mine = mine.rows if isinstance(mine, Matrix) else mine
    expected = expected.rows if isinstance(expected, Matrix) else expected
    test.assertEqual((len(mine), len(mine[0])), (len(expected), len(expected[0])), what)
    for i, (row_a, row_b) in enumerate(zip(mine, expected)):
        test.assertEqual(len(row_a), len(row_b), what)
        for j, (a, b) in enumerate(zip(row_a, row_b)):
            if not abs(a - b) <= tolerance * max(1.0, abs(b)):
                test.fail(f"{what}[{i}][{j}]: {a!r} vs {b!r}")


# ------------------------------------------------------------ the slow, obvious reference
def reference_conv2d(x_rows, weight, bias, C, H, W, O, kernel, stride, padding):
    """Six nested loops, straight from the definition; weight[c*kH*kW + i*kW + j][o]."""
    (kH, kW), (sH, sW), (pH, pW) = kernel, stride, padding
    H_out, W_out = (H + 2 * pH - kH) // sH + 1, (W + 2 * pW - kW) // sW + 1
    out = []
    for x in x_rows:
        y = []
        for o in range(O):
            for p in range(H_out):
                for q in range(W_out):
                    total = bias[o] if bias is not None else 0.0
                    for c in range(C):
                        for i in range(kH):
                            for j in range(kW):
                                r, s = p * sH + i - pH, q * sW + j - pW
                                if 0 <= r < H and 0 <= s < W:
                                    total += weight[c * kH * kW + i * kW + j][o] * x[(c * H + r) * W + s]
                    y.append(total)
        out.append(y)
    return out


def reference_conv2d_backward(x_rows, grad_rows, weight, C, H, W, O, kernel, stride, padding):
    """dX, dW, db by the same loops: each term w * x of the forward sends dY * x to w and dY * w to x."""
    (kH, kW), (sH, sW), (pH, pW) = kernel, stride, padding
    H_out, W_out = (H + 2 * pH - kH) // sH + 1, (W + 2 * pW - kW) // sW + 1
    d_weight = [[0.0] * O for _ in range(C * kH * kW)]
    d_bias = [0.0] * O
    d_x = []
    for x, g in zip(x_rows, grad_rows):
        dx = [0.0] * (C * H * W)
        for o in range(O):
            for p in range(H_out):
                for q in range(W_out):
                    dy = g[(o * H_out + p) * W_out + q]
                    d_bias[o] += dy
                    for c in range(C):
                        for i in range(kH):
                            for j in range(kW):
                                r, s = p * sH + i - pH, q * sW + j - pW
                                if 0 <= r < H and 0 <= s < W:
                                    k = c * kH * kW + i * kW + j
                                    d_weight[k][o] += dy * x[(c * H + r) * W + s]
                                    dx[(c * H + r) * W + s] += dy * weight[k][o]
        d_x.append(dx)
    return d_x, d_weight, [d_bias]


# (C, H, W, O, kernel, stride, padding): stride 1 and 2, padding 0 and 1, odd and even sizes
CASES = [
    (1, 4, 4, 2, 3, 1, 0),
    (2, 5, 5, 3, 3, 1, 1),
    (3, 6, 5, 2, 3, 2, 1),
    (2, 7, 6, 4, 2, 2, 0),
    (2, 6, 7, 3, (3, 2), (2, 1), (1, 0)),
    (3, 4, 4, 2, 1, 1, 0),
    (2, 4, 4, 3, 1, 1, 1),  # padding > kernel - 1: dX by col2im even at stride 1
]


def pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


def random_conv(rng, C, O, kernel, stride, padding, H, W):
    layer = Conv2D(C, O, kernel, stride, padding, input_shape=(C, H, W), rng=rng)
    layer.bias.value = random_matrix(rng, 1, O)  # zeros would hide a bias added to the wrong channel
    return layer


class Im2colTest(unittest.TestCase):
    def test_the_4x4_example_of_docs_convolution_md(self):
        # the image 1..16, a 3x3 kernel, stride 1, padding 0: four patches, read off by hand
        geometry = Geometry(1, 4, 4, 3, 3, 1, 1, 0, 0)
        patches = im2col([[float(v) for v in range(1, 17)]], geometry)
        self.assertEqual([list(p) for p in patches], [
            [1, 2, 3, 5, 6, 7, 9, 10, 11], [2, 3, 4, 6, 7, 8, 10, 11, 12],
            [5, 6, 7, 9, 10, 11, 13, 14, 15], [6, 7, 8, 10, 11, 12, 14, 15, 16]])

    def test_padding_and_stride(self):
        # 2x2 image [[1, 2], [3, 4]], 2x2 kernel, stride 2, padding 1: four windows, each one pixel
        geometry = Geometry(1, 2, 2, 2, 2, 2, 2, 1, 1)
        patches = im2col([[1.0, 2.0, 3.0, 4.0]], geometry)
        self.assertEqual([list(p) for p in patches], [[0, 0, 0, 1], [0, 0, 2, 0], [0, 3, 0, 0], [4, 0, 0, 0]])

    def test_col2im_sums_overlaps(self):
        # all-ones patch gradients on the 4x4 example: each pixel gets the number of windows it lies in
        geometry = Geometry(1, 4, 4, 3, 3, 1, 1, 0, 0)
        image = col2im([[1.0] * 9] * 4, 1, geometry)[0]
        self.assertEqual(image, [1, 2, 2, 1, 2, 4, 4, 2, 2, 4, 4, 2, 1, 2, 2, 1])

    def test_col2im_is_the_adjoint_of_im2col(self):
        rng = random.Random(3)
        for C, H, W, _, kernel, stride, padding in CASES:
            (kH, kW), (sH, sW), (pH, pW) = pair(kernel), pair(stride), pair(padding)
            geometry = Geometry(C, H, W, kH, kW, sH, sW, pH, pW)
            x = [rng.uniform(-1, 1) for _ in range(C * H * W)]
            columns = image_columns(x, geometry)
            g = [[rng.uniform(-1, 1) for _ in column] for column in columns]
            left = sum(a * b for column, g_column in zip(columns, g) for a, b in zip(column, g_column))
            right = sum(a * b for a, b in zip(x, columns_to_image(g, geometry)))
            self.assertAlmostEqual(left, right, places=12)


class Conv2DTest(unittest.TestCase):
    def test_gradients_match_finite_differences(self):
        rng = random.Random(0)
        for C, H, W, O, kernel, stride, padding in CASES:
            with self.subTest(case=(C, H, W, O, kernel, stride, padding)):
                layer = random_conv(rng, C, O, kernel, stride, padding, H, W)
                check_layer(layer, random_matrix(rng, 2, C * H * W), rng, what=repr(layer))

    def test_forward_and_backward_equal_the_nested_loops(self):
        self.check_against_the_nested_loops(1, sparse=False)

    def sparse_gradient(self, rng, n_rows, O, positions):
        """A dY as training sees it after a max pool and a ReLU: mostly exact zeros, here with one
        channel all zeros and one with a single nonzero value (the kernels' special cases)."""
        rows = [[rng.uniform(-1.5, 1.5) if rng.random() < 0.2 else 0.0 for _ in range(O * positions)]
                for _ in range(n_rows)]
        rows[0][:positions] = [0.0] * positions
        if O > 1:
            rows[0][positions:2 * positions] = [0.0] * positions
            rows[0][positions + positions // 2] = 0.75
        return Matrix(rows)

    def check_against_the_nested_loops(self, seed, sparse, zero_inputs=False):
        rng = random.Random(seed)
        for C, H, W, O, kernel, stride, padding in CASES:
            with self.subTest(case=(C, H, W, O, kernel, stride, padding), sparse=sparse, kernels=matrix.KERNEL):
                layer = random_conv(rng, C, O, kernel, stride, padding, H, W)
                x = random_matrix(rng, 3, C * H * W)
                if zero_inputs:  # ReLU outputs: about 70% exact zeros
                    x = Matrix([[v if rng.random() < 0.3 else 0.0 for v in row] for row in x.rows])
                args = (C, H, W, O, pair(kernel), pair(stride), pair(padding))
                y = layer.forward(x)
                assert_rows_close(self, y, reference_conv2d(x.rows, layer.weight.value.rows,
                                                            layer.bias.value.rows[0], *args), "Y")
                positions = y.shape[1] // O
                grad = self.sparse_gradient(rng, 3, O, positions) if sparse else upstream_gradient(rng, *y.shape)
                dx = layer.backward(grad)
                d_x, d_weight, d_bias = reference_conv2d_backward(x.rows, grad.rows, layer.weight.value.rows, *args)
                assert_rows_close(self, dx, d_x, "dX")
                assert_rows_close(self, layer.weight.grad, d_weight, "dW")
                assert_rows_close(self, layer.bias.grad, d_bias, "db")

    def test_a_mostly_zero_gradient_equals_the_nested_loops(self):
        # conv_kernels.weight_gradient leaves out the positions where dY is zero
        self.check_against_the_nested_loops(5, sparse=True)

    def test_a_dense_gradient_over_mostly_zero_inputs_equals_the_nested_loops(self):
        # with dY dense, weight_gradient picks the nonzero entries of the columns instead
        self.check_against_the_nested_loops(8, sparse=False, zero_inputs=True)

    def test_the_other_kernel_set_equals_the_nested_loops(self):
        # the loops PyPy runs ("loops") on CPython, and CPython's ("builtins") on PyPy
        other = "builtins" if matrix.KERNEL == "loops" else "loops"
        previous = matrix.use_kernels(other)
        self.addCleanup(matrix.use_kernels, previous)
        self.check_against_the_nested_loops(6, sparse=False)
        self.check_against_the_nested_loops(7, sparse=True)
        self.check_against_the_nested_loops(9, sparse=False, zero_inputs=True)

    def test_output_sizes_round_down(self):
        # (7 + 2 - 3) // 2 + 1 = 4, (6 + 2 - 3) // 2 + 1 = 3 (PyTorch's floor)
        self.assertEqual(Conv2D(2, 5, 3, stride=2, padding=1).output_shape((2, 7, 6)), (5, 4, 3))
        self.assertEqual(Conv2D(1, 1, (2, 4), stride=(1, 3)).output_shape((1, 2, 9)), (1, 1, 2))

    def test_without_bias_and_without_input_gradient(self):
        rng = random.Random(2)
        layer = Conv2D(2, 3, 3, padding=1, input_shape=(2, 4, 4), bias=False, rng=rng)
        self.assertEqual([p.name for p in layer.parameters()], ["weight"])
        x = random_matrix(rng, 2, 32)
        grad = upstream_gradient(rng, *layer.forward(x).shape)
        full = layer.backward(grad)
        expected = layer.weight.grad.copy()
        self.assertIsNone(layer.backward(grad, input_grad=False))
        self.assertEqual(layer.weight.grad, expected)
        self.assertEqual(full.shape, (2, 32))
        check_layer(layer, x, rng, what="Conv2D without bias")

    def test_he_initialization_uses_the_patch_size_as_fan_in(self):
        layer = Conv2D(8, 64, 3, rng=random.Random(0))
        values = [v for row in layer.weight.value.rows for v in row]
        std = (sum(v * v for v in values) / len(values)) ** 0.5
        self.assertAlmostEqual(std, (2.0 / 72) ** 0.5, delta=0.01)  # fan_in = 8 * 3 * 3
        self.assertEqual(layer.weight.shape, (72, 64))
        self.assertEqual(layer.bias.shape, (1, 64))

    def test_shape_errors_name_the_layer_its_input_and_what_fits(self):
        cases = [
            (Conv2D(1, 4, 5), (1, 3, 3), r"^Conv2D\(1 -> 4, 5x5\): its 5x5 kernel is larger than its input of "
                                         r"shape \(1, 3, 3\) .*at least 5x5 pixels$"),
            (Conv2D(1, 4, 5, padding=1), (1, 2, 8), r"input of shape \(1, 2, 8\) \(padded to 4x10\).*at least 3x3"),
            (Conv2D(3, 4, 3), (1, 28, 28), r"^Conv2D\(3 -> 4, 3x3\) takes images of shape \(3, H, W\), but its "
                                           r"input has shape \(1, 28, 28\)$"),
            (Conv2D(1, 4, 3), (64,), r"takes images of shape \(1, H, W\), but its input has shape \(64,\)"),
        ]
        for layer, shape, pattern in cases:
            with self.subTest(shape=shape):
                with self.assertRaisesRegex(ValueError, pattern) as caught:
                    layer.output_shape(shape)
                self.assertNotIn("\n", str(caught.exception))

    def test_network_reports_the_layer_that_does_not_fit(self):
        with self.assertRaisesRegex(ValueError, r"^layer 2: Conv2D\(4 -> 8, 3x3\): its 3x3 kernel is larger than "
                                                r"its input of shape \(4, 2, 2\)"):
            Network([Conv2D(1, 4, 3, input_shape=(1, 4, 4)), ReLU(), Conv2D(4, 8, 3)])

    def test_bad_arguments_are_refused(self):
        for kwargs, pattern in [({"kernel_size": 0}, "kernel_size must be an integer >= 1"),
                                ({"kernel_size": (3, 3, 3)}, "or a pair"),
                                ({"kernel_size": 3, "stride": 0}, "stride"),
                                ({"kernel_size": 3, "padding": -1}, "padding must be an integer >= 0"),
                                ({"kernel_size": 3, "input_shape": (28, 28)}, r"3 positive integers \(C, H, W\)"),
                                ({"kernel_size": 3, "init": "glorot"}, "unknown init")]:
            with self.subTest(kwargs=kwargs):
                with self.assertRaisesRegex(ValueError, pattern):
                    Conv2D(1, 2, **kwargs)

    def test_forward_needs_the_input_shape_and_the_right_width(self):
        with self.assertRaisesRegex(ValueError, "does not know its input's shape"):
            Conv2D(1, 2, 3).forward(Matrix.zeros(1, 16))
        with self.assertRaisesRegex(ValueError, r"expects rows of 16 values, got shape \(1, 15\)"):
            Conv2D(1, 2, 3, input_shape=(1, 4, 4)).forward(Matrix.zeros(1, 15))
        # the same check (Layer._check_rows) guards BatchNorm2D and the global pools
        for make in (lambda shape: BatchNorm2D(2, input_shape=shape), lambda shape: GlobalAvgPool2D(shape)):
            with self.subTest(layer=make(None)):
                with self.assertRaisesRegex(ValueError, "does not know its input's shape"):
                    make(None).forward(Matrix.zeros(1, 32))
                with self.assertRaisesRegex(ValueError, r"expects rows of 32 values, got shape \(1, 31\)"):
                    make((2, 4, 4)).forward(Matrix.zeros(1, 31))

    def test_summary_shows_channel_shapes_and_parameter_counts(self):
        network = Network([Conv2D(1, 16, 3, padding=1, input_shape=(1, 28, 28)), ReLU(), MaxPool2D(2),
                           Conv2D(16, 32, 3, stride=2, padding=1), ReLU(), Dense(32 * 7 * 7, 10), Softmax()])
        lines = network.summary().splitlines()
        first = next(line for line in lines if line.startswith("Conv2D(1 -> 16"))
        self.assertIn("(None, 16, 28, 28)", first)
        self.assertEqual(first.split()[-1], "160")  # 1*3*3*16 weights + 16 biases, as Keras counts
        second = next(line for line in lines if line.startswith("Conv2D(16 -> 32, 3x3, stride 2, padding 1)"))
        self.assertIn("(None, 32, 7, 7)", second)
        self.assertEqual(second.split()[-1], "4,640")  # 16*9*32 + 32
        self.assertIn("(None, 16, 14, 14)", next(line for line in lines if line.startswith("MaxPool2D")))
        self.assertEqual(lines[-1], "Total parameters: {:,}".format(160 + 4640 + 1568 * 10 + 10))

    def test_save_and_load_round_trip(self):
        rng = random.Random(4)
        network = Network([Conv2D(2, 3, 3, padding=1, input_shape=(2, 5, 5), rng=rng), ReLU(),
                           Conv2D(3, 2, (2, 3), stride=(2, 1), bias=False, init="xavier", rng=rng), ReLU(),
                           Dense(2 * 2 * 3, 2, rng=rng), Softmax()])
        x = random_matrix(rng, 3, 50)
        sequences = Network([Conv1D(2, 3, 3, stride=2, padding=1, input_shape=(2, 7), rng=rng), ReLU(),
                             Conv1D(3, 2, 2, rng=rng)])
        self.assertEqual(sequences.shapes, [(3, 4), (3, 4), (2, 3)])
        sequence = random_matrix(rng, 2, 14)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            network.save(path)
            loaded = Network.load(path)
            sequences.save(path)
            self.assertEqual(Network.load(path).predict(sequence), sequences.predict(sequence))
            network.save(path)
            with open(path) as handle:
                saved = json.load(handle)
            # a damaged file that declares a weight of another shape is refused before any layer is built
            saved["layers"][0]["config"]["in_channels"] = 3
            with self.assertRaisesRegex(ModelFileError, r"layers\[0\]\.parameters\.weight: shape \(18, 3\) does not "
                                                        r"match the layer's \(27, 3\)"):
                Network.from_dict(saved)
        self.assertEqual(loaded.predict(x), network.predict(x))
        self.assertEqual(loaded.summary(), network.summary())
        self.assertEqual(loaded.layers[2].init, "xavier")
        self.assertEqual([repr(layer) for layer in loaded.layers], [repr(layer) for layer in network.layers])

    @unittest.skipIf(torch is None, "PyTorch is not installed")
    def test_equals_torch_conv2d_in_float64(self):
        rng = random.Random(5)
        for C, H, W, O, kernel, stride, padding in CASES:
            with self.subTest(case=(C, H, W, O, kernel, stride, padding)):
                layer = random_conv(rng, C, O, kernel, stride, padding, H, W)
                n, (kH, kW) = 3, layer.kernel_size
                x = random_matrix(rng, n, C * H * W)
                tx = torch.tensor(x.rows, dtype=torch.float64).reshape(n, C, H, W).requires_grad_()
                # the documented layout: row c*kH*kW + i*kW + j, column o is torch's weight[o, c, i, j]
                tw = torch.tensor(layer.weight.value.rows, dtype=torch.float64).T.reshape(O, C, kH, kW)
                tw.requires_grad_()
                tb = torch.tensor(layer.bias.value.rows[0], dtype=torch.float64, requires_grad=True)
                ty = torch.nn.functional.conv2d(tx, tw, tb, stride=layer.stride, padding=layer.padding)
                y = layer.forward(x)
                assert_rows_close(self, y, ty.reshape(n, -1).tolist(), "Y")
                grad = upstream_gradient(rng, *y.shape)
                ty.backward(torch.tensor(grad.rows, dtype=torch.float64).reshape(ty.shape))
                dx = layer.backward(grad)
                assert_rows_close(self, dx, tx.grad.reshape(n, -1).tolist(), "dX")
                assert_rows_close(self, layer.weight.grad, tw.grad.reshape(O, -1).T.tolist(), "dW")
                assert_rows_close(self, layer.bias.grad, [tb.grad.tolist()], "db")


class Conv1DTest(unittest.TestCase):
    CASES_1D = [(2, 7, 3, 3, 1, 0), (3, 8, 2, 3, 2, 1), (1, 5, 4, 2, 2, 0), (2, 6, 2, 1, 1, 0)]  # C, L, O, k, s, p

    def make(self, rng, C, L, O, k, s, p):
        layer = Conv1D(C, O, k, s, p, input_shape=(C, L), rng=rng)
        layer.bias.value = random_matrix(rng, 1, O)
        return layer

    def test_gradients_match_finite_differences(self):
        rng = random.Random(6)
        for case in self.CASES_1D:
            with self.subTest(case=case):
                layer = self.make(rng, *case)
                check_layer(layer, random_matrix(rng, 2, case[0] * case[1]), rng, what=repr(layer))

    def test_equals_the_nested_loops_of_a_one_row_image(self):
        rng = random.Random(7)
        for C, L, O, k, s, p in self.CASES_1D:
            with self.subTest(case=(C, L, O, k, s, p)):
                layer = self.make(rng, C, L, O, k, s, p)
                self.assertEqual(layer.output_shape((C, L)), (O, (L + 2 * p - k) // s + 1))
                x = random_matrix(rng, 2, C * L)
                # weight row c*k + i is row c*1*k + 0*k + i of the 2-D layout of a 1 x k kernel
                args = (C, 1, L, O, (1, k), (1, s), (0, p))
                y = layer.forward(x)
                assert_rows_close(self, y, reference_conv2d(x.rows, layer.weight.value.rows,
                                                            layer.bias.value.rows[0], *args), "Y")
                grad = upstream_gradient(rng, *y.shape)
                dx = layer.backward(grad)
                d_x, d_weight, d_bias = reference_conv2d_backward(x.rows, grad.rows, layer.weight.value.rows, *args)
                assert_rows_close(self, dx, d_x, "dX")
                assert_rows_close(self, layer.weight.grad, d_weight, "dW")

    def test_shape_errors(self):
        with self.assertRaisesRegex(ValueError, r"^Conv1D\(2 -> 3, kernel 5\): its kernel of 5 is longer than its "
                                                r"input of shape \(2, 3\) .*length at least 5$"):
            Conv1D(2, 3, 5).output_shape((2, 3))
        with self.assertRaisesRegex(ValueError, r"takes sequences of shape \(2, L\), but its input has shape "
                                                r"\(2, 3, 3\)"):
            Conv1D(2, 3, 2).output_shape((2, 3, 3))
        with self.assertRaisesRegex(ValueError, "Conv1D kernel_size must be an integer >= 1"):
            Conv1D(2, 3, (1, 2))

    @unittest.skipIf(torch is None, "PyTorch is not installed")
    def test_equals_torch_conv1d_in_float64(self):
        rng = random.Random(8)
        for C, L, O, k, s, p in self.CASES_1D:
            with self.subTest(case=(C, L, O, k, s, p)):
                layer, n = self.make(rng, C, L, O, k, s, p), 2
                x = random_matrix(rng, n, C * L)
                tx = torch.tensor(x.rows, dtype=torch.float64).reshape(n, C, L).requires_grad_()
                tw = torch.tensor(layer.weight.value.rows, dtype=torch.float64).T.reshape(O, C, k).requires_grad_()
                tb = torch.tensor(layer.bias.value.rows[0], dtype=torch.float64, requires_grad=True)
                ty = torch.nn.functional.conv1d(tx, tw, tb, stride=s, padding=p)
                y = layer.forward(x)
                assert_rows_close(self, y, ty.reshape(n, -1).tolist(), "Y")
                grad = upstream_gradient(rng, *y.shape)
                ty.backward(torch.tensor(grad.rows, dtype=torch.float64).reshape(ty.shape))
                assert_rows_close(self, layer.backward(grad), tx.grad.reshape(n, -1).tolist(), "dX")
                assert_rows_close(self, layer.weight.grad, tw.grad.reshape(O, -1).T.tolist(), "dW")
                assert_rows_close(self, layer.bias.grad, [tb.grad.tolist()], "db")


class TrainingTest(unittest.TestCase):
    def test_a_tiny_cnn_learns_where_the_bar_is(self):
        # 6x6 images with one bright vertical or horizontal bar anywhere: a conv net separates them
        from losses import CrossEntropy
        from optimizers import Adam
        from pooling import GlobalAvgPool2D
        rng = random.Random(9)
        rows, labels = [], []
        for _ in range(60):
            label, where = rng.randrange(2), rng.randrange(6)
            image = [[0.0] * 6 for _ in range(6)]
            for t in range(6):
                if label:
                    image[where][t] = 1.0
                else:
                    image[t][where] = 1.0
            rows.append([v for row in image for v in row])
            labels.append(label)
        X, Y = Matrix(rows), Matrix([[1.0 - y, float(y)] for y in labels])
        network = Network([Conv2D(1, 4, 3, padding=1, input_shape=(1, 6, 6), rng=rng), ReLU(),
                           GlobalAvgPool2D(), Dense(4, 2, rng=rng), Softmax()])
        history = network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.05), epochs=30,
                              batch_size=10, rng=random.Random(0))
        self.assertLess(history["loss"][-1], 0.2 * history["loss"][0])
        self.assertEqual(history["accuracy"][-1], 1.0)


if __name__ == "__main__":
    unittest.main()
