"""Tests for the convolutional square detectors (demos/square_cnn.py, --network cnn / conv1d).

Tiny budgets only: a few training steps. The full runs and their figures are in README.
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

from demos import square_cnn
from demos import square_detector as detector
from demos.square_shapes import generate_image, shift_image
from matrix import Matrix
from network import Network

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO_ROOT, "demos", "square_detector.py")
EXAMPLES = os.path.join(REPO_ROOT, "demos", "examples")
METADATA = {"demo": "square_detector", "image_size": 16, "class_names": list(detector.CLASS_NAMES)}


def run_demo(*arguments):
    return subprocess.run([sys.executable, DEMO, *arguments], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)


def row(image):
    return [value for line in image for value in line]


class Networks(unittest.TestCase):
    def test_cnn_reads_row_major_pixels_without_centring_and_round_trips(self):
        network = square_cnn.build_cnn(16, random.Random(1), METADATA)
        self.assertEqual(detector.model_settings(network), (16, "row_major", False))
        self.assertEqual(network.shapes[-1], (2,))
        image = generate_image("filled_square", 16, random.Random(2))
        vector = detector.vectors_for(network, [image])[0]
        self.assertEqual(vector, row(image))  # not centred, not reordered
        copy = Network.from_dict(network.to_dict())
        self.assertEqual(copy.predict(Matrix([vector])).rows, network.predict(Matrix([vector])).rows)

    def test_conv1d_reads_the_hilbert_order(self):
        network = square_cnn.build_conv1d(16, random.Random(1), METADATA)
        self.assertEqual(detector.model_settings(network), (16, "hilbert", False))
        conv_shapes = [shape for layer, shape in zip(network.layers, network.shapes)
                       if type(layer).__name__ == "Conv1D"]
        self.assertEqual(conv_shapes, [(8, 64), (16, 16), (16, 4)])

    def test_a_shape_moved_by_the_pooling_stride_gets_the_same_answer(self):
        # two 2x2 poolings: a move by 4 pixels, away from the border (whose zero padding is
        # not what the background gives), moves every feature by one cell; the global average
        # then sees the same values. A move by 1 need not.
        network = square_cnn.with_image_size(square_cnn.build_cnn(16, random.Random(3), METADATA), 32)
        image = [[0.0] * 32 for _ in range(32)]
        for y in range(9, 14):
            for x in range(8, 13):
                image[y][x] = 1.0
        image[10][10] = 0.0
        moved = shift_image(image, 4, 4)
        first, second = network.predict(Matrix([row(image), row(moved)])).rows
        for a, b in zip(first, second):
            self.assertAlmostEqual(a, b, places=12)
        self.assertNotEqual(row(image), row(moved))
        off_grid = network.predict(Matrix([row(shift_image(image, 1, 0))])).rows[0]
        self.assertNotAlmostEqual(off_grid[0], first[0], places=6)

    def test_with_image_size_keeps_the_weights_and_reads_other_sides(self):
        network = square_cnn.build_cnn(16, random.Random(4), METADATA)
        image = generate_image("outlined_circle", 16, random.Random(5))
        same = square_cnn.with_image_size(network, 16)
        self.assertEqual(same.predict(Matrix([row(image)])).rows, network.predict(Matrix([row(image)])).rows)
        for side in (8, 32):
            other = square_cnn.with_image_size(network, side)
            self.assertEqual(other.metadata["image_size"], side)
            self.assertEqual([p.value.rows for p in other.parameters()],
                             [p.value.rows for p in network.parameters()])
            self.assertEqual(len(other.predict(Matrix([[0.0] * side * side])).rows[0]), 2)
        with self.assertRaises(ValueError):
            square_cnn.with_image_size(square_cnn.build_conv1d(16, random.Random(1), METADATA), 8)

    def test_kinds_dataset_leaves_out_the_held_out_family(self):
        images, labels, kinds = square_cnn.kinds_dataset(200, 16, random.Random(6), exclude=("triangle",))
        self.assertNotIn("triangle", kinds)
        self.assertEqual(sum(labels), 100)
        self.assertEqual(len(images), 200)
        for label, kind in zip(labels, kinds):
            self.assertEqual(label, 1 if kind.endswith("square") else 0)
        _, _, all_kinds = square_cnn.kinds_dataset(400, 16, random.Random(6))
        self.assertIn("triangle", all_kinds)


class CommandLine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="square-cnn-test-")
        cls.model_path = os.path.join(cls.folder, "cnn.json")
        cls.result = run_demo("--network", "cnn", "--train", "20", "--test", "10", "--family", "10",
                              "--epochs", "1", "--show", "0", "--model", cls.model_path)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.folder, ignore_errors=True)

    def test_training_run_reports_every_family_and_size(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        out = self.result.stdout
        self.assertIn("triangle (held out)", out)
        for family in ("filled_square", "speckles", "empty", "outlined_rectangle"):
            self.assertIn(family, out)
        self.assertIn("read natively by the same weights", out)
        self.assertIn("identical predictions", out)

    def test_predict_uses_the_saved_cnn(self):
        model = Network.load(self.model_path)
        self.assertEqual(square_cnn.architecture_of(model), "cnn")
        paths = [os.path.join(EXAMPLES, name) for name in sorted(os.listdir(EXAMPLES))]
        result = run_demo("--predict", *paths, "--model", self.model_path)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.strip().split("\n")
        self.assertEqual(len(lines), len(paths))
        for path, line in zip(paths, lines):
            self.assertRegex(line, r"^" + path.replace("\\", "\\\\") + r": (square|not square) \(p=\d\.\d\d\)$")
        # the verdicts are the CNN's own (classify_image goes through the loaded model)
        image = detector.read_image_file(paths[0])
        name, _ = detector.classify_image(model, image)
        self.assertIn(f"{paths[0]}: {name} ", result.stdout)

    def test_model_cnn_names_the_network(self):
        args = detector.parse_arguments(["--model", "cnn"])
        self.assertEqual((args.network, args.model, args.epochs), ("cnn", detector.DEFAULT_MODEL,
                                                                   detector.CNN_EPOCHS))
        args = detector.parse_arguments(["--network", "conv1d", "--epo", "3"])
        self.assertEqual((args.network, args.epochs), ("conv1d", 3))
        self.assertEqual(detector.parse_arguments([]).epochs, 25)
        args = detector.parse_arguments(["--model", "/tmp/x.json"])
        self.assertEqual((args.network, args.model), ("dense", "/tmp/x.json"))

    def test_unknown_network_is_one_line_exit_2(self):
        result = run_demo("--network", "rnn")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(len(result.stderr.strip().split("\n")), 1)
        self.assertIn("--network", result.stderr)


if __name__ == "__main__":
    unittest.main()
