"""Tests for seeing inside training: diagnostics, the progress report, the charts and `explain`."""

import contextlib
import io
import math
import os
import random
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import explain  # noqa: E402
import main  # noqa: E402
from activations import ReLU, Sigmoid  # noqa: E402
from app.diagnostics import Diagnostics  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import SGD  # noqa: E402
from app.progress import Progress, loss_text_chart, training_chart_svg  # noqa: E402


def two_classes(rng, n_rows=32, n_features=4):
    X = Matrix([[rng.gauss(0, 1) for _ in range(n_features)] for _ in range(n_rows)])
    Y = Matrix([[1.0, 0.0] if row[0] + row[1] > 0 else [0.0, 1.0] for row in X.rows])
    return X, Y


def deep_network(activation, init, rng, depth=6, width=10):
    layers, width_in = [], 4
    for _ in range(depth):
        layers += [Dense(width_in, width, init=init, rng=rng), activation()]
        width_in = width
    return Network(layers + [Dense(width, 2, init="xavier", rng=rng)])


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class DiagnosticsTest(unittest.TestCase):
    def diagnose(self, network, X, Y, lr=0.1, epochs=1):
        diagnostics = Diagnostics()
        out = io.StringIO()
        network.fit(X, Y, CrossEntropy(), SGD(network.parameters(), lr=lr), epochs=epochs, batch_size=8,
                    rng=random.Random(1), callbacks=[Progress(epochs, 4, stream=out), diagnostics])
        return diagnostics.records[-1], out.getvalue()

    def test_deep_sigmoid_gradients_vanish_in_the_early_layers_and_relu_ones_do_not(self):
        X, Y = two_classes(random.Random(0))
        sigmoid, sigmoid_text = self.diagnose(deep_network(Sigmoid, "xavier", random.Random(2)), X, Y)
        relu, relu_text = self.diagnose(deep_network(ReLU, "he", random.Random(2)), X, Y)
        # the chain rule multiplies by sigmoid' <= 0.25 once per layer on the way back
        self.assertLess(sigmoid[0]["grad_norm"], 1e-3 * sigmoid[-1]["grad_norm"])
        self.assertLess(sigmoid[0]["grad_norm"], 1e-3)
        self.assertGreater(relu[0]["grad_norm"], 0.1 * relu[-1]["grad_norm"])
        self.assertIn("warning: vanishing gradients at layer 1", sigmoid_text)
        self.assertNotIn("vanishing", relu_text)
        self.assertEqual(len(sigmoid), 7)  # six hidden layers and the output layer

    def test_grad_norm_and_update_ratio_match_a_hand_computation_for_one_step(self):
        rng = random.Random(3)
        X, Y = two_classes(rng, n_rows=8)
        network = Network([Dense(4, 2, rng=rng)])
        weight = network.layers[0].weight
        before = weight.value.copy()
        record, _ = self.diagnose(network, X, Y, lr=0.5)  # one batch of 8 rows: one step
        # plain SGD: W_after - W_before = -lr * dW, so the update ratio is lr * ||dW|| / ||W||
        grad_norm = math.sqrt(sum(g * g for row in weight.grad.rows for g in row))
        weight_norm = math.sqrt(sum(w * w for row in before.rows for w in row))
        self.assertAlmostEqual(record[0]["grad_norm"], grad_norm, places=12)
        self.assertAlmostEqual(record[0]["update_ratio"], 0.5 * grad_norm / weight_norm, places=12)

    def test_relu_units_that_never_fire_are_counted_dead(self):
        rng = random.Random(4)
        X, Y = two_classes(rng)
        network = Network([Dense(4, 4, rng=rng), ReLU(), Dense(4, 2, rng=rng)])
        network.layers[0].bias.value = Matrix([[-100.0, -100.0, -100.0, 0.0]])  # three units can never fire
        record, text = self.diagnose(network, X, Y, lr=0.01)
        self.assertEqual(record[0]["dead_relu"], 0.75)
        self.assertIn("dead ReLU units at layer 1: 75%", text)

    def test_sigmoid_outputs_at_the_ends_of_their_range_count_as_saturated(self):
        rng = random.Random(5)
        X, Y = two_classes(rng)
        network = Network([Dense(4, 3, rng=rng), Sigmoid(), Dense(3, 2, rng=rng)])
        network.layers[0].bias.value = Matrix([[50.0, -50.0, 0.0]])  # sigmoid(50) ~ 1, sigmoid(-50) ~ 0
        network.layers[0].weight.value = Matrix.zeros(4, 3)
        record, text = self.diagnose(network, X, Y, lr=0.01)
        self.assertAlmostEqual(record[0]["saturated"], 2 / 3)
        self.assertIn("saturation at layer 1", text)

    def test_each_warning_is_printed_once(self):
        X, Y = two_classes(random.Random(0))
        _, text = self.diagnose(deep_network(Sigmoid, "xavier", random.Random(2)), X, Y, epochs=3)
        self.assertEqual(text.count("warning: vanishing gradients at layer 1"), 1)
        self.assertEqual(text.count("diagnostics after epoch"), 3)


class ProgressTest(unittest.TestCase):
    def fit(self, stream=None, verbose=True, epochs=2):
        rng = random.Random(6)
        X, Y = two_classes(rng, n_rows=20)
        network = Network([Dense(4, 2, rng=rng)])
        progress = Progress(epochs, 3, stream=stream) if stream is not None else Progress()
        network.fit(X, Y, CrossEntropy(), SGD(network.parameters(), lr=0.1), epochs=epochs, batch_size=8,
                    rng=rng, callbacks=[progress] if verbose else [])

    def test_no_bar_when_the_output_is_not_a_terminal(self):
        out = io.StringIO()
        self.fit(out)
        text = out.getvalue()
        self.assertFalse(Progress(2, 3, stream=io.StringIO()).bar)
        self.assertNotIn("\r", text)
        self.assertNotIn("samples/s", text)
        self.assertEqual([line.split()[:2] for line in text.splitlines()], [["epoch", "1/2"], ["epoch", "2/2"]])

    def test_a_terminal_gets_a_bar_with_batches_speed_loss_and_time_left(self):
        out = _Terminal()
        self.fit(out)
        text = out.getvalue()
        self.assertTrue(Progress(2, 3, stream=_Terminal()).bar)
        self.assertIn("\r", text)
        self.assertRegex(text, r"epoch 1/2 \[#+\.*\] 3/3 batches +[\d,]+ samples/s +loss \d\.\d{4} +ETA 0:00")
        self.assertIn("epoch 2/2  loss", text)  # the summary line replaces the bar

    def test_a_narrow_terminal_drops_the_bar_but_keeps_the_numbers(self):
        out = _Terminal()
        progress = Progress(10, 100, stream=out, width=60)
        progress.start_epoch(1)
        progress.batch_done(100, 3200, 320.0)
        line = out.getvalue().strip("\r")
        self.assertLess(len(line), 60)
        self.assertIn("100/100 batches", line)

    def test_quiet_prints_nothing(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.fit(verbose=False)
        self.assertEqual(out.getvalue(), "")


SVG = "{http://www.w3.org/2000/svg}"


class ChartTest(unittest.TestCase):
    def test_the_svg_has_training_and_validation_curves_but_not_the_rate(self):
        history = {"loss": [1.0, 0.5, 0.4], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.6, 0.5],
                   "val_accuracy": [0.4, 0.6, 0.7], "lr": [0.1, 0.1, 0.05]}
        svg = training_chart_svg(history)
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            self.assertIn(f'data-series="{name}"', svg)
        self.assertNotIn('data-series="lr"', svg)

    def panels(self, svg):
        """Each panel of the chart: its y label, its series and its x tick labels."""
        root = ET.fromstring(svg.split("\n", 1)[1])
        found = []
        for panel in root.findall(f"{SVG}svg"):
            label = panel.find(f"{SVG}text[@class='y-label']").text
            series = [g.get("data-series") for g in panel.findall(f"{SVG}g[@class='series']")]
            ticks = [t.text for t in panel.find(f"{SVG}g[@class='x-ticks']")]
            found.append((label, series, ticks))
        return found

    def test_loss_and_accuracy_have_panels_of_their_own_with_epochs_from_one(self):
        history = {"loss": [1.0, 0.5, 0.4], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.6, 0.5],
                   "val_accuracy": [0.4, 0.6, 0.7], "lr": [0.1, 0.1, 0.05]}
        self.assertEqual(self.panels(training_chart_svg(history, title="iris.csv trained with iris.json")), [
            ("loss", ["loss", "val_loss"], ["1", "2", "3"]),
            ("accuracy", ["accuracy", "val_accuracy"], ["1", "2", "3"])])
        self.assertIn("iris.csv trained with iris.json", training_chart_svg(history, title="iris.csv trained with iris.json"))

    def test_a_loss_that_spans_decades_gets_a_log_axis(self):
        diverging = {"loss": [1.0, 0.8, 50.0, 3e20, float("inf")], "lr": [0.1] * 5}
        self.assertEqual(self.panels(training_chart_svg(diverging))[0][0], "loss (log scale)")
        calm = {"loss": [1.0, 0.5, 0.2], "lr": [0.1] * 3}
        self.assertEqual(self.panels(training_chart_svg(calm)), [("loss", ["loss"], ["1", "2", "3"])])

    def test_the_cli_chart_names_the_data_and_config_and_marks_the_kept_epoch(self):
        from app import pipeline
        network = Network([Dense(2, 2)], metadata={"early_stopping": {
            "monitor": "val_loss", "best_epoch": 7, "stopped_epoch": 12, "restored": True}})
        self.assertEqual(pipeline.chart_marks(network), [(7, "weights kept: epoch 7")])
        network.metadata["early_stopping"]["restored"] = False
        self.assertEqual(pipeline.chart_marks(network), [])
        self.assertEqual(pipeline.chart_marks(Network([Dense(2, 2)])), [])
        config = {"data": {"path": "data/iris.csv"}}
        self.assertEqual(pipeline.chart_title(config, "configs/iris.json", network),
                         "iris.csv trained with configs/iris.json")

    def test_the_early_stopping_epoch_is_marked_on_every_panel(self):
        history = {"loss": [1.0, 0.5, 0.4, 0.3], "accuracy": [0.5, 0.7, 0.8, 0.9], "lr": [0.1] * 4}
        svg = training_chart_svg(history, marks=[(2, "weights kept: epoch 2")])
        self.assertEqual(svg.count('class="mark"'), 2)
        self.assertIn("weights kept: epoch 2", svg)

    def test_the_text_chart_spans_the_loss(self):
        text = loss_text_chart({"loss": [2.0, 1.0, 0.5]})
        self.assertIn("2 |*", text)
        self.assertIn("0.5 |", text)


class ExplainTest(unittest.TestCase):
    def run_explain(self, **options):
        lines = []
        before, after = explain.walk_through(out=lines.append, **options)
        return "\n".join(lines), before, after

    def test_every_step_is_printed_and_the_step_goes_downhill(self):
        for activation in explain.HIDDEN_ACTIVATIONS:
            for loss in explain.LOSSES:
                text, before, after = self.run_explain(activation=activation, loss=loss)
                self.assertLess(after, before, f"{activation}, {loss}")
                for piece in ("Z1 = X @ W1 + b1", "dL/dW2 = H.T @ dZ2", "dL/dH = dZ2 @ W2.T",
                              f"dL/dZ1 = dH * {activation}'(Z1)", "dL/dW1 = X.T @ dZ1", "W1 new"):
                    self.assertIn(piece, text)

    def test_the_printed_numbers_agree_with_a_hand_computation(self):
        text, before, _ = self.run_explain()
        # Z1[0][0] = 1 * 0.1 + 2 * 0.4 + 0 = 0.9; H[0][0] = sigmoid(0.9)
        self.assertIn("= 0.9000", text)
        self.assertIn(f"H[0][0] = sigmoid(0.9000) = {1 / (1 + math.exp(-0.9)):.4f}", text)
        self.assertIn(f"= {before:.4f}", text)

    def test_a_learning_rate_that_overshoots_is_called_out(self):
        text, before, after = self.run_explain(loss="mse", lr=50.0)
        self.assertGreater(after, before)
        self.assertIn("overshot", text)

    def test_main_explain_runs_from_the_commands_table(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(main.main(["explain", "--activation", "relu", "--lr", "0.1"]), 0)
        self.assertIn("BACKWARD PASS", out.getvalue())
        self.assertIn("relu'(Z1)", out.getvalue())


if __name__ == "__main__":
    unittest.main()
