"""`python main.py explain --autograd` (app/explain_graph.py): the graph's walk ends where explain's does."""

import contextlib
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import main  # noqa: E402
from app import explain, explain_graph  # noqa: E402
from layers import Dense  # noqa: E402
from losses import MSE, CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402


def hand_gradients(activation, loss):
    """dW1, db1, dW2, db2 of explain's network through the hand-written layers."""
    hidden, output = Dense(2, 3, init="zeros"), Dense(3, 2, init="zeros")
    hidden.weight.value, hidden.bias.value = Matrix(explain.HIDDEN_WEIGHTS), Matrix(explain.HIDDEN_BIAS)
    output.weight.value, output.bias.value = Matrix(explain.OUTPUT_WEIGHTS), Matrix(explain.OUTPUT_BIAS)
    squash = explain.HIDDEN_ACTIVATIONS[activation][0]()
    criterion = CrossEntropy() if loss == "cross_entropy" else MSE()
    value = criterion.forward(output.forward(squash.forward(hidden.forward(Matrix(explain.INPUTS)))),
                              Matrix(explain.TARGETS))
    hidden.backward(squash.backward(output.backward(criterion.backward())))
    return value, {"dW1": hidden.weight.grad, "db1": hidden.bias.grad,
                   "dW2": output.weight.grad, "db2": output.bias.grad}


class ExplainGraphTest(unittest.TestCase):
    def walks(self, **options):
        hand, graph = [], []
        explain.walk_through(out=hand.append, **options)
        result = explain_graph.graph_walk(out=graph.append, **options)
        return hand, graph, result

    def test_the_walk_ends_with_the_same_update_and_loss_as_explain(self):
        for activation in explain.HIDDEN_ACTIVATIONS:
            for loss in explain.LOSSES:
                hand, graph, _ = self.walks(activation=activation, loss=loss)
                ending = hand[hand.index(next(line for line in hand if line.startswith("UPDATE:"))):]
                self.assertGreater(len(ending), 10)
                self.assertEqual(graph[-len(ending):], ending, f"{activation}, {loss}")

    def test_the_graph_gradients_equal_the_hand_derived_ones(self):
        for activation in explain.HIDDEN_ACTIVATIONS:
            for loss in explain.LOSSES:
                value, expected = hand_gradients(activation, loss)
                result = explain_graph.graph_walk(activation=activation, loss=loss, out=lambda line: None)
                self.assertAlmostEqual(result["loss_before"], value, delta=1e-12)
                for name, matrix in expected.items():
                    for row_a, row_b in zip(result[name].rows, matrix.rows):
                        for a, b in zip(row_a, row_b):
                            self.assertAlmostEqual(a, b, delta=1e-12, msg=f"{activation}, {loss}, {name}")

    def test_backward_visits_every_node_after_all_its_users(self):
        _, graph, result = self.walks()
        order = result["order"]
        self.assertEqual(order[0], "L")
        # cross-entropy's chain: each name after the node computed from it
        chain = ["L", "S", "logP*T", "logP", "Z2", "HW2", "H", "Z1", "XW1", "W1"]
        self.assertEqual([name for name in order if name in chain], chain)
        self.assertEqual(sorted(order), sorted(chain + ["b1", "W2", "b2"]))
        text = "\n".join(graph)
        for piece in ("XW1 = X @ W1", "H = sigmoid(Z1)", "logP = log_softmax(Z2)", "L = S / -2",
                      "the rule of @ sends it on:  dA = dY @ B.T,  dB = A.T @ dY"):
            self.assertIn(piece, text)

    def test_main_explain_autograd(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(main.main(["explain", "--autograd", "--activation", "tanh", "--loss", "mse"]), 0)
        self.assertIn("H = tanh(Z1)", out.getvalue())
        self.assertIn("one step downhill", out.getvalue())


if __name__ == "__main__":
    unittest.main()
