"""Tests for recurrent.py: RNN, LSTM and GRU against finite differences, a slow step-by-step
reference written from PyTorch's equations, and (when it is installed) torch itself."""

import math
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from recurrent import GRU, LSTM, RNN  # noqa: E402
from sequence import Embedding, PositionwiseDense  # noqa: E402
from tests.gradcheck import check_layer, random_matrix  # noqa: E402

try:
    import torch
except ImportError:  # the optional comparison is skipped
    torch = None

CELLS = [("rnn", RNN, {}), ("rnn_relu", RNN, {"nonlinearity": "relu"}), ("lstm", LSTM, {}), ("gru", GRU, {})]


# ------------------------------------------------------- the slow reference
def _sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


def _affine(x, weight, bias, column):
    """x @ weight[:, column] + bias[column], one number at a time."""
    return sum(x[k] * weight[k][column] for k in range(len(x))) + bias[0][column]


def reference_forward(layer, x_row):
    """One sequence, one step and one unit at a time, straight from PyTorch's equations;
    returns the hidden states h_1 .. h_T as one list of T * H values."""
    d, h = layer.input_size, layer.hidden_size
    w_ih, w_hh = layer.weight_ih.value.rows, layer.weight_hh.value.rows
    b_ih, b_hh = layer.bias_ih.value.rows, layer.bias_hh.value.rows
    state, cell, outputs = [0.0] * h, [0.0] * h, []
    for t in range(len(x_row) // d):
        x = x_row[t * d:(t + 1) * d]

        def pre(block, unit):  # gate block `block`, unit `unit`: x-side and h-side separately
            column = block * h + unit
            return _affine(x, w_ih, b_ih, column), _affine(state, w_hh, b_hh, column)

        new_state = []
        if isinstance(layer, RNN):
            for j in range(h):
                a = sum(pre(0, j))
                new_state.append(math.tanh(a) if layer.nonlinearity == "tanh" else max(a, 0.0))
        elif isinstance(layer, LSTM):
            new_cell = []
            for j in range(h):
                i, f = _sigmoid(sum(pre(0, j))), _sigmoid(sum(pre(1, j)))
                g, o = math.tanh(sum(pre(2, j))), _sigmoid(sum(pre(3, j)))
                new_cell.append(f * cell[j] + i * g)
                new_state.append(o * math.tanh(new_cell[j]))
            cell = new_cell
        else:  # GRU
            for j in range(h):
                r, z = _sigmoid(sum(pre(0, j))), _sigmoid(sum(pre(1, j)))
                x_side, h_side = pre(2, j)
                n = math.tanh(x_side + r * h_side)
                new_state.append((1 - z) * n + z * state[j])
        state = new_state
        outputs += state
    return outputs


class RecurrentForwardTest(unittest.TestCase):
    def test_forward_equals_the_slow_reference(self):
        rng = random.Random(3)
        for name, cls, options in CELLS:
            for steps in (1, 2, 5):
                for return_sequences in (True, False):
                    with self.subTest(cell=name, steps=steps, return_sequences=return_sequences):
                        layer = cls(3, 4, return_sequences=return_sequences, rng=rng, **options)
                        x = random_matrix(rng, 2, steps * 3)
                        y = layer.forward(x)
                        for row, y_row in zip(x.rows, y.rows):
                            expected = reference_forward(layer, row)
                            if not return_sequences:
                                expected = expected[-4:]
                            self.assertEqual(len(y_row), len(expected))
                            for a, b in zip(y_row, expected):
                                self.assertAlmostEqual(a, b, delta=1e-12)

    def test_shapes_and_parameter_layout(self):
        for name, cls, options in CELLS:
            layer = cls(3, 5, **options)
            gates = {RNN: 1, LSTM: 4, GRU: 3}[cls]
            self.assertEqual(layer.weight_ih.shape, (3, gates * 5))
            self.assertEqual(layer.weight_hh.shape, (5, gates * 5))
            self.assertEqual(layer.bias_ih.shape, (1, gates * 5))
            self.assertEqual(layer.bias_hh.shape, (1, gates * 5))
            self.assertEqual(layer.forward(Matrix.zeros(2, 21)).shape, (2, 35))
            self.assertEqual(layer.output_shape((7, 3)), (7, 5))
            last = cls(3, 5, return_sequences=False, **options)
            self.assertEqual(last.forward(Matrix.zeros(2, 21)).shape, (2, 5))
            self.assertEqual(last.output_shape((7, 3)), (5,))

    def test_initialization_is_pytorchs_uniform_bound(self):
        layer = LSTM(4, 16, rng=random.Random(0))
        values = [v for p in layer.parameters() for row in p.value.rows for v in row]
        bound = 1 / math.sqrt(16)
        self.assertLessEqual(max(map(abs, values)), bound)
        self.assertGreater(max(map(abs, values)), 0.9 * bound)

    def test_a_row_that_is_not_whole_steps_is_refused(self):
        layer = GRU(3, 4)
        with self.assertRaises(ValueError) as caught:
            layer.forward(Matrix.zeros(2, 7))
        self.assertIn("time steps of 3 values", str(caught.exception))
        with self.assertRaises(ValueError) as caught:
            Network([Embedding(5, 4), GRU(5, 4)]).summary(n_inputs=6)
        self.assertIn("not a multiple of 5", str(caught.exception))

    def test_bad_options_are_refused(self):
        for bad in ({"nonlinearity": "sigmoid"}, {"return_sequences": "no"}):
            with self.assertRaises(ValueError):
                RNN(2, 3, **bad)
        with self.assertRaises(ValueError):
            GRU(0, 3)

    def test_large_inputs_do_not_overflow(self):
        for name, cls, options in CELLS:
            layer = cls(1, 2, rng=random.Random(1), **options)
            y = layer.forward(Matrix([[1000.0, -1000.0, 1000.0]]))
            self.assertTrue(all(math.isfinite(v) for v in y.rows[0]))


class RecurrentGradientTest(unittest.TestCase):
    def test_gradients_match_finite_differences(self):
        rng = random.Random(7)
        for name, cls, options in CELLS:
            for n, steps in ((1, 1), (2, 3), (3, 5)):
                for return_sequences in (True, False):
                    with self.subTest(cell=name, n=n, steps=steps, return_sequences=return_sequences):
                        layer = cls(2, 3, return_sequences=return_sequences, rng=rng, **options)
                        # weights larger than the default bound, so that the gates saturate a little too
                        for p in layer.parameters():
                            p.value = random_matrix(rng, *p.shape, low=-0.8, high=0.8)
                        x = random_matrix(rng, n, steps * 2, away_from_zero=0.05)
                        worst = check_layer(layer, x, rng, what=f"{name} T={steps}")
                        self.assertLess(worst, 1e-6)

    def test_backward_before_forward_is_an_error(self):
        with self.assertRaises(RuntimeError):
            LSTM(2, 3).backward(Matrix.zeros(1, 3))

    def test_input_grad_false_still_fills_the_parameter_gradients(self):
        layer = GRU(2, 3, rng=random.Random(2))
        x = random_matrix(random.Random(2), 2, 6)
        layer.forward(x)
        self.assertIsNone(layer.backward(Matrix.full(2, 9, 1.0), input_grad=False))
        self.assertNotEqual(layer.weight_hh.grad.rows, Matrix.zeros(3, 9).rows)


@unittest.skipIf(torch is None, "torch is not installed")
class RecurrentTorchTest(unittest.TestCase):
    """Forward and backward equal torch.nn.RNN / LSTM / GRU (batch_first) in float64."""

    def test_equal_to_torch(self):
        rng = random.Random(11)
        torch_classes = {RNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}
        for name, cls, options in CELLS:
            for steps in (1, 4):
                for return_sequences in (True, False):
                    with self.subTest(cell=name, steps=steps, return_sequences=return_sequences):
                        self._compare(cls, torch_classes[cls], options, steps, return_sequences, rng)

    def _compare(self, cls, torch_cls, options, steps, return_sequences, rng):
        n, d, h = 3, 4, 5
        layer = cls(d, h, return_sequences=return_sequences, rng=rng, **options)
        reference = torch_cls(d, h, batch_first=True, dtype=torch.float64, **options)
        with torch.no_grad():  # ours are PyTorch's transposed
            for mine, theirs in (("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0")):
                getattr(reference, theirs).copy_(torch.tensor(getattr(layer, mine).value.rows, dtype=torch.float64).T)
            for mine, theirs in (("bias_ih", "bias_ih_l0"), ("bias_hh", "bias_hh_l0")):
                getattr(reference, theirs).copy_(torch.tensor(getattr(layer, mine).value.rows[0], dtype=torch.float64))
        x = random_matrix(rng, n, steps * d)
        x_torch = torch.tensor(x.rows, dtype=torch.float64).reshape(n, steps, d).requires_grad_()
        output, last = reference(x_torch)
        if cls is LSTM:
            last = last[0]
        expected = output.reshape(n, -1) if return_sequences else last[0]
        grad = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        expected.backward(grad)
        y = layer.forward(x)
        grad_x = layer.backward(Matrix(grad.tolist()))

        def close(mine, theirs, what):
            difference = (torch.tensor(mine, dtype=torch.float64) - theirs).abs().max().item()
            self.assertLess(difference, 1e-12, what)

        close(y.rows, expected.detach(), "output")
        close(grad_x.rows, x_torch.grad.reshape(n, -1), "dX")
        close(layer.weight_ih.grad.rows, reference.weight_ih_l0.grad.T, "dweight_ih")
        close(layer.weight_hh.grad.rows, reference.weight_hh_l0.grad.T, "dweight_hh")
        close(layer.bias_ih.grad.rows[0], reference.bias_ih_l0.grad, "dbias_ih")
        close(layer.bias_hh.grad.rows[0], reference.bias_hh_l0.grad, "dbias_hh")


class RecurrentModelTest(unittest.TestCase):
    def test_save_load_and_summary(self):
        for name, cls, options in CELLS:
            with self.subTest(cell=name):
                network = Network([Embedding(6, 3, rng=random.Random(1)),
                                   cls(3, 4, rng=random.Random(2), **options),
                                   PositionwiseDense(4, 6, rng=random.Random(3))])
                ids = Matrix([[0, 1, 2, 5], [3, 3, 4, 0]])
                before = network.forward(ids).rows
                with tempfile.TemporaryDirectory() as folder:
                    path = os.path.join(folder, "model.json")
                    network.save(path)
                    loaded = Network.load(path)
                self.assertEqual(loaded.forward(ids).rows, before)
                self.assertEqual(repr(loaded.layers[1]), repr(network.layers[1]))
                summary = network.summary(n_inputs=4)
                gates = {RNN: 1, LSTM: 4, GRU: 3}[cls]
                self.assertIn(f"{cls.__name__}(3 -> 4", summary)
                self.assertIn("(None, 4, 4)", summary)
                self.assertIn(f"{gates * 4 * (3 + 4 + 2):,}", summary)

    def test_last_state_only_feeds_a_dense_classifier(self):
        network = Network([Embedding(5, 2), LSTM(2, 3, return_sequences=False), PositionwiseDense(3, 2)])
        self.assertEqual(network.summary(n_inputs=7).count("(None, 3)"), 1)
        self.assertEqual(network.forward(Matrix([[1, 2, 3, 4, 0, 1, 2]])).shape, (1, 2))

    def test_recurrent_repr_and_config(self):
        self.assertEqual(repr(RNN(2, 3, nonlinearity="relu")), "RNN(2 -> 3, relu)")
        self.assertEqual(repr(GRU(2, 3, return_sequences=False)), "GRU(2 -> 3, return_sequences=False)")
        layer = LSTM(2, 3)
        self.assertEqual(repr(LSTM.from_config(layer.get_config())), "LSTM(2 -> 3)")


class DocumentedExampleTest(unittest.TestCase):
    """The worked example of docs/recurrent.md: one unit, two steps, L = h_2."""

    def test_the_numbers_of_the_worked_example(self):
        layer = RNN(1, 1)
        for parameter, value in ((layer.weight_ih, 0.5), (layer.weight_hh, -1.0), (layer.bias_ih, 0.0),
                                 (layer.bias_hh, 0.1)):
            parameter.value = Matrix([[value]])
        h = layer.forward(Matrix([[1.0, 2.0]])).rows[0]
        grad_x = layer.backward(Matrix([[0.0, 1.0]])).rows[0]
        shown = [h[0], h[1], layer.weight_ih.grad.rows[0][0], layer.weight_hh.grad.rows[0][0],
                 layer.bias_ih.grad.rows[0][0], layer.bias_hh.grad.rows[0][0], grad_x[0], grad_x[1]]
        documented = [0.537050, 0.510163, 0.953089, 0.397274, 0.213356, 0.213356, -0.263189, 0.369867]
        for mine, value in zip(shown, documented):
            self.assertAlmostEqual(mine, value, delta=5e-7)
        with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                               "recurrent.md"), encoding="utf-8") as f:
            text = f.read()
        for value in documented:
            self.assertIn(f"{value:.6f}".lstrip("-"), text)


if __name__ == "__main__":
    unittest.main()
