"""Tests for idx.py: the IDX reader's errors on small files made here, the writer, and ByteImages
(pixels kept as bytes, floats made per batch) against plain Matrix data in fit, predict and evaluate."""

import gzip
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ReLU, Softmax  # noqa: E402
from idx import ByteImages, IDXError, OneHotLabels, load_images, read_idx, write_idx  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from utils import make_rng  # noqa: E402


def idx_bytes(sizes, data, kind=0x08):
    """An IDX file's bytes, built here field by field (not by write_idx)."""
    return bytes([0, 0, kind, len(sizes)]) + b"".join(struct.pack(">I", s) for s in sizes) + bytes(data)


class FolderTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def file(self, name, content, compress=False):
        path = os.path.join(self.folder.name, name)
        with open(path, "wb") as f:
            f.write(gzip.compress(content) if compress else content)
        return path


class ReadIdxTest(FolderTest):
    def test_reads_sizes_and_values_gzipped_or_not(self):
        data = bytes(range(24))
        for compress in (False, True):
            path = self.file(f"a{compress}.idx", idx_bytes((2, 3, 4), data), compress)
            sizes, values = read_idx(path)
            self.assertEqual(sizes, (2, 3, 4))
            self.assertEqual(values, data)

    def test_write_idx_round_trips_and_is_the_same_bytes_every_time(self):
        path = os.path.join(self.folder.name, "w.gz")
        write_idx(path, (3, 2, 2), bytes(range(12)))
        self.assertEqual(read_idx(path), ((3, 2, 2), bytes(range(12))))
        with gzip.open(path) as f:  # the header is the format's, byte for byte
            self.assertEqual(f.read(), idx_bytes((3, 2, 2), range(12)))
        with open(path, "rb") as f:
            first = f.read()
        write_idx(path, (3, 2, 2), bytes(range(12)))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(os.listdir(self.folder.name), ["w.gz"])  # no temporary file left

    def test_write_idx_refuses_data_of_the_wrong_length(self):
        with self.assertRaisesRegex(ValueError, "need 12 values, got 11"):
            write_idx(os.path.join(self.folder.name, "x.gz"), (3, 2, 2), bytes(11))

    def assertIDXError(self, path, pattern):
        with self.assertRaisesRegex(IDXError, pattern) as caught:
            read_idx(path)
        self.assertNotIn("\n", str(caught.exception))
        self.assertIn(path, str(caught.exception))

    def test_a_wrong_magic_number_is_named(self):
        path = self.file("bad", b"\x01\x02\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
        self.assertIDXError(path, r"not an IDX file \(wrong magic number 0x01020801")

    def test_a_csv_file_is_not_an_idx_file(self):
        self.assertIDXError(self.file("data.csv", b"a,b\n1,2\n"), "wrong magic number")

    def test_numbers_other_than_unsigned_bytes_are_refused_by_name(self):
        path = self.file("floats", idx_bytes((1,), b"\x00" * 4, kind=0x0D))
        self.assertIDXError(path, r"type 0x0D \(float\)")

    def test_truncated_data_says_how_much_is_missing(self):
        path = self.file("short.gz", idx_bytes((5, 2, 2), range(10)), compress=True)
        self.assertIDXError(path, "truncated: the header declares 5 x 2 x 2 = 20 values, the file holds 10")

    def test_truncated_header(self):
        self.assertIDXError(self.file("h", b"\x00\x00\x08\x03" + b"\x00" * 5), r"truncated in the header \(3 sizes")
        self.assertIDXError(self.file("tiny", b"\x00\x00"), "truncated")

    def test_a_cut_gzip_stream_is_truncated(self):
        whole = gzip.compress(idx_bytes((200,), bytes(range(200))))
        path = self.file("cut.gz", whole[:len(whole) // 2])
        self.assertIDXError(path, "truncated")

    def test_bytes_after_the_declared_values_are_reported(self):
        self.assertIDXError(self.file("long", idx_bytes((2,), b"\x01\x02\x03")), "1 bytes after the 2 values")

    def test_a_missing_file(self):
        self.assertIDXError(os.path.join(self.folder.name, "nope.gz"), "file not found")


class LoadImagesTest(FolderTest):
    def test_images_and_labels_become_byte_images(self):
        images = self.file("i.gz", idx_bytes((3, 2, 2), range(12)), compress=True)
        labels = self.file("l.gz", idx_bytes((3,), [2, 0, 1]), compress=True)
        data = load_images(images, labels, n_classes=3)
        self.assertEqual((len(data), data.shape, data.size), (3, (1, 2, 2), 4))
        self.assertEqual(list(data.labels), [2, 0, 1])
        self.assertEqual(data.image(1), bytes([4, 5, 6, 7]))

    def test_mismatched_counts_are_one_line_naming_both_files(self):
        images = self.file("i", idx_bytes((3, 2, 2), range(12)))
        labels = self.file("l", idx_bytes((4,), [0, 1, 0, 1]))
        with self.assertRaisesRegex(IDXError, r"4 labels for the 3 images of .*i: the counts must match"):
            load_images(images, labels)

    def test_label_out_of_range_and_wrong_dimensions(self):
        images = self.file("i", idx_bytes((2, 2, 2), range(8)))
        with self.assertRaisesRegex(IDXError, "label 10 at position 1 is out of range for 10 classes"):
            load_images(images, self.file("l", idx_bytes((2,), [3, 10])))
        with self.assertRaisesRegex(IDXError, "a labels file has 1 size"):
            load_images(images, self.file("l2", idx_bytes((2, 1), [3, 1])))
        with self.assertRaisesRegex(IDXError, "an images file has 3 sizes"):
            load_images(self.file("i2", idx_bytes((8,), range(8))), self.file("l3", idx_bytes((8,), [0] * 8)))


def random_images(n, shape, rng, blank=0.5):
    """ByteImages of n random images, about `blank` of their pixels 0 (as clothes on black)."""
    size = 1
    for side in shape:
        size *= side
    pixels = bytes(0 if rng.random() < blank else rng.randrange(1, 256) for _ in range(n * size))
    return ByteImages(pixels, bytes(rng.randrange(3) for _ in range(n)), shape, n_classes=3)


class ByteImagesTest(unittest.TestCase):
    def setUp(self):
        self.data = random_images(20, (1, 3, 4), make_rng(1))
        size = 12  # the slow, obvious conversion: each byte divided by 255, image by image
        self.float_rows = [[self.data.pixels[i * size + j] / 255 for j in range(size)] for i in range(20)]

    def test_take_gives_the_pixels_divided_by_255_in_the_order_asked(self):
        picked = self.data.take([5, 0, 19, 5])
        self.assertEqual(picked.shape, (4, 12))
        self.assertEqual(picked.rows, [self.float_rows[i] for i in (5, 0, 19, 5)])
        self.assertTrue(all(0.0 <= v <= 1.0 for row in picked.rows for v in row))

    def test_take_refuses_bad_indices(self):
        with self.assertRaisesRegex(ValueError, "image index 20 out of range for 20 images"):
            self.data.take([1, 20])
        with self.assertRaisesRegex(ValueError, "at least one"):
            self.data.take([])

    def test_normalized_has_mean_zero_and_standard_deviation_one(self):
        values = [v for row in self.float_rows for v in row]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        rows = self.data.normalized().take(range(20)).rows
        for row, expected in zip(rows, self.float_rows):
            for got, value in zip(row, expected):
                self.assertAlmostEqual(got, (value - mean) / std, places=12)
        self.assertEqual(self.data.take([0]).rows[0], self.float_rows[0])  # the original is unchanged

    def test_subset_and_one_hot_targets(self):
        part = self.data.subset([3, 1])
        self.assertEqual(part.take([0, 1]).rows, [self.float_rows[3], self.float_rows[1]])
        labels = [self.data.labels[3], self.data.labels[1]]
        self.assertEqual(list(part.labels), labels)
        expected = [[1.0 if j == k else 0.0 for j in range(3)] for k in labels]
        self.assertEqual(part.targets.take([0, 1]).rows, expected)
        self.assertEqual(len(OneHotLabels(bytes([0, 2, 1]), 3)), 3)

    def test_the_pixel_count_must_match_the_labels(self):
        with self.assertRaisesRegex(ValueError, "11 pixel values for 3 images of 4 pixels"):
            ByteImages(bytes(11), bytes(3), (1, 2, 2))


def small_network(seed):
    rng = make_rng(seed)
    return Network([Dense(12, 8, rng=rng), ReLU(), Dense(8, 3, rng=rng), Softmax()])


class NetworkOnByteImagesTest(unittest.TestCase):
    """fit, predict and evaluate on ByteImages must do exactly what they do on the same floats as a Matrix."""

    def setUp(self):
        self.data = random_images(50, (1, 3, 4), make_rng(2))
        self.X = Matrix(self.data.take(range(50)).rows)
        self.Y = Matrix(self.data.targets.take(range(50)).rows)

    def test_fit_gives_bit_identical_weights_and_history(self):
        results = []
        for X, Y in ((self.X, self.Y), (self.data, self.data.targets)):
            network = small_network(3)
            optimizer = Adam(network.parameters(), lr=0.01)
            history = network.fit(X, Y, CrossEntropy(), optimizer, epochs=3, batch_size=8, rng=make_rng(4),
                                  validation_data=(X, Y))
            results.append((history, network.get_weights()))
        self.assertEqual(results[0], results[1])

    def test_predict_and_evaluate_in_batches_agree_with_the_whole_matrix(self):
        network = small_network(5)
        whole = network.predict(self.X)
        for batch_size in (7, 50, 256):
            self.assertEqual(network.predict(self.data, batch_size=batch_size).rows, whole.rows)
            scores = network.evaluate(self.data, self.data.targets, CrossEntropy(), batch_size=batch_size)
            expected = network.evaluate(self.X, self.Y, CrossEntropy())
            self.assertAlmostEqual(scores["loss"], expected["loss"], places=12)
            self.assertEqual(scores["accuracy"], expected["accuracy"])
        labels = list(self.data.labels)
        self.assertEqual(network.evaluate(self.data, labels, CrossEntropy(), batch_size=9)["accuracy"],
                         network.evaluate(self.X, self.Y, CrossEntropy())["accuracy"])
        self.assertEqual(network.predict_classes(self.data), network.predict_classes(self.X))


if __name__ == "__main__":
    unittest.main()
