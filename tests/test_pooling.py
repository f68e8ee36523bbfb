"""Tests for pooling.py: max and average pooling (2-D and 1-D), global average pooling, Flatten,
against finite differences, slow loops written here, numbers worked by hand, and PyTorch."""

import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import matrix  # noqa: E402
from activations import ReLU  # noqa: E402
from conv import Conv1D, Conv2D  # noqa: E402
from layers import Dense  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from pooling import (AvgPool1D, AvgPool2D, Flatten, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D,  # noqa: E402
                     MaxPool2D)
from tests.gradcheck import check_layer, random_matrix, upstream_gradient  # noqa: E402
from tests.test_conv import assert_rows_close  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def reference_pool(x_rows, grad_rows, C, H, W, kernel, stride, mode):
    """Forward and backward by loops: each window in row-major order; max: the first strict maximum."""
    (kH, kW), (sH, sW) = kernel, stride
    H_out, W_out = (H - kH) // sH + 1, (W - kW) // sW + 1
    outputs, grads = [], []
    for x, g in zip(x_rows, grad_rows):
        y, dx = [], [0.0] * (C * H * W)
        for c in range(C):
            for p in range(H_out):
                for q in range(W_out):
                    cells = [(c * H + p * sH + i) * W + q * sW + j for i in range(kH) for j in range(kW)]
                    dy = g[(c * H_out + p) * W_out + q]
                    if mode == "max":
                        best = cells[0]
                        for cell in cells[1:]:
                            if x[cell] > x[best]:
                                best = cell
                        y.append(x[best])
                        dx[best] += dy
                    else:
                        y.append(sum(x[cell] for cell in cells) / len(cells))
                        for cell in cells:
                            dx[cell] += dy / len(cells)
        outputs.append(y)
        grads.append(dx)
    return outputs, grads


# (C, H, W, kernel, stride): non-overlapping, overlapping (stride < kernel), odd sizes cut off by the floor
CASES = [(2, 4, 4, 2, None), (3, 5, 7, 2, None), (2, 5, 5, 3, 1), (1, 6, 5, (2, 3), (2, 1)), (2, 7, 6, 3, 2),
         (2, 3, 3, 1, None)]  # and a one-pixel window, its own maximum


def pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


class Pool2DTest(unittest.TestCase):
    def test_gradients_match_finite_differences(self):
        rng = random.Random(0)
        for cls in (MaxPool2D, AvgPool2D):
            for C, H, W, kernel, stride in CASES:
                with self.subTest(layer=cls.__name__, case=(C, H, W, kernel, stride)):
                    layer = cls(kernel, stride, input_shape=(C, H, W))
                    # continuous random values: no ties, so the max is differentiable at them
                    check_layer(layer, random_matrix(rng, 2, C * H * W), rng, what=repr(layer))

    def test_forward_and_backward_equal_the_loops(self):
        rng = random.Random(1)
        for cls, mode in ((MaxPool2D, "max"), (AvgPool2D, "avg")):
            for C, H, W, kernel, stride in CASES:
                for ties in (False, True):
                    with self.subTest(layer=cls.__name__, case=(C, H, W, kernel, stride), ties=ties):
                        layer = cls(kernel, stride, input_shape=(C, H, W))
                        draw = (lambda: float(rng.randint(0, 2))) if ties else (lambda: rng.uniform(-1, 1))
                        x = Matrix([[draw() for _ in range(C * H * W)] for _ in range(3)])
                        y = layer.forward(x)
                        grad = upstream_gradient(rng, *y.shape)
                        outputs, grads = reference_pool(x.rows, grad.rows, C, H, W, pair(kernel),
                                                        pair(stride or kernel), mode)
                        assert_rows_close(self, y, outputs, "Y")
                        assert_rows_close(self, layer.backward(grad), grads, "dX")

    def test_the_other_kernel_set_equals_the_loops(self):
        # conv_kernels.max_pool and unpool in the other shape ("loops" on CPython, "builtins" on PyPy)
        previous = matrix.use_kernels("builtins" if matrix.KERNEL == "loops" else "loops")
        self.addCleanup(matrix.use_kernels, previous)
        self.test_forward_and_backward_equal_the_loops()
        self.test_a_tie_sends_the_gradient_to_the_first_maximum()
        self.test_overlapping_windows_sum_their_gradients()

    def test_a_tie_sends_the_gradient_to_the_first_maximum(self):
        # window [[5, 5], [5, 1]]: the first 5 (row-major) takes it all, as torch.nn.MaxPool2d
        layer = MaxPool2D(2, input_shape=(1, 2, 2))
        self.assertEqual(layer.forward(Matrix([[5.0, 5.0, 5.0, 1.0]])).rows, [[5.0]])
        self.assertEqual(layer.backward(Matrix([[3.0]])).rows, [[3.0, 0.0, 0.0, 0.0]])

    def test_overlapping_windows_sum_their_gradients(self):
        # row [0, 2, 1], windows of 2 with stride 1: both windows pick the 2, whose gradient is 1 + 10
        layer = MaxPool2D((1, 2), stride=1, input_shape=(1, 1, 3))
        self.assertEqual(layer.forward(Matrix([[0.0, 2.0, 1.0]])).rows, [[2.0, 2.0]])
        self.assertEqual(layer.backward(Matrix([[1.0, 10.0]])).rows, [[0.0, 11.0, 0.0]])

    def test_by_hand(self):
        # channel [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], 2x2 windows: the last row is cut off
        x = Matrix([[float(v) for v in range(1, 13)]])
        self.assertEqual(MaxPool2D(2, input_shape=(1, 3, 4)).forward(x).rows, [[6.0, 8.0]])
        self.assertEqual(AvgPool2D(2, input_shape=(1, 3, 4)).forward(x).rows, [[3.5, 5.5]])
        average = AvgPool2D(2, input_shape=(1, 3, 4))
        average.forward(x)
        self.assertEqual(average.backward(Matrix([[4.0, 8.0]])).rows,
                         [[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]])

    def test_shapes_and_errors(self):
        self.assertEqual(MaxPool2D(2).output_shape((16, 28, 28)), (16, 14, 14))
        self.assertEqual(MaxPool2D(2).output_shape((16, 7, 7)), (16, 3, 3))  # floor, as PyTorch
        self.assertEqual(MaxPool2D(3, 2).output_shape((1, 7, 8)), (1, 3, 3))
        with self.assertRaisesRegex(ValueError, r"^MaxPool2D\(3x3\): its 3x3 window does not fit its input of shape "
                                                r"\(4, 2, 5\); it fits images of at least 3x3 pixels$"):
            MaxPool2D(3).output_shape((4, 2, 5))
        with self.assertRaisesRegex(ValueError, r"^AvgPool2D\(2x2\) takes images of shape \(C, H, W\), but its "
                                                r"input has shape \(64,\)$"):
            AvgPool2D(2).output_shape((64,))
        with self.assertRaisesRegex(ValueError, r"^layer 2: MaxPool2D\(2x2\): its 2x2 window does not fit its input "
                                                r"of shape \(3, 1, 1\)"):
            Network([Conv2D(1, 3, 3, input_shape=(1, 3, 3)), ReLU(), MaxPool2D(2)])
        with self.assertRaisesRegex(ValueError, "MaxPool2D stride must be an integer >= 1"):
            MaxPool2D(2, stride=0)

    @unittest.skipIf(torch is None, "PyTorch is not installed")
    def test_equals_torch_in_float64_ties_included(self):
        functional = torch.nn.functional
        rng = random.Random(2)
        for cls, pool in ((MaxPool2D, functional.max_pool2d), (AvgPool2D, functional.avg_pool2d)):
            for C, H, W, kernel, stride in CASES:
                with self.subTest(layer=cls.__name__, case=(C, H, W, kernel, stride)):
                    layer, n = cls(kernel, stride, input_shape=(C, H, W)), 3
                    x = Matrix([[float(rng.randint(0, 3)) for _ in range(C * H * W)] for _ in range(n)])
                    tx = torch.tensor(x.rows, dtype=torch.float64).reshape(n, C, H, W).requires_grad_()
                    ty = pool(tx, layer.kernel_size, layer.stride)
                    y = layer.forward(x)
                    assert_rows_close(self, y, ty.reshape(n, -1).tolist(), "Y")
                    grad = upstream_gradient(rng, *y.shape)
                    ty.backward(torch.tensor(grad.rows, dtype=torch.float64).reshape(ty.shape))
                    assert_rows_close(self, layer.backward(grad), tx.grad.reshape(n, -1).tolist(), "dX")


class Pool1DTest(unittest.TestCase):
    CASES_1D = [(2, 8, 2, None), (3, 7, 3, 2), (1, 6, 2, 1), (2, 5, 1, None)]  # C, L, kernel, stride

    def test_gradients_and_loops(self):
        rng = random.Random(3)
        for cls, mode in ((MaxPool1D, "max"), (AvgPool1D, "avg")):
            for C, L, k, s in self.CASES_1D:
                with self.subTest(layer=cls.__name__, case=(C, L, k, s)):
                    layer = cls(k, s, input_shape=(C, L))
                    self.assertEqual(layer.output_shape((C, L)), (C, (L - k) // (s or k) + 1))
                    check_layer(layer, random_matrix(rng, 2, C * L), rng, what=repr(layer))
                    x = Matrix([[float(rng.randint(0, 2)) for _ in range(C * L)] for _ in range(2)])
                    y = layer.forward(x)
                    grad = upstream_gradient(rng, *y.shape)
                    outputs, grads = reference_pool(x.rows, grad.rows, C, 1, L, (1, k), (1, s or k), mode)
                    assert_rows_close(self, y, outputs, "Y")
                    assert_rows_close(self, layer.backward(grad), grads, "dX")

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, r"^MaxPool1D\(4\): its window of 4 does not fit its input of shape "
                                                r"\(2, 3\); it fits sequences of length at least 4$"):
            MaxPool1D(4).output_shape((2, 3))
        with self.assertRaisesRegex(ValueError, r"takes sequences of shape \(C, L\), but its input has shape "
                                                r"\(1, 4, 4\)"):
            MaxPool1D(2).output_shape((1, 4, 4))

    @unittest.skipIf(torch is None, "PyTorch is not installed")
    def test_equals_torch(self):
        functional = torch.nn.functional
        rng = random.Random(4)
        for cls, pool in ((MaxPool1D, functional.max_pool1d), (AvgPool1D, functional.avg_pool1d)):
            for C, L, k, s in self.CASES_1D:
                layer, n = cls(k, s, input_shape=(C, L)), 2
                x = Matrix([[float(rng.randint(0, 3)) for _ in range(C * L)] for _ in range(n)])
                tx = torch.tensor(x.rows, dtype=torch.float64).reshape(n, C, L).requires_grad_()
                ty = pool(tx, k, s or k)
                assert_rows_close(self, layer.forward(x), ty.reshape(n, -1).tolist(), "Y")
                grad = upstream_gradient(rng, n, ty[0].numel())
                ty.backward(torch.tensor(grad.rows, dtype=torch.float64).reshape(ty.shape))
                assert_rows_close(self, layer.backward(grad), tx.grad.reshape(n, -1).tolist(), "dX")


class GlobalPoolAndFlattenTest(unittest.TestCase):
    def test_global_average_by_hand_and_by_finite_differences(self):
        layer = GlobalAvgPool2D(input_shape=(2, 2, 2))
        x = Matrix([[1.0, 2.0, 3.0, 6.0, -1.0, -1.0, 0.0, 2.0]])
        self.assertEqual(layer.forward(x).rows, [[3.0, 0.0]])
        self.assertEqual(layer.backward(Matrix([[4.0, -8.0]])).rows, [[1.0] * 4 + [-2.0] * 4])
        rng = random.Random(5)
        for shape in ((3, 2, 5), (1, 3, 3)):
            check_layer(GlobalAvgPool2D(input_shape=shape), random_matrix(rng, 2, 3 * 2 * 5 if shape[0] == 3 else 9),
                        rng, what=f"GlobalAvgPool2D {shape}")
        check_layer(GlobalAvgPool1D(input_shape=(3, 4)), random_matrix(rng, 2, 12), rng, what="GlobalAvgPool1D")
        self.assertEqual(GlobalAvgPool1D().output_shape((3, 4)), (3,))

    def test_global_average_takes_any_image_size(self):
        # the same weights on 6x6 and 10x10 images: a fully convolutional network
        rng = random.Random(6)
        layers = [Conv2D(1, 3, 3, padding=1, input_shape=(1, 6, 6), rng=rng), ReLU(), GlobalAvgPool2D(),
                  Dense(3, 2, rng=rng)]
        small = Network(layers)
        self.assertEqual(small.shapes[-1], (2,))
        self.assertEqual(small.predict(random_matrix(rng, 1, 36)).shape, (1, 2))
        layers[0].input_shape = (1, 10, 10)  # Network builds every layer again for the new size
        large = Network(layers)
        self.assertEqual(large.shapes[:3], [(3, 10, 10), (3, 10, 10), (3,)])
        self.assertEqual(large.predict(random_matrix(rng, 1, 100)).shape, (1, 2))

    def test_global_average_errors(self):
        with self.assertRaisesRegex(ValueError, r"^GlobalAvgPool2D\(\) takes images of shape \(C, H, W\), but its "
                                                r"input has shape \(5,\)$"):
            GlobalAvgPool2D().output_shape((5,))

    @unittest.skipIf(torch is None, "PyTorch is not installed")
    def test_global_average_equals_torch(self):
        rng = random.Random(7)
        layer, x = GlobalAvgPool2D(input_shape=(3, 4, 5)), random_matrix(rng, 2, 60)
        tx = torch.tensor(x.rows, dtype=torch.float64).reshape(2, 3, 4, 5).requires_grad_()
        ty = torch.nn.functional.adaptive_avg_pool2d(tx, 1).flatten(1)
        assert_rows_close(self, layer.forward(x), ty.tolist(), "Y")
        grad = upstream_gradient(rng, 2, 3)
        ty.backward(torch.tensor(grad.rows, dtype=torch.float64))
        assert_rows_close(self, layer.backward(grad), tx.grad.reshape(2, -1).tolist(), "dX")

    def test_flatten_changes_the_shape_only(self):
        network = Network([Conv2D(1, 2, 3, input_shape=(1, 5, 5)), Flatten(), Dense(18, 2)])
        self.assertEqual(network.shapes, [(2, 3, 3), (18,), (2,)])
        x, flatten = Matrix([[1.0, 2.0]]), Flatten()
        self.assertIs(flatten.forward(x), x)
        self.assertIs(flatten.backward(x), x)

    def test_save_and_load_round_trip(self):
        rng = random.Random(8)
        network = Network([Conv2D(1, 2, 3, padding=1, input_shape=(1, 6, 6), rng=rng), MaxPool2D(2),
                           AvgPool2D(3, stride=1), Flatten(), Dense(2, 2, rng=rng)])
        sequences = Network([Conv1D(2, 2, 2, input_shape=(2, 9), rng=rng), MaxPool1D(2), AvgPool1D(2, 1),
                             GlobalAvgPool1D(), Dense(2, 1, rng=rng)])
        global_pool = Network([GlobalAvgPool2D(input_shape=(2, 3, 3)), Dense(2, 1, rng=rng)])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            for model, width in ((network, 36), (sequences, 18), (global_pool, 18)):
                x = random_matrix(rng, 2, width)
                model.save(path)
                loaded = Network.load(path)
                self.assertEqual(loaded.predict(x), model.predict(x))
                self.assertEqual(loaded.summary(), model.summary())


if __name__ == "__main__":
    unittest.main()
