"""Tests for network.py: backpropagation through a whole network, fit, XOR, summary, save and load."""

import io
import json
import math
import os
import random
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ReLU, Sigmoid, Softmax, Tanh  # noqa: E402
from layers import Dense  # noqa: E402
from losses import MSE, BinaryCrossEntropy, CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from app.progress import Progress  # noqa: E402
from network import FORMAT_VERSION, ModelFileError, Network  # noqa: E402
from optimizers import SGD, Adam  # noqa: E402
from tests.gradcheck import assert_close, numerical_gradient, random_matrix  # noqa: E402

XOR_X = Matrix([[0, 0], [0, 1], [1, 0], [1, 1]])
XOR_Y = Matrix([[0], [1], [1], [0]])


def small_classifier(seed=0, n_in=4, hidden=5, n_classes=3):
    rng = random.Random(seed)
    return Network([Dense(n_in, hidden, rng=rng), Tanh(), Dense(hidden, n_classes, init="xavier", rng=rng),
                    Softmax()])


def blobs(seed=0, n=30):
    """Three well separated clusters in 4-D, with one-hot targets."""
    rng = random.Random(seed)
    rows, targets = [], []
    for i in range(n):
        c = i % 3
        rows.append([rng.gauss(3.0 * (c == k), 0.5) for k in range(4)])
        targets.append([1.0 if j == c else 0.0 for j in range(3)])
    return Matrix(rows), Matrix(targets)


class BackpropagationTest(unittest.TestCase):
    """The gradient of the loss in every parameter, through the whole network, by finite differences."""

    def check_network(self, network, X, Y, loss, h):
        layers = network.training_layers(loss)
        loss.forward(network.forward(X, training=True, layers=layers), Y)
        network.backward(loss.backward(), layers=layers)
        analytic = [(p, p.grad.copy()) for p in network.parameters()]
        for index, (param, grad) in enumerate(analytic):
            expected = numerical_gradient(lambda: network.evaluate(X, Y, loss)["loss"], param.value, h)
            assert_close(grad, expected, f"parameter {index} ({param.name})")

    def test_cross_entropy_fused_with_softmax(self):
        rng = random.Random(41)
        network = small_classifier(41)
        X = random_matrix(rng, 6, 4)
        classes = [rng.randrange(3) for _ in range(6)]
        Y = Matrix([[1.0 if j == c else 0.0 for j in range(3)] for c in classes])
        self.check_network(network, X, Y, CrossEntropy(), h=1e-5)

    def test_mse_through_a_softmax_output(self):
        # no fusion with MSE: the gradient goes through Softmax's Jacobian-vector product
        rng = random.Random(42)
        network = small_classifier(42)
        X = random_matrix(rng, 5, 4)
        self.assertIs(network.training_layers(MSE()), network.layers)
        self.check_network(network, X, random_matrix(rng, 5, 3, 0.0, 1.0), MSE(), h=1e-5)

    def test_binary_cross_entropy_fused_with_sigmoid(self):
        rng = random.Random(43)
        network = Network([Dense(3, 4, rng=rng), ReLU(), Dense(4, 2, rng=rng), Sigmoid()])
        for layer in network.layers[::2]:
            layer.bias.value = random_matrix(rng, *layer.bias.shape, 0.5, 1.0)  # keep ReLU inputs off 0
        X = random_matrix(rng, 4, 3, 0.2, 1.0)
        self.check_network(network, X, random_matrix(rng, 4, 2, 0.0, 1.0), BinaryCrossEntropy(), h=1e-5)

    def test_fused_losses_skip_only_their_own_output_activation(self):
        softmax_net, sigmoid_net = small_classifier(), Network([Dense(2, 1), Sigmoid()])
        self.assertEqual(softmax_net.training_layers(CrossEntropy()), softmax_net.layers[:-1])
        self.assertIs(softmax_net.training_layers(BinaryCrossEntropy()), softmax_net.layers)
        self.assertEqual(sigmoid_net.training_layers(BinaryCrossEntropy()), sigmoid_net.layers[:-1])
        self.assertIs(sigmoid_net.training_layers(CrossEntropy()), sigmoid_net.layers)


class FitTest(unittest.TestCase):
    def test_one_full_batch_epoch_is_one_gradient_step(self):
        X, Y = blobs()
        network = small_classifier(1)
        loss = CrossEntropy()
        expected_loss = network.evaluate(X, Y, loss)["loss"]
        # the step by hand: gradients from one backward pass, then p - lr * g
        layers = network.layers[:-1]
        loss.forward(network.forward(X, layers=layers), Y)
        network.backward(loss.backward(), layers=layers)
        expected = [(p.value - p.grad * 0.5).tolist() for p in network.parameters()]
        history = network.fit(X, Y, loss, SGD(network.parameters(), lr=0.5), epochs=1, batch_size=len(X),
                              shuffle=False)
        self.assertEqual([p.value.tolist() for p in network.parameters()], expected)
        self.assertAlmostEqual(history["loss"][0], expected_loss, places=12)

    def test_history_has_one_entry_per_epoch(self):
        X, Y = blobs()
        network = small_classifier()
        history = network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.01), epochs=3,
                              batch_size=8)
        self.assertIn("loss", history)
        self.assertIn("accuracy", history)
        self.assertNotIn("val_loss", history)
        self.assertNotIn("val_accuracy", history)
        for key, values in history.items():
            self.assertEqual(len(values), 3, key)
        self.assertTrue(all(0.0 <= a <= 1.0 for a in history["accuracy"]))

    def test_validation_data_adds_val_loss_and_val_accuracy(self):
        X, Y = blobs()
        X_val, Y_val = blobs(seed=9, n=12)
        network = small_classifier()
        loss = CrossEntropy()
        history = network.fit(X, Y, loss, Adam(network.parameters(), lr=0.01), epochs=2, batch_size=8,
                              validation_data=(X_val, Y_val))
        self.assertEqual(len(history["val_loss"]), 2)
        self.assertEqual(len(history["val_accuracy"]), 2)
        # the last entries are the scores of the trained network on the validation rows
        scores = network.evaluate(X_val, Y_val, loss)
        self.assertAlmostEqual(history["val_loss"][-1], scores["loss"], places=12)
        self.assertEqual(history["val_accuracy"][-1], scores["accuracy"])

    def test_regression_history_has_no_accuracy(self):
        rng = random.Random(2)
        X = random_matrix(rng, 10, 2)
        Y = Matrix([[row[0] - row[1]] for row in X.rows])
        network = Network([Dense(2, 1, rng=rng)])
        history = network.fit(X, Y, MSE(), SGD(network.parameters(), lr=0.1), epochs=20, batch_size=5,
                              validation_data=(X, Y))
        self.assertNotIn("accuracy", history)
        self.assertNotIn("val_accuracy", history)
        self.assertEqual(len(history["val_loss"]), 20)
        self.assertLess(history["loss"][-1], history["loss"][0] / 10)

    def test_fit_is_reproducible_from_the_seed(self):
        X, Y = blobs()
        runs = []
        for _ in range(2):
            network = small_classifier(3)
            network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.01), epochs=2, batch_size=7,
                        rng=random.Random(5))
            runs.append(network.predict(X).tolist())
        self.assertEqual(runs[0], runs[1])

    def test_plain_fit_prints_nothing_and_a_progress_callback_reports_epochs(self):
        X, Y = blobs()
        for verbose in (False, True):
            network = small_classifier()
            out = io.StringIO()
            with redirect_stdout(out):
                network.fit(X, Y, CrossEntropy(), Adam(network.parameters()), epochs=2, batch_size=30,
                            callbacks=[Progress()] if verbose else [])
            if verbose:
                self.assertIn("loss", out.getvalue())
                self.assertIn("2/2", out.getvalue())
            else:
                self.assertEqual(out.getvalue(), "")

    def test_fit_argument_errors(self):
        X, Y = blobs()
        network = small_classifier()
        optimizer = SGD(network.parameters(), lr=0.1)
        cases = [
            (dict(X=X.tolist(), Y=Y, epochs=1, batch_size=4), TypeError, "Matrix"),
            (dict(X=X, Y=Y.take([0, 1]), epochs=1, batch_size=4), ValueError, "X has 30 rows but Y has 2"),
            (dict(X=X, Y=Y, epochs=0, batch_size=4), ValueError, "epochs must be a positive integer, got 0"),
            (dict(X=X, Y=Y, epochs=2.5, batch_size=4), ValueError, "epochs must be a positive integer"),
            (dict(X=X, Y=Y, epochs=True, batch_size=4), ValueError, "epochs must be a positive integer"),
            (dict(X=X, Y=Y, epochs=1, batch_size=0), ValueError, "batch_size must be a positive integer, got 0"),
        ]
        for arguments, error, pattern in cases:
            with self.subTest(pattern=pattern):
                with self.assertRaisesRegex(error, pattern):
                    network.fit(loss=CrossEntropy(), optimizer=optimizer, **arguments)


class XorTest(unittest.TestCase):
    def test_xor_is_learned_to_full_accuracy(self):
        rng = random.Random(0)
        network = Network([Dense(2, 8, init="xavier", rng=rng), Tanh(), Dense(8, 1, init="xavier", rng=rng),
                           Sigmoid()])
        history = network.fit(XOR_X, XOR_Y, BinaryCrossEntropy(), Adam(network.parameters(), lr=0.05),
                              epochs=200, batch_size=4, rng=rng)
        self.assertEqual(network.predict_classes(XOR_X), [0, 1, 1, 0])
        self.assertEqual(history["accuracy"][-1], 1.0)
        self.assertLess(history["loss"][-1], 0.05)
        probabilities = [row[0] for row in network.predict(XOR_X).rows]
        self.assertTrue(all(0.0 < p < 1.0 for p in probabilities))


class InferenceTest(unittest.TestCase):
    def test_predict_returns_probabilities(self):
        X, _ = blobs()
        for row in small_classifier().predict(X).rows:
            self.assertAlmostEqual(sum(row), 1.0, places=12)

    def test_predict_classes_is_the_row_argmax(self):
        network = Network([Dense(2, 2, init="zeros")])
        network.layers[0].bias.value = Matrix([[0.0, 0.0]])
        network.layers[0].weight.value = Matrix([[1.0, 0.0], [0.0, 1.0]])
        self.assertEqual(network.predict_classes(Matrix([[3.0, 1.0], [0.0, 2.0]])), [0, 1])

    def test_single_sigmoid_output_is_thresholded_at_one_half(self):
        network = Network([Dense(1, 1, init="zeros"), Sigmoid()])
        network.layers[0].weight.value = Matrix([[1.0]])
        self.assertEqual(network.predict_classes(Matrix([[-0.1], [0.1], [5.0]])), [0, 1, 1])

    def test_evaluate_accuracy_counts_correct_rows(self):
        network = Network([Dense(2, 2, init="zeros"), Softmax()])
        network.layers[0].weight.value = Matrix([[1.0, 0.0], [0.0, 1.0]])
        X = Matrix([[3.0, 1.0], [0.0, 2.0], [5.0, 0.0], [1.0, 0.0]])
        Y = Matrix([[1, 0], [0, 1], [0, 1], [0, 1]])
        scores = network.evaluate(X, Y, CrossEntropy())
        self.assertEqual(scores["accuracy"], 0.5)
        self.assertAlmostEqual(scores["loss"], CrossEntropy().forward(X, Y), places=15)

    def test_a_network_needs_layers(self):
        with self.assertRaisesRegex(ValueError, "at least one layer"):
            Network([])


class SummaryTest(unittest.TestCase):
    def test_summary_counts_parameters_per_layer(self):
        summary = Network([Dense(4, 16), ReLU(), Dense(16, 3), Softmax()]).summary()
        lines = summary.splitlines()
        dense_lines = [line for line in lines if line.startswith("Dense")]
        # Dense(4, 16): 4 * 16 weights + 16 biases = 80; Dense(16, 3): 48 + 3 = 51
        self.assertTrue(dense_lines[0].startswith("Dense(4 -> 16)"))
        self.assertEqual(dense_lines[0].split()[-1], "80")
        self.assertIn("(None, 16)", dense_lines[0])
        self.assertEqual(dense_lines[1].split()[-1], "51")
        self.assertIn("(None, 3)", dense_lines[1])
        relu_line = next(line for line in lines if line.startswith("ReLU"))
        self.assertEqual(relu_line.split()[-1], "0")
        self.assertEqual(lines[-1], "Total parameters: 131")

    def test_large_counts_use_thousands_separators(self):
        # 100 * 10 weights + 10 biases
        self.assertIn("Total parameters: 1,010", Network([Dense(100, 10, init="zeros")]).summary())


class ConfigTest(unittest.TestCase):
    def test_from_config_builds_the_described_layers(self):
        config = {"hidden_layers": [{"units": 16, "activation": "relu"}, {"units": 8, "activation": "tanh"}],
                  "output_activation": "softmax", "init": "he"}
        network = Network.from_config(config, n_inputs=4, n_outputs=3)
        self.assertEqual([repr(layer) for layer in network.layers],
                         ["Dense(4 -> 16)", "ReLU()", "Dense(16 -> 8)", "Tanh()", "Dense(8 -> 3)", "Softmax()"])
        self.assertEqual(network.layers[-2].init, "xavier")  # the output layer of a He network

    def test_linear_output_adds_no_activation(self):
        network = Network.from_config({"hidden_layers": [], "output_activation": "linear"}, 3, 1)
        self.assertEqual([repr(layer) for layer in network.layers], ["Dense(3 -> 1)"])

    def test_same_seed_same_network(self):
        config = {"hidden_layers": [{"units": 4}]}
        first = Network.from_config(config, 2, 2, rng=random.Random(1))
        second = Network.from_config(config, 2, 2, rng=random.Random(1))
        self.assertEqual([p.value.rows for p in first.parameters()], [p.value.rows for p in second.parameters()])


class SaveLoadTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.folder.name, "model.json")

    def tearDown(self):
        self.folder.cleanup()

    def trained_network(self):
        X, Y = blobs()
        network = small_classifier(7)
        network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.05), epochs=2, batch_size=10)
        network.metadata = {"class_names": ["a", "b", "c"], "task": "classification"}
        return network, X

    def saved_data(self):
        network, _ = self.trained_network()
        network.save(self.path)
        with open(self.path, encoding="utf-8") as f:
            return json.load(f)

    def write(self, data):
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(data if isinstance(data, str) else json.dumps(data))

    def test_round_trip_gives_identical_predictions(self):
        network, X = self.trained_network()
        network.save(self.path)
        loaded = Network.load(self.path)
        self.assertEqual(loaded.predict(X).tolist(), network.predict(X).tolist())  # bit for bit
        self.assertEqual([repr(layer) for layer in loaded.layers], [repr(layer) for layer in network.layers])
        self.assertEqual(loaded.metadata, network.metadata)

    def test_the_file_is_json_with_a_format_and_version(self):
        data = self.saved_data()
        self.assertEqual(data["format"], "pure-python-neural-network")
        self.assertEqual(data["format_version"], FORMAT_VERSION)
        self.assertEqual([layer["type"] for layer in data["layers"]], ["Dense", "Tanh", "Dense", "Softmax"])
        self.assertEqual(len(data["layers"][0]["parameters"]["weight"]), 4)
        self.assertEqual(os.listdir(self.folder.name), ["model.json"])  # no temporary file left behind

    def test_a_newer_format_version_is_a_clear_error(self):
        data = self.saved_data()
        data["format_version"] = FORMAT_VERSION + 1
        self.write(data)
        with self.assertRaisesRegex(ModelFileError, "newer version of this framework"):
            Network.load(self.path)

    def test_a_version_that_is_not_an_integer(self):
        data = self.saved_data()
        data["format_version"] = "1"
        self.write(data)
        with self.assertRaisesRegex(ModelFileError, "'format_version' must be an integer"):
            Network.load(self.path)

    def test_truncated_file(self):
        self.saved_data()
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        self.write(text[:len(text) // 2])
        with self.assertRaisesRegex(ModelFileError, "damaged or truncated"):
            Network.load(self.path)

    def test_binary_garbage(self):
        with open(self.path, "wb") as f:
            f.write(b"\xff\xfe\x00garbage")
        with self.assertRaisesRegex(ModelFileError, "not a valid model file"):
            Network.load(self.path)

    def test_json_of_something_else(self):
        for data in ([1, 2], {"format": "keras"}, {}):
            with self.subTest(data=data):
                self.write(data)
                with self.assertRaisesRegex(ModelFileError, "not a model file of this framework"):
                    Network.load(self.path)

    def test_missing_file(self):
        with self.assertRaisesRegex(ModelFileError, "model file not found"):
            Network.load(os.path.join(self.folder.name, "nothing.json"))

    def test_wrong_weight_shape_names_the_field(self):
        data = self.saved_data()
        data["layers"][2]["parameters"]["weight"] = [[0.0] * 3] * 4  # Dense(5 -> 3) needs (5, 3)
        self.write(data)
        with self.assertRaisesRegex(ModelFileError,
                                    r"layers\[2\]\.parameters\.weight: shape \(4, 3\) does not match the layer's \(5, 3\)"):
            Network.load(self.path)

    def test_missing_or_damaged_weights(self):
        data = self.saved_data()
        del data["layers"][0]["parameters"]["bias"]
        self.write(data)
        with self.assertRaisesRegex(ModelFileError, r"layers\[0\]\.parameters: missing 'bias'"):
            Network.load(self.path)
        data = self.saved_data()
        data["layers"][0]["parameters"]["weight"][1][2] = "x"
        self.write(data)
        with self.assertRaisesRegex(ModelFileError, r"layers\[0\]\.parameters\.weight: row 1, column 2"):
            Network.load(self.path)

    def test_unknown_layer_type(self):
        data = self.saved_data()
        data["layers"][1]["type"] = "Conv3D"
        self.write(data)
        with self.assertRaisesRegex(ModelFileError, r"layers\[1\]: unknown layer type 'Conv3D'; valid: .*Dense"):
            Network.load(self.path)
        for kind in (["Dense"], {"name": "Dense"}, None):
            with self.subTest(kind=kind):
                data["layers"][1]["type"] = kind
                self.write(data)
                with self.assertRaisesRegex(ModelFileError, r"layers\[1\]: unknown layer type"):
                    Network.load(self.path)

    def test_bad_layer_config(self):
        data = self.saved_data()
        data["layers"][0]["config"]["in_features"] = 0
        self.write(data)
        with self.assertRaisesRegex(ModelFileError, r"layers\[0\]\.config: .*in_features"):
            Network.load(self.path)

    def test_layers_that_do_not_connect(self):
        with self.assertRaisesRegex(ValueError, r"^layer 2: Dense\(6 -> 3\) takes 6 features, but its input "
                                                r"has shape \(5,\)"):
            Network([Dense(4, 5), ReLU(), Dense(6, 3)])
        data = Network([Dense(4, 5), ReLU(), Dense(5, 3)]).to_dict()
        data["layers"][2] = Network([Dense(6, 3)]).to_dict()["layers"][0]
        with self.assertRaisesRegex(ModelFileError, r"layer 2: Dense\(6 -> 3\) takes 6 features"):
            Network.from_dict(data)

    def test_saving_replaces_an_older_file(self):
        self.write("old contents")
        network, X = self.trained_network()
        network.save(self.path)
        self.assertEqual(Network.load(self.path).predict(X).tolist(), network.predict(X).tolist())


if __name__ == "__main__":
    unittest.main()
