"""Tests for demos/fashion_mnist.py and the committed slice: tiny runs (a few hundred images of the slice,
one narrow hidden layer), finding the files, one-line errors, checkpoints and resume."""

import contextlib
import gzip
import io
import multiprocessing
import os
import shutil
import sys
import tempfile
import unittest
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import app.training  # noqa: E402
from demos import fashion_mnist, fashion_mnist_slice  # noqa: E402
from idx import load_images, read_idx  # noqa: E402
from network import Network  # noqa: E402

TINY = ["--quick", "--train-size", "200", "--test-size", "100", "--hidden", "8", "--epochs", "2"]


def run_demo(argv):
    """(exit status, stdout, stderr) of the demo's main."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = fashion_mnist.main(argv)
    return status, out.getvalue(), err.getvalue()


def slice_path(part, kind):
    images, labels = fashion_mnist.FILES[part]
    return os.path.join(fashion_mnist.DATA_DIR, fashion_mnist.SLICE_PREFIX + (images if kind == "images" else labels))


class SliceTest(unittest.TestCase):
    def test_the_committed_slice_has_300_and_100_images_of_each_class(self):
        for part, per_class in (("train", 300), ("test", 100)):
            data = load_images(slice_path(part, "images"), slice_path(part, "labels"))
            self.assertEqual(len(data), 10 * per_class)
            self.assertEqual(data.shape, (1, 28, 28))
            self.assertEqual([list(data.labels).count(c) for c in range(10)], [per_class] * 10)

    def test_the_slice_script_picks_the_first_images_of_each_class_in_order(self):
        self.assertEqual(fashion_mnist_slice.first_of_each_class([2, 0, 2, 1, 0, 2, 1], 2, n_classes=3),
                         [0, 1, 2, 3, 4, 6])
        with self.assertRaisesRegex(ValueError, "class 1 has only 1 images"):
            fashion_mnist_slice.first_of_each_class([0, 1, 0], 2, n_classes=2)

    def test_the_slice_script_writes_the_same_files_from_a_source(self):
        with tempfile.TemporaryDirectory() as source, tempfile.TemporaryDirectory() as target:
            # the committed slice, under the official names, stands in for the full files
            for part in ("train", "test"):
                for kind, name in zip(("images", "labels"), fashion_mnist.FILES[part]):
                    shutil.copy(slice_path(part, kind), os.path.join(source, name))
            with mock.patch.dict(fashion_mnist_slice.PER_CLASS, {"train": 300, "test": 100}):
                written = fashion_mnist_slice.write_slice(source, target)
            self.assertEqual(len(written), 4)
            for path in written:
                with open(path, "rb") as new, open(os.path.join(fashion_mnist.DATA_DIR, os.path.basename(path)),
                                                   "rb") as committed:
                    self.assertEqual(new.read(), committed.read())


class DemoRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp()
        cls.model = os.path.join(cls.folder, "model.json")
        cls.status, cls.out, cls.err = run_demo(TINY + ["--save", cls.model])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.folder)

    def test_prints_the_accuracy_the_saved_model_gives(self):
        self.assertEqual(self.status, 0, self.err)
        line = [line for line in self.out.splitlines() if line.startswith("test accuracy: ")]
        self.assertEqual(len(line), 1)
        test = load_images(slice_path("test", "images"), slice_path("test", "labels")).subset(range(100))
        predicted = Network.load(self.model).predict_classes(test)
        correct = sum(p == a for p, a in zip(predicted, test.labels))
        self.assertEqual(line[0], f"test accuracy: {correct / 100:.4f}")
        self.assertIn(f"model saved to {self.model}", self.out)

    def test_the_confusion_matrix_has_a_row_per_class_name_summing_to_the_test_set(self):
        lines = self.out.splitlines()
        start = lines.index("confusion matrix (rows: true class, columns: predicted):")
        rows = lines[start + 2:start + 12]
        for number, (row, name) in enumerate(zip(rows, fashion_mnist.CLASS_NAMES)):
            self.assertTrue(row.startswith(f"{number} {name} "), row)
        counts = [int(v) for row in rows for v in row[len(fashion_mnist.CLASS_NAMES[0]) + 4:].split()]
        self.assertEqual(sum(counts), 100)
        self.assertEqual(fashion_mnist.CLASS_NAMES[0], "T-shirt/top")
        self.assertEqual(fashion_mnist.CLASS_NAMES[9], "Ankle boot")

    def test_a_checkpoint_is_saved_every_epoch_and_the_model_metadata_names_the_classes(self):
        self.assertTrue(os.path.exists(self.model + ".checkpoint"))
        model = Network.load(self.model)
        self.assertEqual(model.metadata["class_names"], list(fashion_mnist.CLASS_NAMES))
        self.assertEqual(model.metadata["image_shape"], [1, 28, 28])


class CnnRunTest(unittest.TestCase):
    def test_the_cnn_trains_saves_and_reloads_with_its_image_shapes(self):
        with tempfile.TemporaryDirectory() as folder:
            model = os.path.join(folder, "cnn.json")
            status, out, err = run_demo(["--quick", "--model", "cnn", "--train-size", "40", "--test-size", "20",
                                         "--save", model])
            self.assertEqual(status, 0, err)
            self.assertIn("(None, 16, 7, 7)", out)  # after the second pooling
            self.assertIn("training: 1 epochs of 2 batches of 32", out)
            test = load_images(slice_path("test", "images"), slice_path("test", "labels")).subset(range(20))
            predicted = Network.load(model).predict_classes(test)
            correct = sum(p == a for p, a in zip(predicted, test.labels))
            self.assertIn(f"test accuracy: {correct / 20:.4f}", out)

    def test_hidden_sizes_are_for_the_mlp_only(self):
        status, out, err = run_demo(["--quick", "--model", "cnn", "--hidden", "8"])
        self.assertEqual(status, 2)
        self.assertIn("--hidden sets the MLP's hidden layers", err)


@unittest.skipUnless("fork" in multiprocessing.get_all_start_methods(), "workers need the fork start method")
class WorkersTest(unittest.TestCase):
    def test_two_workers_train_the_same_model_to_rounding(self):
        with tempfile.TemporaryDirectory() as folder:
            weights = {}
            for workers in ("1", "2"):
                model = os.path.join(folder, f"model{workers}.json")
                status, out, err = run_demo(TINY + ["--save", model, "--workers", workers])
                self.assertEqual(status, 0, err)
                self.assertEqual("2 worker processes" in out, workers == "2")
                weights[workers] = [v for m in Network.load(model).get_weights() for row in m for v in row]
            self.assertNotEqual(weights["1"], weights["2"])  # the sums' order differs...
            worst = max(abs(a - b) / max(abs(a), 1e-3) for a, b in zip(weights["1"], weights["2"]))
            self.assertLess(worst, 1e-9)  # ...and nothing else


class ResumeTest(unittest.TestCase):
    def test_resuming_after_epoch_1_gives_the_uninterrupted_run_bit_for_bit(self):
        with tempfile.TemporaryDirectory() as folder:
            whole = os.path.join(folder, "whole.json")
            self.assertEqual(run_demo(TINY + ["--save", whole])[0], 0)
            # a second run whose checkpoint after epoch 1 is kept aside, as if it had been stopped there
            saved, real_save = [], app.training.save_checkpoint

            def keep_first(path, state):
                real_save(path, state)
                if not saved:
                    saved.append(path)
                    shutil.copy(path, os.path.join(folder, "after1.checkpoint"))

            part = os.path.join(folder, "part.json")
            with mock.patch.object(app.training, "save_checkpoint", keep_first):
                self.assertEqual(run_demo(TINY + ["--save", part])[0], 0)
            shutil.copy(os.path.join(folder, "after1.checkpoint"), part + ".checkpoint")
            status, out, err = run_demo(TINY + ["--save", part, "--resume"])
            self.assertEqual(status, 0, err)
            self.assertIn("resuming from", out)
            self.assertNotIn("epoch 1/2", out)  # only the second epoch ran
            self.assertIn("epoch 2/2", out)
            self.assertEqual(Network.load(part).get_weights(), Network.load(whole).get_weights())


class EvaluateTest(unittest.TestCase):
    def test_evaluate_scores_a_model_or_a_checkpoint_as_training_did(self):
        with tempfile.TemporaryDirectory() as folder:
            model = os.path.join(folder, "m.json")
            status, trained, err = run_demo(TINY + ["--save", model])
            self.assertEqual(status, 0, err)
            accuracy = [line for line in trained.splitlines() if line.startswith("test accuracy")]
            for path in (model, model + ".checkpoint"):  # the checkpoint after the last epoch: the same weights
                status, out, err = run_demo(["--quick", "--test-size", "100", "--evaluate", path])
                self.assertEqual(status, 0, err)
                self.assertEqual([line for line in out.splitlines() if line.startswith("test accuracy")], accuracy)
            self.assertIn("checkpoint after epoch 2", out)
            status, out, err = run_demo(["--quick", "--evaluate", os.path.join(folder, "none.json")])
            self.assertEqual((status, err.count("\n")), (2, 1))
            self.assertIn("not found", err)


class DemoErrorTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)
        self.model = os.path.join(self.folder.name, "m.json")

    def assertOneLineError(self, argv, pattern):
        status, out, err = run_demo(argv + ["--save", self.model])
        self.assertEqual(status, 2)
        self.assertRegex(err, r"^error: " + pattern)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertNotIn("Traceback", err)
        self.assertFalse(os.path.exists(self.model))

    def test_missing_files_say_which_and_how_to_get_them(self):
        self.assertOneLineError(["--data", self.folder.name],
                                r".*missing train-images-idx3-ubyte.gz, .*zalandoresearch/fashion-mnist")

    def test_nothing_found_says_where_it_looked(self):
        with mock.patch.object(fashion_mnist, "DATA_DIR", self.folder.name), \
                mock.patch.object(fashion_mnist, "DEBIAN_DIR", os.path.join(self.folder.name, "none")):
            self.assertOneLineError([], r"Fashion-MNIST not found in .*apt-get install dataset-fashion-mnist")

    def test_a_damaged_file_is_one_line(self):
        for part in ("train", "test"):
            for kind, name in zip(("images", "labels"), fashion_mnist.FILES[part]):
                shutil.copy(slice_path(part, kind), os.path.join(self.folder.name, name))
        labels = os.path.join(self.folder.name, "t10k-labels-idx1-ubyte.gz")
        with open(labels, "wb") as f:
            f.write(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x03\xe8" + bytes(999)))
        self.assertOneLineError(["--data", self.folder.name], r".*truncated: the header declares 1000 = 1,000 "
                                                              r"values, the file holds 999")
        images = os.path.join(self.folder.name, "train-images-idx3-ubyte.gz")
        with open(images, "wb") as f:
            f.write(b"not an idx file")
        self.assertOneLineError(["--data", self.folder.name], r".*wrong magic number")

    def test_bad_options(self):
        self.assertOneLineError(TINY + ["--train-size", "5000"], r"--train-size 5000: the train set has only 3000")
        self.assertOneLineError(TINY + ["--epochs", "0"], r"--epochs must be at least 1")
        self.assertOneLineError(TINY + ["--hidden", "8,x"], r"argument --hidden: expected sizes")
        self.assertOneLineError(TINY + ["--resume"], r".*checkpoint file not found")
        self.assertOneLineError(TINY + ["--workers", "0"], r".*--workers: must be at least 1, got 0")

    def test_read_idx_reads_the_committed_test_slice(self):
        sizes, data = read_idx(slice_path("test", "images"))
        self.assertEqual(sizes, (1000, 28, 28))
        self.assertEqual(len(data), 784000)


if __name__ == "__main__":
    unittest.main()
