"""Tests for demos/optimizer_comparison.py and demos/benchmark_datasets.py, on runs
cut short (2 epochs) or on tiny made-up data, so they take well under a second.
"""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from app import pipeline  # noqa: E402
from demos import benchmark_datasets, optimizer_comparison  # noqa: E402
from losses import get_loss  # noqa: E402
from network import Network  # noqa: E402
from optimizers import get_optimizer  # noqa: E402
from utils import make_rng  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


class OptimizerComparisonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp()
        cls.chart = os.path.join(cls.folder, "loss.svg")
        cls.model = os.path.join(cls.folder, "best.json")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            cls.status = optimizer_comparison.main(["--epochs", "2", "--chart", cls.chart, "--model", cls.model])
        cls.lines = out.getvalue().splitlines()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.folder)

    def test_the_table_has_one_row_per_optimizer(self):
        self.assertEqual(self.status, 0)
        labels = [label for label, _ in optimizer_comparison.OPTIMIZERS]
        self.assertEqual(labels, ["SGD", "SGD + momentum", "RMSprop", "Adam", "AdamW"])
        rows = [line for line in self.lines if any(line.startswith(label + " ") for label in labels)]
        self.assertEqual(len(rows), 5)

    def test_the_chart_is_well_formed_svg_with_one_curve_and_legend_entry_per_optimizer(self):
        root = ET.parse(self.chart).getroot()  # raises on malformed XML
        self.assertEqual(root.tag, SVG + "svg")
        series = [g for g in root.iter(SVG + "g") if g.get("class") == "series"]
        legend = [g for g in root.iter(SVG + "g") if g.get("class") == "legend-entry"]
        names = [label for label, _ in optimizer_comparison.OPTIMIZERS]
        self.assertEqual([g.get("data-series") for g in series], names)
        self.assertEqual([g.get("data-series") for g in legend], names)
        for g in series:  # two epochs: one line of two points each
            polylines = g.findall(SVG + "polyline")
            self.assertEqual(len(polylines), 1)
            self.assertEqual(len(polylines[0].get("points").split()), 2)
        self.assertTrue(any(g.get("class") == "x-ticks" for g in root.iter(SVG + "g")))

    def test_the_best_model_is_saved_for_predict(self):
        network = pipeline.load_model_for_prediction(self.model)
        self.assertEqual(network.metadata["class_names"], ["setosa", "versicolor", "virginica"])
        widths = [layer.out_features for layer in network.layers if hasattr(layer, "out_features")]
        self.assertEqual(widths, [16, 4, 3])
        self.assertIn(f"saved to {self.model}", self.lines[-1])

    def test_each_run_is_the_same_initial_network_trained_on_the_same_batches(self):
        # rebuild two of the runs from scratch, from the seed alone: the same weights come out
        with contextlib.redirect_stderr(io.StringIO()):
            results = optimizer_comparison.compare(epochs=2, seed=0)
        for index in (0, 3):  # SGD and Adam
            label, settings = optimizer_comparison.OPTIMIZERS[index]
            config = optimizer_comparison.experiment_config(settings, 2, 0)
            data = pipeline.prepare_data(config, make_rng(0))
            network = Network.from_config(config["model"], 4, 3, rng=make_rng(0))
            options = dict(settings)
            optimizer = get_optimizer(options.pop("name"), network.parameters(), **options)
            network.fit(data.inputs(data.train), data.targets(data.train), get_loss("cross_entropy"), optimizer,
                        epochs=2, batch_size=16, rng=make_rng(0))
            with self.subTest(optimizer=label):
                self.assertEqual(results[index]["label"], label)
                self.assertEqual([p.value.tolist() for p in results[index]["network"].parameters()],
                                 [p.value.tolist() for p in network.parameters()])

    def test_first_epoch_reaching_counts_from_one(self):
        self.assertEqual(optimizer_comparison.first_epoch_reaching([0.5, 0.95, 0.97], 0.95), 2)
        self.assertIsNone(optimizer_comparison.first_epoch_reaching([0.5, 0.9], 0.95))


class BenchmarkHelpersTest(unittest.TestCase):
    def test_solve_matches_a_system_solved_by_hand(self):
        # 2x + y = 5, x + 3y = 10  ->  x = 1, y = 3 (the first pivot needs no swap, the
        # second system needs one: its first coefficient is 0)
        for A, b, expected in (([[2, 1], [1, 3]], [5, 10], [1, 3]), ([[0, 1], [1, 0]], [7, 4], [4, 7])):
            for got, want in zip(benchmark_datasets.solve(A, b), expected):
                self.assertAlmostEqual(got, want, places=12)

    def test_least_squares_fits_an_exactly_linear_target(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        with open(os.path.join(folder, "line.csv"), "w", encoding="utf-8") as f:
            f.write("a,b,y\n" + "".join(f"{i},{(i * 7) % 5},{3 * i - 2 * ((i * 7) % 5) + 0.5}\n"
                                         for i in range(30)))
        config = {"task": "regression", "data": {"path": "line.csv", "target": "y"},
                  "model": {"output_activation": "linear"}, "training": {"loss": "mse"}}
        path = os.path.join(folder, "line.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        self.assertAlmostEqual(benchmark_datasets.least_squares_r2(path, seed=0), 1.0, places=9)

    def test_the_table_lines_up_its_columns(self):
        lines = benchmark_datasets.format_table([
            {"name": "iris", "config": "configs/iris.json", "metric": "accuracy", "mean": "0.9600",
             "min": "0.9000", "seconds": "0.3", "target": ">= 0.95", "met": "yes"},
            {"name": "diabetes", "config": "configs/diabetes.json", "metric": "r2", "mean": "0.4946",
             "min": "0.4589", "seconds": "0.5", "target": ">= 0.42", "met": "yes"}])
        self.assertEqual(lines[0].split(), ["data", "set", "config", "metric", "mean", "min", "s/split",
                                            "target", "met"])
        self.assertEqual(lines[2].index("0.9600") + len("0.9600"), lines[3].index("0.4946") + len("0.4946"))


if __name__ == "__main__":
    unittest.main()
