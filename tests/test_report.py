"""Tests for the HTML training report (app/report.py, app/report_charts.py): it parses, every
picture parses, each kind of run has its pictures, no label runs past its room, and a real
browser (when installed) draws something."""

import contextlib
import html.parser
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import main  # noqa: E402
from activations import ReLU  # noqa: E402
from app.report import ReportCollector, report_html, snapshot_epochs  # noqa: E402
from app.report_charts import TEXT_WIDTH, fit_text, heatmap_svg  # noqa: E402
from conv import Conv2D  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from pooling import Flatten  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


class _Checker(html.parser.HTMLParser):
    """Collects the tags left open or closed out of order, and the <svg> blocks' text."""

    VOID = {"meta", "br", "img", "hr", "input", "link", "line", "rect", "circle", "polyline", "path"}

    def __init__(self):
        super().__init__()
        self.stack, self.problems = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def svgs_of(page):
    """Every top-level <svg> element of the page, parsed by xml.etree."""
    found, start = [], 0
    while True:
        start = page.find("<svg", start)
        if start < 0:
            return found
        depth, position = 0, start
        while True:
            opening, closing = page.find("<svg", position), page.find("</svg>", position)
            if opening != -1 and opening < closing:
                depth, position = depth + 1, opening + 4
            else:
                depth, position = depth - 1, closing + 6
                if depth == 0:
                    break
        found.append(ET.fromstring(page[start:position]))
        start = position


def check_page(test, page):
    checker = _Checker()
    checker.feed(page)
    checker.close()
    test.assertEqual(checker.problems, [])
    test.assertEqual(checker.stack, [])
    test.assertNotIn("<script", page)
    test.assertNotIn("http://", page.replace("http://www.w3.org/2000/svg", ""))
    pictures = svgs_of(page)
    for picture in pictures:  # no label longer than the room it was given
        for text in picture.iter(f"{SVG}text"):
            room = text.get("data-room")
            if room is not None:
                test.assertLessEqual(len(text.text or "") * TEXT_WIDTH, float(room) + 0.5, text.text)
    return pictures


def kinds(pictures):
    return [picture.get("class") or "chart" for picture in pictures]


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(header) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))


class ReportFromTheCommandLineTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def run_main(self, config, *options):
        path = os.path.join(self.folder, "config.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main.main(["--config", path, "--quiet", *options])
        return status, out.getvalue(), err.getvalue()

    def config(self, data, target, **training):
        return {"seed": 1, "data": {"path": data, "target": target, "validation_fraction": 0.2},
                "model": {"hidden_layers": [{"units": 6, "activation": "relu"}]},
                "training": dict({"optimizer": {"name": "adam", "lr": 0.02}, "epochs": 6, "batch_size": 8},
                                 **training),
                "output": {"model_path": os.path.join(self.folder, "model.json"), "plot": ""}}

    def test_a_classification_report_has_curves_layers_gradients_and_the_confusion_matrix(self):
        data = os.path.join(self.folder, "data.csv")
        write_csv(data, ["a", "b", "label"], [[i % 7, (i * 3) % 5, "yes" if i % 7 > 3 else "no"] for i in range(60)])
        status, out, _ = self.run_main(self.config(data, "label"), "--report")
        self.assertEqual(status, 0)
        path = os.path.join(self.folder, "model_report.html")
        self.assertIn(f"report saved to {path}", out)
        with open(path, encoding="utf-8") as f:
            page = f.read()
        pictures = check_page(self, page)
        # curves; per layer (2 Dense) weights and gradients; gradient-norm heat map; confusion matrix
        self.assertEqual(kinds(pictures), ["chart", "histograms", "histograms", "histograms", "histograms",
                                           "heatmap", "heatmap"])
        self.assertIn("Confusion matrix", page)
        self.assertIn("precision", page)

    def test_a_regression_report_shows_predictions_and_residuals(self):
        data = os.path.join(self.folder, "data.csv")
        write_csv(data, ["x", "y"], [[i / 10, 2 * i / 10 + 1] for i in range(50)])
        config = self.config(data, "y", loss="mse")
        config["task"] = "regression"
        config["model"]["output_activation"] = "linear"
        status, _, _ = self.run_main(config, "--report", os.path.join(self.folder, "r.html"))
        self.assertEqual(status, 0)
        with open(os.path.join(self.folder, "r.html"), encoding="utf-8") as f:
            pictures = check_page(self, f.read())
        self.assertEqual(kinds(pictures)[-2:], ["scatter", "scatter"])

    def test_a_diverging_run_still_leaves_its_report_and_fails_with_one_line(self):
        data = os.path.join(self.folder, "data.csv")
        write_csv(data, ["x", "y"], [[i, 1000 * i] for i in range(40)])
        config = self.config(data, "y", loss="mse", optimizer={"name": "sgd", "lr": 50.0})
        config["task"] = "regression"
        config["model"]["output_activation"] = "linear"
        status, _, err = self.run_main(config, "--report")
        self.assertEqual(status, 2)
        self.assertIn("error: training diverged", err)
        with open(os.path.join(self.folder, "model_report.html"), encoding="utf-8") as f:
            page = f.read()
        check_page(self, page)
        self.assertIn('class="error"', page)
        self.assertFalse(os.path.exists(os.path.join(self.folder, "model.json")))


class ReportPiecesTest(unittest.TestCase):
    def test_snapshot_epochs(self):
        self.assertEqual(snapshot_epochs(20), [1, 7, 13, 20])
        self.assertEqual(snapshot_epochs(1), [1])
        self.assertEqual(snapshot_epochs(2), [1, 2])

    def test_long_labels_are_cut_to_their_room(self):
        self.assertEqual(fit_text("short", 100), "short")
        cut = fit_text("a very long class name indeed", 60)
        self.assertLessEqual(len(cut) * TEXT_WIDTH, 60)
        self.assertTrue(cut.endswith("\u2026"))
        svg = heatmap_svg([[1, 2], [3, 4]], ["a class with a very long name"] * 2, ["x", "y"])
        for text in ET.fromstring(svg).iter(f"{SVG}text"):
            self.assertLessEqual(len(text.text) * TEXT_WIDTH, float(text.get("data-room")) + 0.5)

    def cnn_report(self):
        rng_rows = [[((i * 7 + j * 3) % 11) / 10 for j in range(36)] for i in range(24)]
        labels = [int(sum(row) > 18) for row in rng_rows]
        X, Y = Matrix(rng_rows), Matrix([[1.0 - t, float(t)] for t in labels])
        network = Network([Conv2D(1, 3, 3, padding=1, input_shape=(1, 6, 6)), ReLU(), Flatten(),
                           Dense(108, 2)])
        collector = ReportCollector()
        history = network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.01), epochs=3, batch_size=8,
                              callbacks=[collector])
        predicted = network.predict_classes(X)
        collector.finish(network, X, labels, predicted, "classification", ["no", "yes"], (1, 6, 6))
        scores = {"class_names": ["no", "yes"], "confusion": [[0, 0], [0, 0]],
                  "per_class": [{"precision": 1, "recall": 1, "f1": 1, "support": 1}] * 2}
        return report_html(collector, history, scores, ["test accuracy: 1"], network.summary(), {}, "cnn")

    def test_an_image_model_shows_its_mistakes_filters_and_feature_maps(self):
        page = self.cnn_report()
        pictures = check_page(self, page)
        self.assertIn("What the convolution learned", page)
        images = [p for p in pictures if p.get("class") == "images"]
        self.assertGreaterEqual(len(images), 2)  # filters and feature maps (and the mistakes, if any)
        self.assertIn("filter 2", page)
        self.assertIn("map 2", page)


class RecurrentReportTest(unittest.TestCase):
    def test_a_recurrent_model_shows_both_of_its_weight_matrices(self):
        from recurrent import GRU
        sequences = [[((i * 5 + t * 3) % 7 - 3) / 3 for t in range(4)] for i in range(16)]
        X = Matrix(sequences)
        Y = Matrix([[1.0, 0.0] if s[0] > 0 else [0.0, 1.0] for s in sequences])
        network = Network([GRU(1, 4, return_sequences=False), Dense(4, 2)])
        collector = ReportCollector()
        history = network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.01), epochs=2, batch_size=8,
                              callbacks=[collector])
        self.assertEqual(collector.layers, ["1 GRU weight_ih", "1 GRU weight_hh", "2 Dense(4 -> 2)"])
        page = report_html(collector, history, {}, [], network.summary(), {}, "gru")
        self.assertEqual(kinds(check_page(self, page)), ["chart"] + ["histograms"] * 6 + ["heatmap"])


def png_is_not_blank(path):
    """True when the PNG's pixels are not all one colour (decoded with zlib, no imaging library)."""
    with open(path, "rb") as f:
        data = f.read()
    chunks, position = [], 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"IDAT":
            chunks.append(data[position + 8:position + 8 + length])
        position += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return len(set(pixels[:200000])) > 8


@unittest.skipUnless(shutil.which("chromium"), "headless Chromium is not installed (apt-get install chromium)")
class BrowserTest(unittest.TestCase):
    def test_chromium_draws_the_report(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        page, picture = os.path.join(folder, "report.html"), os.path.join(folder, "report.png")
        with open(page, "w", encoding="utf-8") as f:
            f.write(ReportPiecesTest().cnn_report())
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={picture}",
                        "--window-size=1000,1400", "file://" + page], capture_output=True, timeout=120, cwd=folder)
        self.assertTrue(os.path.exists(picture))
        self.assertTrue(png_is_not_blank(picture))


if __name__ == "__main__":
    unittest.main()
