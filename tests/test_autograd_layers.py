"""The framework checking itself: hand-written layers and losses against the same maths as a graph.

Each hand-derived backward pass (layers.py, activations.py, losses.py) is rebuilt here from
Tensor operations, given the same weights, data and upstream gradient, and must give the same
outputs and gradients to 1e-12. Then AutogradLayer: a layer written as a forward alone trains,
saves, loads and shows in summary() like any other.
"""

import contextlib
import io
import os
import random
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import activations  # noqa: E402
import network  # noqa: E402
from activations import LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402
from autograd import Tensor  # noqa: E402
from autograd_nn import AutogradLayer, binary_cross_entropy, columns, cross_entropy, mse  # noqa: E402
from layers import BatchNorm, Dense  # noqa: E402
from losses import MSE, BinaryCrossEntropy, CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network, register_layer  # noqa: E402
from optimizers import Adam  # noqa: E402
from tests.gradcheck import check_layer, random_matrix, upstream_gradient  # noqa: E402

TOLERANCE = 1e-12


def assert_same(test, mine, reference, what):
    """Every entry within 1e-12, relative to the entry's size when it is above 1."""
    test.assertEqual(mine.shape, reference.shape, what)
    for i, (row_a, row_b) in enumerate(zip(mine.rows, reference.rows)):
        for j, (a, b) in enumerate(zip(row_a, row_b)):
            if not abs(a - b) <= TOLERANCE * max(1.0, abs(b)):
                test.fail(f"{what}[{i}][{j}]: graph {a!r} vs hand-written {b!r}")


def compare_layer(test, layer, graph, x, rng, training=False, what="layer"):
    """Run `layer` (hand-written) and `graph(x, parameters)` (Tensor operations on the layer's own
    parameter values) forward and backward with one upstream gradient; compare Y, dX, each dP."""
    y = layer.forward(x, training=training)
    grad = upstream_gradient(rng, *y.shape)
    dx = layer.backward(grad)
    x_tensor = Tensor(x, requires_grad=True)
    parameters = [Tensor(p.value.copy(), requires_grad=True) for p in layer.parameters()]
    y_graph = graph(x_tensor, *parameters)
    y_graph.backward(grad)
    assert_same(test, y_graph.data, y, f"{what} Y")
    assert_same(test, x_tensor.grad, dx, f"{what} dX")
    for tensor, parameter in zip(parameters, layer.parameters()):
        assert_same(test, tensor.grad, parameter.grad, f"{what} d{parameter.name}")


class HandWrittenAgainstGraphTest(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(12)

    def test_dense(self):
        for n, n_in, n_out in ((1, 3, 2), (4, 5, 3), (7, 2, 6)):
            layer = Dense(n_in, n_out, rng=self.rng)
            layer.bias.value = random_matrix(self.rng, 1, n_out)
            compare_layer(self, layer, lambda x, w, b: x @ w + b, random_matrix(self.rng, n, n_in), self.rng,
                          what=f"Dense({n_in} -> {n_out})")

    def test_every_activation(self):
        graphs = {
            "sigmoid": (Sigmoid(), lambda x: x.sigmoid()),
            "relu": (ReLU(), lambda x: x.relu()),
            "leaky_relu": (LeakyReLU(0.1), lambda x: x.leaky_relu(0.1)),
            "tanh": (Tanh(), lambda x: x.tanh()),
            "linear": (Linear(), lambda x: x * 1.0),
            "softmax": (Softmax(), lambda x: x.softmax()),
        }
        for n, c in ((1, 4), (5, 3), (3, 7)):
            x = random_matrix(self.rng, n, c, -3.0, 3.0, away_from_zero=0.01)
            for name, (layer, graph) in graphs.items():
                compare_layer(self, layer, graph, x, self.rng, what=name)

    def test_every_loss(self):
        for n, c in ((1, 3), (6, 4), (4, 1)):
            z = random_matrix(self.rng, n, c, -3.0, 3.0)
            labels = [self.rng.randrange(c) for _ in range(n)]
            one_hot = Matrix([[1.0 if j == t else 0.0 for j in range(c)] for t in labels])
            bits = Matrix([[float(self.rng.random() < 0.5) for _ in range(c)] for _ in range(n)])
            target = random_matrix(self.rng, n, c)
            cases = [("MSE", MSE(), mse, target), ("BinaryCrossEntropy", BinaryCrossEntropy(),
                                                   binary_cross_entropy, bits)]
            if c > 1:
                cases += [("CrossEntropy one-hot", CrossEntropy(), cross_entropy, one_hot),
                          ("CrossEntropy indices", CrossEntropy(), cross_entropy, labels)]
            for name, loss, graph, y in cases:
                value = loss.forward(z, y)
                reference = loss.backward()
                z_tensor = Tensor(z, requires_grad=True)
                graph_loss = graph(z_tensor, y)
                graph_loss.backward()
                self.assertAlmostEqual(graph_loss.item(), value, delta=TOLERANCE * max(1.0, abs(value)), msg=name)
                assert_same(self, z_tensor.grad, reference, f"{name} dZ")

    def test_batch_norm_in_training_and_in_evaluation(self):
        eps = 1e-5

        def training_graph(x, gamma, beta):
            centered = x - x.mean(axis=0)
            variance = (centered * centered).mean(axis=0)
            return centered * (variance + eps) ** -0.5 * gamma + beta

        for n, c in ((2, 3), (5, 4), (8, 1)):
            layer = BatchNorm(c, eps=eps)
            layer.gamma.value, layer.beta.value = random_matrix(self.rng, 1, c), random_matrix(self.rng, 1, c)
            x = random_matrix(self.rng, n, c)
            compare_layer(self, layer, training_graph, x, self.rng, training=True, what=f"BatchNorm train {(n, c)}")
            mean, variance = layer.running_mean, layer.running_var  # now updated by the training pass

            def evaluation_graph(x, gamma, beta):
                return (x - mean) * (Tensor(variance) + eps) ** -0.5 * gamma + beta
            compare_layer(self, layer, evaluation_graph, x, self.rng, what=f"BatchNorm eval {(n, c)}")


# ------------------------------------------------------------------ AutogradLayer
class SiLU(AutogradLayer):
    """x * sigmoid(x) (PyTorch's SiLU, the docs' Swish), written as a forward alone."""

    name = "silu_test"

    def forward_tensor(self, x):
        return x * x.sigmoid()


class Scale(AutogradLayer):
    """Y = X * s + t, a learned scale and shift per feature (parameters declared as Tensors)."""

    def __init__(self, features):
        self.features = features
        self.scale = Tensor(Matrix.full(1, features, 1.0), requires_grad=True)
        self.shift = Tensor(Matrix.zeros(1, features), requires_grad=True)

    def forward_tensor(self, x):
        return x * self.scale + self.shift

    def get_config(self):
        return {"features": self.features}

    def __repr__(self):
        return f"Scale({self.features})"


def xor_data():
    X = Matrix([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = Matrix([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    return X, Y


def registered(test, *classes):
    """Register classes for one test only: the registries are restored afterwards, so that no
    other test sees them (every_layer() in test_layer_base walks LAYER_TYPES)."""
    for registry in (network.LAYER_TYPES, activations.ACTIVATIONS):
        patcher = mock.patch.dict(registry)
        patcher.start()
        test.addCleanup(patcher.stop)
    for cls in classes:
        register_layer(cls)


class AutogradLayerTest(unittest.TestCase):
    def setUp(self):
        registered(self, SiLU, Scale)

    def test_custom_layers_pass_the_gradient_check(self):
        rng = random.Random(3)
        for n, c in ((1, 3), (4, 2), (3, 5)):
            check_layer(SiLU(), random_matrix(rng, n, c, -3.0, 3.0), rng, what="SiLU")
            layer = Scale(c)
            layer.scale.data, layer.shift.data = random_matrix(rng, 1, c), random_matrix(rng, 1, c)
            check_layer(layer, random_matrix(rng, n, c), rng, what="Scale")

    def test_parameters_are_the_tensor_attributes_named_by_attribute(self):
        layer = Scale(3)
        self.assertEqual([p.name for p in layer.parameters()], ["scale", "shift"])
        layer.forward(Matrix([[1.0, 2.0, 3.0]]))
        self.assertEqual([p.name for p in layer.parameters()], ["scale", "shift"])  # the saved graph is not one

    def test_first_layer_skips_the_input_gradient(self):
        layer = Scale(2)
        layer.forward(Matrix([[1.0, 2.0]]), training=True)
        self.assertIsNone(layer.backward(Matrix([[1.0, -1.0]]), input_grad=False))
        self.assertEqual(layer.scale.grad.rows, [[1.0, -2.0]])
        self.assertEqual(layer.backward(Matrix([[1.0, -1.0]])).rows, [[1.0, -1.0]])
        self.assertEqual(layer.scale.grad.rows, [[1.0, -2.0]])  # set, not accumulated, as Dense does

    def test_a_custom_layer_trains_saves_loads_and_shows_in_summary(self):
        rng = random.Random(0)
        X, Y = xor_data()
        network = Network([Dense(2, 8, rng=rng), SiLU(), Scale(8), Dense(8, 2, rng=rng), Softmax()])
        summary = network.summary()
        self.assertIn("SiLU()", summary)
        self.assertRegex(summary, r"Scale\(8\)\s+\(None, 8\)\s+16")
        network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.05), epochs=300, batch_size=4,
                    rng=rng)
        self.assertEqual(network.predict_classes(X), [0, 1, 1, 0])
        self.assertNotEqual(network.layers[2].scale.data.rows, [[1.0] * 8])  # the custom parameters trained
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            network.save(path)
            loaded = Network.load(path)
        self.assertEqual(loaded.predict(X).rows, network.predict(X).rows)
        self.assertEqual(loaded.layers[2].shift.data.rows, network.layers[2].shift.data.rows)

    def test_a_registered_layer_trains_from_a_config(self):
        from demos import custom_layer
        registered(self, custom_layer.Swish, custom_layer.LearnedSwish)
        out = io.StringIO()
        with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out):
            custom_layer.from_the_config(epochs=3, folder=folder)
            self.assertTrue(custom_layer.from_python(epochs=3, folder=folder))
        self.assertIn("config, hidden activation 'swish': Swish()", out.getvalue())
        self.assertIn("LearnedSwish(16)                    (None, 16)                  16", out.getvalue())
        with self.assertRaisesRegex(ValueError, "already taken"):
            class Other(AutogradLayer):
                name = "swish"
            register_layer(Other)

    def test_an_unregistered_layer_is_an_unknown_activation_in_a_config(self):
        from app.config import ConfigError, validate_config
        config = {"data": {"path": "x.csv", "target": "y"},
                  "model": {"hidden_layers": [{"units": 4, "activation": "silu_test"}]}}
        validate_config(config)  # registered in setUp
        activations.ACTIVATIONS.pop("silu_test")
        with self.assertRaisesRegex(ConfigError, "unknown activation 'silu_test'"):
            validate_config(config)

    def test_output_shape_comes_from_tracing_the_forward(self):
        class FirstHalf(AutogradLayer):
            def forward_tensor(self, x):
                return columns(x, 0, x.shape[1] // 2)

        network = Network([Dense(3, 4), SiLU(), FirstHalf(), Dense(2, 1)])
        self.assertEqual(network.shapes, [(4,), (4,), (2,), (1,)])
        with self.assertRaisesRegex(ValueError, r"layer 1: Scale\(3\) cannot take inputs of shape \(4,\)"):
            Network([Dense(3, 4), Scale(3)])


if __name__ == "__main__":
    unittest.main()
