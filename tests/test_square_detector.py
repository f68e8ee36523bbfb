"""Tests for demos/square_detector.py: inputs, training, saving, --predict, --draw.

The full demo (thousands of images) is not run here; one small model, trained
once for the whole file in about three seconds, stands in for it.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from demos import square_detector as detector
from demos.square_shapes import DrawingGrid, center_image, generate_dataset, read_image_file
from network import Network
from demos.hilbert import hilbert_flatten

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO_ROOT, "demos", "square_detector.py")
EXAMPLES = os.path.join(REPO_ROOT, "demos", "examples")
VERDICT_LINE = re.compile(r"^(.+): (square|not square) \(p=(0\.[5-9]\d|1\.00)\)$")


def run_demo(*arguments, env=None):
    """Run the demo as a user would, from the repo root; returns the CompletedProcess."""
    return subprocess.run([sys.executable, DEMO, *arguments], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def picture(text):
    """Image from rows of '#' and '.' written in a test."""
    return [[1.0 if c == "#" else 0.0 for c in row.strip()] for row in text.strip().split("\n")]


def block_average(image, factor):
    """Each factor x factor block replaced by its mean: the slow obvious way, loop by loop."""
    side = len(image) // factor
    return [[sum(image[y * factor + j][x * factor + i] for j in range(factor) for i in range(factor))
             / factor ** 2 for x in range(side)] for y in range(side)]


SEED = 7
trained = {}  # filled once by setUpModule: the small model every test class shares


def setUpModule():
    """Train one small model (16x16, 16 hidden units, 1000 images, 6 epochs) for the whole file."""
    folder = tempfile.mkdtemp(prefix="square-detector-test-")
    images, labels = generate_dataset(1000, 16, detector.data_rng(SEED, "train"))
    images = detector.augmented_images(images, 0.6, 0.5, detector.data_rng(SEED, "augment"))
    network = detector.build_network(16, 16, SEED)
    history, _, _ = detector.train_network(network, images, labels, epochs=6, batch_size=32, lr=0.003,
                                           seed=SEED, verbose=False)
    model_path = os.path.join(folder, "model.json")
    network.save(model_path)
    test_images, test_labels = generate_dataset(400, 16, detector.data_rng(SEED, "test-16"))
    trained.update(folder=folder, network=network, history=history, model_path=model_path,
                   test_images=test_images, test_labels=test_labels)


def tearDownModule():
    shutil.rmtree(trained["folder"], ignore_errors=True)


class TrainedModel(unittest.TestCase):
    """Gives each test the shared model as attributes: self.network, self.model_path, ..."""

    def setUp(self):
        for key, value in trained.items():
            setattr(self, key, value)

    def write(self, name, text):
        path = os.path.join(self.folder, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path


class TestTraining(TrainedModel):
    def test_short_training_beats_chance_by_a_wide_margin(self):
        probabilities = detector.square_probabilities(self.network,
                                                      detector.vectors_for(self.network, self.test_images))
        accuracy = detector.accuracy_of(probabilities, self.test_labels)
        self.assertGreaterEqual(accuracy, 0.8, "chance is 0.5 on these balanced test images")
        self.assertLess(self.history["loss"][-1], self.history["loss"][0])

    def test_same_seed_gives_the_same_weights_and_another_seed_does_not(self):
        def train(seed):
            images, labels = generate_dataset(60, 8, detector.data_rng(seed, "train"))
            images = detector.augmented_images(images, 0.6, 0.5, detector.data_rng(seed, "augment"))
            network = detector.build_network(8, 4, seed)
            detector.train_network(network, images, labels, 2, 16, 0.01, seed, verbose=False)
            return network.layers[0].weight.value.tolist()

        self.assertEqual(train(3), train(3))
        self.assertNotEqual(train(3), train(4))

    def test_model_metadata_records_how_images_are_read(self):
        self.assertEqual(detector.model_settings(self.network), (16, "hilbert", True))
        self.assertEqual(self.network.metadata["class_names"], ["not square", "square"])


class TestSaveLoadPredict(TrainedModel):
    def test_save_then_load_gives_the_same_probabilities(self):
        loaded = Network.load(self.model_path)
        images = self.test_images[:50]
        before = detector.square_probabilities(self.network, detector.vectors_for(self.network, images))
        after = detector.square_probabilities(loaded, detector.vectors_for(loaded, images))
        self.assertEqual(before, after)  # JSON keeps every float exactly
        self.assertEqual(loaded.metadata["image_size"], 16)

    def test_classify_image_names_the_class_with_its_probability(self):
        for image in self.test_images[:20]:
            name, probability = detector.classify_image(self.network, image)
            p_square = detector.square_probabilities(self.network, detector.vectors_for(self.network, [image]))[0]
            expected = ("square", p_square) if p_square >= 0.5 else ("not square", 1.0 - p_square)
            self.assertEqual((name, probability), expected)
            self.assertGreaterEqual(probability, 0.5)

    def test_predict_prints_one_line_per_file(self):
        paths = [os.path.join(EXAMPLES, name) for name in sorted(os.listdir(EXAMPLES))]
        result = run_demo("--predict", *paths, "--model", self.model_path)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.strip().split("\n")
        self.assertEqual(len(lines), len(paths))
        for path, line in zip(paths, lines):
            match = VERDICT_LINE.match(line)
            self.assertIsNotNone(match, line)
            self.assertEqual(match.group(1), path)
            name, probability = detector.classify_image(self.network, read_image_file(path))
            self.assertEqual(line, f"{path}: {name} (p={probability:.2f})")

    def test_predict_reads_every_file_size_at_the_model_size(self):
        square_8 = "\n".join(["........", ".######.", ".#....#.", ".#....#.", ".#....#.", ".#....#.",
                              ".######.", "........"])
        square_16 = "\n".join("".join(c * 2 for c in row) for row in square_8.split("\n") for _ in range(2))
        small, large = self.write("small.txt", square_8), self.write("large.txt", square_16)
        result = run_demo("--predict", small, large, "--model", self.model_path)
        self.assertEqual(result.returncode, 0, result.stderr)
        first, second = result.stdout.strip().split("\n")
        # the 8x8 file scaled up by pixel repetition is exactly the 16x16 file
        self.assertEqual(first.split(": ", 1)[1], second.split(": ", 1)[1])

    def assert_one_line_error(self, result, *fragments):
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        lines = result.stderr.strip().split("\n")
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])

    def test_bad_image_files_are_one_line_errors_naming_file_and_line(self):
        cases = {
            "letter.txt": ("....\n.#x.\n....\n....\n", "line 2", "'x'"),
            "ragged.txt": ("....\n....\n...\n....\n", "line 3", "expected 4 characters, found 3"),
            "side.txt": ("......\n" * 6, "line 1", "side 4, 8, 16, 32 or 64"),
            "short.txt": ("....\n....\n", "line 3", "expected 4 rows"),
            "gap.txt": ("....\n\n....\n....\n....\n", "line 2", "blank line"),
            "empty.txt": ("", "empty"),
        }
        for name, (text, *fragments) in cases.items():
            with self.subTest(name):
                path = self.write(name, text)
                self.assert_one_line_error(run_demo("--predict", path, "--model", self.model_path),
                                           path, *fragments)

    def test_a_bad_file_among_good_ones_stops_before_any_verdict(self):
        good = os.path.join(EXAMPLES, "circle_16.txt")
        bad = self.write("bad.txt", "##\n##\n")
        self.assert_one_line_error(run_demo("--predict", good, bad, "--model", self.model_path), bad, "line 1")

    def test_missing_file_and_missing_model_are_one_line_errors(self):
        missing = os.path.join(self.folder, "nowhere.txt")
        self.assert_one_line_error(run_demo("--predict", missing, "--model", self.model_path), missing)
        no_model = os.path.join(self.folder, "no-model.json")
        self.assert_one_line_error(run_demo("--predict", missing, "--model", no_model),
                                   no_model, "train one first")

    def test_a_model_of_another_kind_is_refused(self):
        other = detector.build_network(16, 4, 0)
        other.metadata = {}
        path = os.path.join(self.folder, "other.json")
        other.save(path)
        example = os.path.join(EXAMPLES, "circle_16.txt")
        self.assert_one_line_error(run_demo("--predict", example, "--model", path), path,
                                   "not a square-detector model")


class TestDrawing(TrainedModel):
    def draw(self, *strokes):
        """A 32x32 DrawingGrid after mouse strokes given by a few far-apart points each, as a fast hand makes."""
        grid = DrawingGrid(32)
        for points in strokes:
            grid.begin_stroke(*points[0])
            for point in points[1:]:
                grid.stroke_to(*point)
            grid.end_stroke()
        return grid.image

    def test_a_drawn_square_is_classified_without_a_display(self):
        image = self.draw([(6.5, 6.5), (25.5, 6.5), (25.5, 25.5)], [(25.5, 25.5), (6.5, 25.5), (6.5, 6.5)])
        outline = [[1.0 if 6 <= x <= 25 and 6 <= y <= 25 and (x in (6, 25) or y in (6, 25)) else 0.0
                    for x in range(32)] for y in range(32)]
        self.assertEqual(image, outline, "four fast moves must leave an unbroken outline")
        name, probability = detector.classify_image(self.network, image)
        self.assertEqual(name, "square")
        self.assertGreater(probability, 0.5)

    def test_a_drawn_rectangle_is_not_a_square(self):
        image = self.draw([(4.2, 10.7), (28.9, 10.1), (28.3, 22.6), (4.5, 22.2), (4.2, 10.7)])
        name, _ = detector.classify_image(self.network, image)
        self.assertEqual(name, "not square")

    @unittest.skipUnless(sys.platform.startswith("linux"), "a display is found through DISPLAY on Linux only")
    def test_draw_without_a_display_exits_2_with_one_line(self):
        env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
        result = run_demo("--draw", "--model", self.model_path, env=env)
        self.assertEqual(result.returncode, 2, result.stderr)
        lines = result.stderr.strip().split("\n")
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertRegex(lines[0], r"display|tkinter")


class TestInputs(unittest.TestCase):
    def test_center_image_moves_the_box_of_on_pixels_to_the_middle(self):
        image = picture("""
            ##......
            #.......
            ........
            ........
            ........
            ........
            ........
            ........""")
        expected = picture("""
            ........
            ........
            ........
            ...##...
            ...#....
            ........
            ........
            ........""")
        self.assertEqual(center_image(image), expected)
        self.assertEqual(center_image(expected), expected)
        blank = [[0.0] * 8 for _ in range(8)]
        self.assertEqual(center_image(blank), blank)

    def test_hilbert_vector_of_a_larger_image_is_its_block_average_along_the_curve(self):
        image = generate_dataset(1, 32, 5)[0][0]
        vector = detector.image_to_vector(image, 16, "hilbert", center=False)
        self.assertEqual(vector, hilbert_flatten(block_average(image, 2)))
        vector_8 = detector.image_to_vector(image, 8, "hilbert", center=False)
        self.assertEqual(vector_8, hilbert_flatten(block_average(image, 4)))

    def test_row_major_vector_is_the_resized_image_read_row_by_row(self):
        image = generate_dataset(1, 32, 6)[0][0]
        vector = detector.image_to_vector(image, 16, "row_major", center=False)
        self.assertEqual(vector, [v for row in block_average(image, 2) for v in row])
        small = [row[::4] for row in image[::4]]  # an 8x8 image; scaled up, each pixel becomes 2x2
        repeated = [[small[y // 2][x // 2] for x in range(16)] for y in range(16)]
        self.assertEqual(detector.image_to_vector(small, 16, "row_major", center=False),
                         [v for row in repeated for v in row])

    def test_naive_row_major_resizing_averages_along_rows_not_blocks(self):
        image = [[float(x % 2) for x in range(32)] for _ in range(32)]  # stripes one pixel wide
        # 4 consecutive row-major values are 2 on and 2 off pixels of one row: all 0.5
        self.assertEqual(detector.naive_row_major_vector(image, 16, center=False), [0.5] * 256)

    def test_row_major_twin_computes_the_same_function(self):
        network = detector.build_network(16, 8, 11)
        twin = detector.row_major_twin(network)
        self.assertEqual(detector.model_settings(twin), (16, "row_major", True))
        images = generate_dataset(30, 16, 12)[0]
        hilbert = detector.square_probabilities(network, detector.vectors_for(network, images))
        row_major = detector.square_probabilities(twin, detector.vectors_for(twin, images))
        for a, b in zip(hilbert, row_major):
            self.assertAlmostEqual(a, b, places=12)
        self.assertNotEqual(network.layers[0].weight.value.rows, twin.layers[0].weight.value.rows)

    def test_augmented_images_are_centred_then_moved_at_most_a_pixel(self):
        images = generate_dataset(40, 16, 8)[0]
        augmented = detector.augmented_images(images, 1.0, 0.0, detector.data_rng(0, "augment"))

        def box(image):
            cells = [(x, y) for y, row in enumerate(image) for x, v in enumerate(row) if v >= 0.5]
            if not cells:
                return None
            xs, ys = [x for x, _ in cells], [y for _, y in cells]
            return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)

        for original, result in zip(images, augmented):
            centred = box(center_image(original))
            moved = box(result)
            self.assertEqual(sum(v >= 0.5 for row in result for v in row),
                             sum(v >= 0.5 for row in original for v in row), "no pixel may be lost")
            if centred is None:
                self.assertIsNone(moved)
                continue
            self.assertEqual(moved[2:], centred[2:])
            self.assertLessEqual(abs(moved[0] - centred[0]), 1)
            self.assertLessEqual(abs(moved[1] - centred[1]), 1)

    def test_example_files_are_valid_images(self):
        names = sorted(os.listdir(EXAMPLES))
        self.assertGreaterEqual(len(names), 4)
        sides = {len(read_image_file(os.path.join(EXAMPLES, name))) for name in names}
        self.assertTrue({8, 16, 32} <= sides, sides)


if __name__ == "__main__":
    unittest.main()
