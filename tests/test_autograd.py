"""autograd.py and autograd_nn.py: every operation against finite differences, and the graph walk.

Each operation is checked through L = sum(f(inputs) * G), G a random upstream gradient:
f(...).backward(G) must give dL/d(input) for every input, compared with central differences
of L computed on plain floats (so the check does not lean on the graph it checks).
"""

import gc
import math
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from autograd import Tensor, no_grad  # noqa: E402
from autograd_nn import (binary_cross_entropy, columns, concat, cross_entropy, gather_columns, mse,  # noqa: E402
                         pick, reshape, take)
from matrix import Matrix  # noqa: E402
from optimizers import SGD, Adam  # noqa: E402
from tests.gradcheck import (assert_close, numerical_gradient, random_matrix, trial_shapes,  # noqa: E402
                             upstream_gradient)


def check_operation(test, f, matrices, rng, what, h=1e-6):
    """Gradient check of f(*tensors) with respect to every input matrix."""
    tensors = [Tensor(m, requires_grad=True) for m in matrices]
    output = f(*tensors)
    grad_output = upstream_gradient(rng, *output.shape)
    output.backward(grad_output)

    def loss():
        with no_grad():
            y = f(*[Tensor(m) for m in matrices])
        return math.fsum(a * g for y_row, g_row in zip(y.data.rows, grad_output.rows) for a, g in zip(y_row, g_row))

    for index, (tensor, matrix) in enumerate(zip(tensors, matrices)):
        test.assertIsNotNone(tensor.grad, f"{what}: input {index} got no gradient")
        assert_close(tensor.grad, numerical_gradient(loss, matrix, h), f"{what} d(input {index})")


class GradientCheckTest(unittest.TestCase):
    """Every operation, several random shapes, float64 central differences, relative error < 1e-6."""

    def setUp(self):
        self.rng = random.Random(13)

    def shapes(self, seed):
        return trial_shapes(seed, trials=4)

    def test_elementwise_operations_with_equal_shapes(self):
        operations = {
            "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
        }
        for n, c in self.shapes(1):
            for symbol, f in operations.items():
                a = random_matrix(self.rng, n, c)
                b = random_matrix(self.rng, n, c, away_from_zero=0.5)
                check_operation(self, f, [a, b], self.rng, f"A {symbol} B {(n, c)}")

    def test_elementwise_operations_broadcast_a_row_on_either_side(self):
        operations = {
            "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
        }
        for n, c in self.shapes(2):
            n += 1  # at least two rows, so that the row is really repeated
            for symbol, f in operations.items():
                matrix = random_matrix(self.rng, n, c, away_from_zero=0.5)
                row = random_matrix(self.rng, 1, c, away_from_zero=0.5)
                check_operation(self, f, [matrix, row], self.rng, f"A {symbol} row {(n, c)}")
                check_operation(self, f, [row, matrix], self.rng, f"row {symbol} A {(n, c)}")

    def test_elementwise_operations_with_a_1x1_tensor_or_a_number(self):
        for n, c in self.shapes(3):
            n, c = n + 1, c + 1
            matrix = random_matrix(self.rng, n, c, away_from_zero=0.5)
            scalar = random_matrix(self.rng, 1, 1, away_from_zero=0.5)
            for symbol, f in {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
                              "*": lambda a, b: a * b, "/": lambda a, b: a / b}.items():
                check_operation(self, f, [matrix, scalar], self.rng, f"A {symbol} scalar")
                check_operation(self, f, [scalar, matrix], self.rng, f"scalar {symbol} A")
            for name, f in {"A + 2": lambda a: a + 2, "3 - A": lambda a: 3 - a, "A * -1.5": lambda a: a * -1.5,
                            "2 * A": lambda a: 2 * a, "A / 4": lambda a: a / 4, "2 / A": lambda a: 2 / a,
                            "-A": lambda a: -a}.items():
                check_operation(self, f, [matrix], self.rng, name)

    def test_matrix_product_and_transpose(self):
        for (n, k), m in zip(self.shapes(4), (1, 3, 2, 4)):
            a, b = random_matrix(self.rng, n, k), random_matrix(self.rng, k, m)
            check_operation(self, lambda x, y: x @ y, [a, b], self.rng, f"A @ B {(n, k, m)}")
            check_operation(self, lambda x: x.T, [a], self.rng, "A.T")
            check_operation(self, lambda x, y: (x.T @ x) @ y, [a, b], self.rng, "A.T @ A @ B (A twice)")

    def test_powers(self):
        for n, c in self.shapes(5):
            positive = random_matrix(self.rng, n, c, 0.5, 2.0)
            signed = random_matrix(self.rng, n, c, away_from_zero=0.5)
            for p in (2, 3, -1):
                check_operation(self, lambda a: a ** p, [signed], self.rng, f"A ** {p}")
            for p in (0.5, -0.5, 1.7):
                check_operation(self, lambda a: a ** p, [positive], self.rng, f"A ** {p}")

    def test_unary_functions(self):
        functions = {
            "exp": lambda a: a.exp(), "tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(),
            "relu": lambda a: a.relu(), "softplus": lambda a: a.softplus(),
            "leaky_relu": lambda a: a.leaky_relu(0.1),
        }
        for n, c in self.shapes(6):
            x = random_matrix(self.rng, n, c, away_from_zero=0.05)  # ReLU's kink is not differentiable
            for name, f in functions.items():
                check_operation(self, f, [x], self.rng, f"{name} {(n, c)}")
            check_operation(self, lambda a: a.log(), [random_matrix(self.rng, n, c, 0.2, 3.0)], self.rng, "log")

    def test_softmax_and_log_softmax_over_rows(self):
        for n, c in self.shapes(7):
            x = random_matrix(self.rng, n, c + 1, -3.0, 3.0)
            check_operation(self, lambda a: a.softmax(), [x], self.rng, "softmax")
            check_operation(self, lambda a: a.log_softmax(), [x], self.rng, "log_softmax")

    def test_sums_and_means_on_every_axis(self):
        for n, c in self.shapes(8):
            x = random_matrix(self.rng, n, c)
            for axis in (None, 0, 1):
                check_operation(self, lambda a: a.sum(axis), [x], self.rng, f"sum(axis={axis})")
                check_operation(self, lambda a: a.mean(axis), [x], self.rng, f"mean(axis={axis})")

    def test_row_and_column_selection(self):
        for n, c in self.shapes(9):
            n, c = n + 1, c + 1
            x = random_matrix(self.rng, n, c)
            rows = [self.rng.randrange(n) for _ in range(n + 2)]  # repeats: a row taken twice
            check_operation(self, lambda a: take(a, rows), [x], self.rng, f"take {rows}")
            picked = [self.rng.randrange(c) for _ in range(n)]
            check_operation(self, lambda a: pick(a, picked), [x], self.rng, f"pick {picked}")
            start = self.rng.randrange(c)
            check_operation(self, lambda a: columns(a, start, c), [x], self.rng, f"columns {start}:{c}")
            y = random_matrix(self.rng, n, 2)
            check_operation(self, lambda a, b: concat([a, b, a], axis=1), [x, y], self.rng, "concat axis 1")
            z = random_matrix(self.rng, 3, c)
            check_operation(self, lambda a, b: concat([b, a], axis=0), [x, z], self.rng, "concat axis 0")
            gathered = [self.rng.choice([None] + list(range(c))) for _ in range(2 * c + 1)]  # repeats, padding
            check_operation(self, lambda a: gather_columns(a, gathered), [x], self.rng, f"gather {gathered}")
            check_operation(self, lambda a: reshape(a, c, n), [x], self.rng, f"reshape {(c, n)}")
            check_operation(self, lambda a: reshape(a, 1, n * c), [x], self.rng, "reshape to one row")

    def test_losses(self):
        for n, c in self.shapes(10):
            c += 1
            logits = random_matrix(self.rng, n, c, -3.0, 3.0)
            labels = [self.rng.randrange(c) for _ in range(n)]
            one_hot = Matrix([[1.0 if j == t else 0.0 for j in range(c)] for t in labels])
            probabilities = Matrix([[v / sum(row) for v in row]
                                    for row in random_matrix(self.rng, n, c, 0.1, 1.0).rows])
            bits = Matrix([[float(self.rng.random() < 0.5) for _ in range(c)] for _ in range(n)])
            target = random_matrix(self.rng, n, c)
            for name, f in {"cross_entropy indices": lambda z: cross_entropy(z, labels),
                            "cross_entropy one-hot": lambda z: cross_entropy(z, one_hot),
                            "cross_entropy probabilities": lambda z: cross_entropy(z, probabilities),
                            "binary_cross_entropy": lambda z: binary_cross_entropy(z, bits),
                            "mse": lambda z: mse(z, target)}.items():
                check_operation(self, f, [logits], self.rng, name)

    def test_a_composite_expression_with_broadcast_parameters(self):
        """A small network written out: every gradient of a graph with shared and broadcast nodes."""
        x = random_matrix(self.rng, 4, 3)
        w, b = random_matrix(self.rng, 3, 5), random_matrix(self.rng, 1, 5)
        gamma = random_matrix(self.rng, 1, 1)

        def f(x_, w_, b_, g_):
            h = (x_ @ w_ + b_).tanh()
            return (h * g_ + h.sigmoid() * h).sum(axis=1) - (h * h).mean()
        check_operation(self, f, [x, w, b, gamma], self.rng, "composite")


class GraphTest(unittest.TestCase):
    def test_a_node_used_twice_gets_both_contributions(self):
        # b = a + a = 2a, c = b * b = 4a^2, dc/da = 8a: each use of a and of b must be counted
        a = Tensor([[1.5, -2.0]], requires_grad=True)
        b = a + a
        c = b * b
        c.backward(Matrix([[1.0, 1.0]]))
        self.assertEqual(a.grad.rows, [[12.0, -16.0]])

    def test_backward_of_a_loss_and_accumulation_in_the_leaves(self):
        w = Tensor([[2.0, -1.0]], requires_grad=True)
        loss = (w * w).sum()  # dL/dw = 2w
        loss.backward()
        self.assertEqual(w.grad.rows, [[4.0, -2.0]])
        (w * w).sum().backward()  # leaves accumulate, as in PyTorch
        self.assertEqual(w.grad.rows, [[8.0, -4.0]])
        w.zero_grad()
        self.assertIsNone(w.grad)

    def test_backward_needs_a_1x1_result_or_an_upstream_gradient(self):
        w = Tensor([[1.0, 2.0]], requires_grad=True)
        with self.assertRaisesRegex(ValueError, r"1x1 result.*\(1, 2\)"):
            (w * 2).backward()
        with self.assertRaisesRegex(ValueError, r"shape \(1, 2\)"):
            (w * 2).backward(Matrix([[1.0]]))

    def test_a_graph_100000_nodes_deep_needs_no_recursion(self):
        x = Tensor([[1.0]], requires_grad=True)
        w = Tensor([[1.00001]], requires_grad=True)
        y = x
        for _ in range(100000):
            y = y * w  # y = x * w^100000: one chain 100,000 products deep, w used by every one
        y.backward()
        self.assertAlmostEqual(x.grad.rows[0][0], 1.00001 ** 100000, delta=1e-9)
        self.assertAlmostEqual(w.grad.rows[0][0], 100000 * 1.00001 ** 99999, delta=1e-6)
        del y
        gc.collect()  # freeing the chain must not overflow the C stack either

    def test_no_grad_records_nothing(self):
        w = Tensor([[1.0, 2.0]], requires_grad=True)
        with no_grad():
            y = (w * 3.0).sum()
        self.assertFalse(y.requires_grad)
        self.assertEqual(y.parents, ())
        self.assertEqual(y.item(), 9.0)
        with self.assertRaisesRegex(RuntimeError, "no_grad"):
            y.backward()
        self.assertTrue((w * 3.0).requires_grad)  # recording is back on after the block

    def test_constants_get_no_gradient_and_a_pruned_leaf_costs_nothing(self):
        x = Tensor([[1.0, 2.0]])
        w = Tensor([[3.0], [4.0]], requires_grad=True)
        loss = (x @ w).sum()
        loss.backward()
        self.assertIsNone(x.grad)
        self.assertEqual(w.grad.rows, [[1.0], [2.0]])
        w.grad = None
        w.requires_grad = False  # switched off after the forward: backward does nothing
        loss.backward()
        self.assertIsNone(w.grad)

    def test_broadcasting_errors_name_the_shapes(self):
        a, b = Tensor([[1.0, 2.0], [3.0, 4.0]]), Tensor([[1.0, 2.0, 3.0]])
        with self.assertRaisesRegex(ValueError, r"\(2, 2\) and \(1, 3\)"):
            a + b
        with self.assertRaisesRegex(ValueError, "multiply"):
            a @ b

    def test_domain_errors_name_the_operation(self):
        with self.assertRaisesRegex(ValueError, "log"):
            Tensor([[1.0, -1.0]]).log()
        with self.assertRaisesRegex(ValueError, r"\*\* 0.5"):
            Tensor([[-4.0]]) ** 0.5
        with self.assertRaisesRegex(OverflowError, "exp"):
            Tensor([[1000.0]]).exp()

    def test_retain_grad_keeps_every_node_gradient_in_backward_order(self):
        a = Tensor([[2.0]], requires_grad=True, name="a")
        b = (a * 3.0).exp()
        loss = b.log()  # = 3a, so every gradient is easy: dL/db = 1/b, dL/d(3a) = 1
        loss.backward(retain_grad=True)
        order = loss.topological_order()
        self.assertIs(order[0], a)
        self.assertIs(order[-1], loss)
        self.assertAlmostEqual(b.grad.rows[0][0], 1.0 / b.data.rows[0][0])
        self.assertAlmostEqual(a.grad.rows[0][0], 3.0)
        self.assertTrue(all(node.rule for node in order[1:]))

    def test_to_dot_names_every_node_with_its_operation_and_shape(self):
        x = Tensor([[1.0, 2.0]], name="X")
        w = Tensor([[1.0], [0.5]], requires_grad=True, name="W")
        loss = (x @ w).relu().sum()
        loss.backward()
        text = loss.to_dot()
        self.assertTrue(text.startswith("digraph autograd {"))
        for label in ("X\\nconstant\\n1x2", "W\\nleaf\\n2x1", "@\\n1x1", "relu\\n1x1", "sum\\n1x1"):
            self.assertIn(label, text)
        self.assertEqual(text.count("->"), 4)  # X, W -> @ -> relu -> sum
        self.assertIn("style=dashed", text)  # the constant input
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "graph.dot")
            loss.to_dot(path)
            with open(path) as handle:
                self.assertEqual(handle.read(), text)


class OptimizerBridgeTest(unittest.TestCase):
    def test_optimizers_train_tensors_and_skip_those_without_gradient(self):
        w = Tensor([[1.0, -2.0]], requires_grad=True)
        unused = Tensor([[5.0]], requires_grad=True)
        optimizer = SGD([w, unused], lr=0.1)
        optimizer.zero_grad()
        ((w * w).sum()).backward()  # dL/dw = 2w
        optimizer.step()
        self.assertEqual(w.data.rows, [[1.0 - 0.1 * 2.0, -2.0 + 0.1 * 4.0]])
        self.assertEqual(unused.data.rows, [[5.0]])
        optimizer.zero_grad()
        self.assertIsNone(w.grad)

    def test_adam_on_tensors_fits_a_line(self):
        rng = random.Random(0)
        xs = [[rng.uniform(-1, 1)] for _ in range(16)]
        X, Y = Matrix(xs), Matrix([[3.0 * x[0] - 1.0] for x in xs])
        w, b = Tensor([[0.0]], requires_grad=True), Tensor([[0.0]], requires_grad=True)
        optimizer = Adam([w, b], lr=0.1)
        for _ in range(300):
            optimizer.zero_grad()
            mse(Tensor(X) @ w + b, Y).backward()
            optimizer.step()
        self.assertAlmostEqual(w.item(), 3.0, places=3)
        self.assertAlmostEqual(b.item(), -1.0, places=3)


if __name__ == "__main__":
    unittest.main()
