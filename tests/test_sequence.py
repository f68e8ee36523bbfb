"""Tests for sequence.py: Embedding and PositionwiseDense by hand, by finite differences and
(when it is installed) against torch; the step reshaping helpers."""

import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matrix import Matrix  # noqa: E402
from network import ModelFileError, Network  # noqa: E402
from sequence import Embedding, PositionwiseDense, join_steps, split_steps  # noqa: E402
from tests.gradcheck import assert_close, check_layer, numerical_gradient, random_matrix, upstream_gradient  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def embedding_with(table):
    layer = Embedding(len(table), len(table[0]))
    layer.weight.value = Matrix(table)
    return layer


class StepsTest(unittest.TestCase):
    def test_split_and_join_in_both_orders(self):
        rows = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]
        self.assertEqual(split_steps(rows, 2), [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]])
        self.assertEqual(split_steps(rows, 2, time_major=True), [[1, 2], [7, 8], [3, 4], [9, 10], [5, 6], [11, 12]])
        for time_major in (False, True):
            self.assertEqual(join_steps(split_steps(rows, 3, time_major), 2, time_major), rows)


class EmbeddingTest(unittest.TestCase):
    def test_forward_looks_up_rows(self):
        layer = embedding_with([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]])
        y = layer.forward(Matrix([[2, 0, 2], [1, 1, 0]]))
        self.assertEqual(y.rows, [[2.0, 2.5, 0.0, 0.5, 2.0, 2.5], [1.0, 1.5, 1.0, 1.5, 0.0, 0.5]])

    def test_backward_adds_the_gradient_of_every_use(self):
        layer = embedding_with([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
        layer.forward(Matrix([[2, 0, 2], [1, 2, 0]]))
        grad = Matrix([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]])
        self.assertIsNone(layer.backward(grad))
        # row 0 read at (0, 1) and (1, 2); row 1 at (1, 0); row 2 at (0, 0), (0, 2) and (1, 1)
        self.assertEqual(layer.weight.grad.rows, [[3 + 11, 4 + 12], [7.0, 8.0], [1 + 5 + 9, 2 + 6 + 10]])

    def test_weight_gradient_matches_finite_differences(self):
        rng = random.Random(5)
        for n, steps in ((1, 1), (2, 3), (3, 6)):
            layer = Embedding(4, 3, rng=rng)
            ids = Matrix([[rng.randrange(4) for _ in range(steps)] for _ in range(n)])
            y = layer.forward(ids)
            grad = upstream_gradient(rng, *y.shape)
            layer.backward(grad)
            mine = layer.weight.grad.copy()

            def loss():
                out = layer.forward(ids)
                return sum(a * b for ra, rb in zip(out.rows, grad.rows) for a, b in zip(ra, rb))

            assert_close(mine, numerical_gradient(loss, layer.weight.value), f"Embedding dW T={steps}")

    def test_an_id_out_of_range_names_its_position(self):
        layer = Embedding(5, 2)
        for bad, shown in ((5, "5"), (-1, "-1"), (1.5, "1.5")):
            with self.assertRaises(ValueError) as caught:
                layer.forward(Matrix([[0, 1, 2], [3, bad, 4]]))
            self.assertEqual(str(caught.exception), f"Embedding(5, 2): token id {shown} at row 1, position 1 is out "
                                                    "of range; ids are whole numbers from 0 to 4")

    def test_ragged_rows_are_refused(self):
        with self.assertRaises(ValueError) as caught:
            Embedding(5, 2).forward(Matrix.from_rows([[0, 1, 2], [3, 4]], 3))
        self.assertEqual(str(caught.exception), "Embedding(5, 2): row 1 has 2 token ids, row 0 has 3")

    def test_shapes_config_and_initialization(self):
        layer = Embedding(30, 4, rng=random.Random(0))
        self.assertEqual(layer.output_shape((7,)), (7, 4))
        values = [v for row in layer.weight.value.rows for v in row]
        mean = sum(values) / len(values)
        self.assertLess(abs(mean), 0.3)  # standard normal, as torch.nn.Embedding
        self.assertGreater(sum(v * v for v in values) / len(values), 0.6)
        self.assertEqual(repr(Embedding.from_config(layer.get_config())), "Embedding(30, 4)")


class PositionwiseDenseTest(unittest.TestCase):
    def test_forward_is_dense_at_each_step(self):
        rng = random.Random(2)
        layer = PositionwiseDense(3, 2, rng=rng)
        layer.bias.value = random_matrix(rng, 1, 2)
        x = random_matrix(rng, 2, 12)
        y = layer.forward(x)
        w, b = layer.weight.value.rows, layer.bias.value.rows[0]
        for row, y_row in zip(x.rows, y.rows):
            expected = []
            for t in range(4):
                step = row[3 * t:3 * t + 3]
                expected += [sum(step[k] * w[k][j] for k in range(3)) + b[j] for j in range(2)]
            for a, e in zip(y_row, expected):
                self.assertAlmostEqual(a, e, delta=1e-12)

    def test_gradients_match_finite_differences(self):
        rng = random.Random(4)
        for n, steps in ((1, 1), (2, 3), (3, 5)):
            layer = PositionwiseDense(3, 2, rng=rng)
            layer.bias.value = random_matrix(rng, 1, 2)
            self.assertLess(check_layer(layer, random_matrix(rng, n, 3 * steps), rng, what=f"T={steps}"), 1e-6)

    def test_width_must_be_whole_steps(self):
        with self.assertRaises(ValueError) as caught:
            PositionwiseDense(3, 2).forward(Matrix.zeros(1, 7))
        self.assertIn("not a multiple of 3", str(caught.exception))

    @unittest.skipIf(torch is None, "torch is not installed")
    def test_equal_to_torch_linear_on_n_t_d(self):
        rng = random.Random(8)
        layer = PositionwiseDense(3, 4, rng=rng)
        layer.bias.value = random_matrix(rng, 1, 4)
        linear = torch.nn.Linear(3, 4, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.weight.value.rows, dtype=torch.float64).T)
            linear.bias.copy_(torch.tensor(layer.bias.value.rows[0], dtype=torch.float64))
        x = random_matrix(rng, 2, 15)
        x_torch = torch.tensor(x.rows, dtype=torch.float64).reshape(2, 5, 3).requires_grad_()
        out = linear(x_torch).reshape(2, -1)
        grad = upstream_gradient(rng, 2, 20)
        out.backward(torch.tensor(grad.rows, dtype=torch.float64))
        y, grad_x = layer.forward(x), layer.backward(grad)
        for mine, theirs in ((y.rows, out.detach()), (grad_x.rows, x_torch.grad.reshape(2, -1)),
                             (layer.weight.grad.rows, linear.weight.grad.T),
                             (layer.bias.grad.rows[0], linear.bias.grad)):
            self.assertLess((torch.tensor(mine, dtype=torch.float64) - theirs).abs().max().item(), 1e-12)


class SequenceModelFileTest(unittest.TestCase):
    def test_save_load_and_a_damaged_shape(self):
        network = Network([Embedding(5, 3), PositionwiseDense(3, 5)])
        ids = Matrix([[0, 4, 2]])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            network.save(path)
            self.assertEqual(Network.load(path).forward(ids).rows, network.forward(ids).rows)
            data = network.to_dict()
            data["layers"][0]["config"]["num_embeddings"] = 10 ** 9
            with self.assertRaises(ModelFileError) as caught:
                Network.from_dict(data)
            self.assertIn("does not match the layer's (1000000000, 3)", str(caught.exception))
        summary = network.summary(n_inputs=3)
        self.assertIn("Embedding(5, 3)", summary)
        self.assertIn("(None, 3, 5)", summary)
        self.assertIn("Total parameters: 35", summary)


if __name__ == "__main__":
    unittest.main()
