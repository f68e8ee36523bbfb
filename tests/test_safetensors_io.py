"""Tests for app/safetensors_io.py: the bytes of the format, built by hand from its spec, and
every way a file can be malformed. Where the safetensors package is installed (never
required), it reads our files and we read its."""

import os
import struct
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from app import safetensors_io as st  # noqa: E402
from app.safetensors_io import SafetensorsError, Tensor  # noqa: E402

try:
    import numpy
    import safetensors.numpy
    from safetensors import safe_open
except ImportError:
    numpy = None


def hand_built_file():
    """A two-tensor file with metadata, assembled from the spec byte by byte:
    "a": F32 [2] = 1.0, -2.5          "b": F64 [1, 2] = 0.5, 3.0."""
    header = (b'{"__metadata__":{"k":"v"},'
              b'"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
              b'"b":{"dtype":"F64","shape":[1,2],"data_offsets":[8,24]}}')
    header += b" " * (-len(header) % 8)  # padded with spaces to a multiple of 8
    length = len(header).to_bytes(8, "little")
    a = bytes.fromhex("0000803f" "000020c0")  # 1.0 = 0x3f800000, -2.5 = 0xc0200000 (float32, little-endian)
    b = bytes.fromhex("000000000000e03f" "0000000000000840")  # 0.5 = 0x3fe0..., 3.0 = 0x4008... (float64)
    return length + header + a + b


def raw_file(header_text, buffer=b"", length=None):
    """A file with exactly this header text (unpadded) and buffer; length overrides the header length."""
    header = header_text.encode("utf-8")
    return struct.pack("<Q", len(header) if length is None else length) + header + buffer


TWO_TENSORS = {"a": Tensor("F32", (2,), [1.0, -2.5]), "b": Tensor("F64", (1, 2), [0.5, 3.0])}


class SafetensorsBytesTest(unittest.TestCase):
    def test_two_tensor_file_equals_the_one_built_from_the_spec(self):
        self.assertEqual(st.encode(TWO_TENSORS, {"k": "v"}), hand_built_file())

    def test_write_puts_exactly_those_bytes_on_disk(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "w.safetensors")
            st.write(path, TWO_TENSORS, {"k": "v"})
            with open(path, "rb") as f:
                self.assertEqual(f.read(), hand_built_file())

    def test_the_header_is_padded_so_the_data_starts_on_a_multiple_of_8(self):
        for name in ("x", "xy", "xyz", "long_name_0.weight"):
            data = st.encode({name: Tensor("F32", (1,), [1.0])})
            (length,) = struct.unpack_from("<Q", data)
            self.assertEqual(length % 8, 0)
            self.assertEqual(data[8 + length:], struct.pack("<f", 1.0))

    def test_decode_reads_the_hand_built_file(self):
        tensors, metadata = st.decode(hand_built_file())
        self.assertEqual(metadata, {"k": "v"})
        self.assertEqual(list(tensors), ["a", "b"])
        self.assertEqual(tensors["a"], Tensor("F32", (2,), [1.0, -2.5]))
        self.assertEqual(tensors["b"], Tensor("F64", (1, 2), [0.5, 3.0]))

    def test_float64_keeps_every_bit_and_float32_rounds_to_nearest(self):
        values = [0.1, -1 / 3, 2.0 ** -1074, 1.7976931348623157e308]
        tensors, _ = st.decode(st.encode({"x": Tensor("F64", (4,), values)}))
        self.assertEqual(tensors["x"].values, values)
        tensors, _ = st.decode(st.encode({"x": Tensor("F32", (2,), [0.1, -1 / 3])}))
        self.assertEqual(tensors["x"].values, [struct.unpack("<f", struct.pack("<f", v))[0] for v in (0.1, -1 / 3)])
        self.assertNotEqual(tensors["x"].values[0], 0.1)

    def test_scalars_integers_and_half_precision_decode_from_hand_bytes(self):
        header = ('{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},'
                  '"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},'
                  '"g":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]}}')
        buffer = ((-3).to_bytes(8, "little", signed=True)
                  + bytes.fromhex("003c" "00c0")      # F16: 1.0 = 0x3c00, -2.0 = 0xc000
                  + bytes.fromhex("803f" "2040"))     # BF16: 1.0 = 0x3f80, 2.5 = 0x4020
        tensors, _ = st.decode(raw_file(header, buffer))
        self.assertEqual(tensors["n"], Tensor("I64", (), [-3]))
        self.assertEqual(tensors["h"].values, [1.0, -2.0])
        self.assertEqual(tensors["g"].values, [1.0, 2.5])

    def test_a_value_beyond_float32_is_refused_when_writing(self):
        with self.assertRaisesRegex(SafetensorsError, "does not fit dtype F32"):
            st.encode({"w": Tensor("F32", (1,), [1e300])})

    def test_the_number_of_values_must_match_the_shape(self):
        with self.assertRaisesRegex(SafetensorsError, r"shape \[2, 2\] needs 4 values, got 3"):
            st.encode({"w": Tensor("F64", (2, 2), [1.0, 2.0, 3.0])})


class SafetensorsMalformedTest(unittest.TestCase):
    """Each malformed file raises SafetensorsError with one line saying what is wrong."""

    def assertRefused(self, data, pattern):
        with self.assertRaisesRegex(SafetensorsError, pattern) as caught:
            st.decode(data, "w.safetensors")
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("w.safetensors: "), message)

    def test_a_file_shorter_than_the_length_field(self):
        self.assertRefused(b"\x10\x00\x00", "3 bytes, too short")

    def test_a_header_longer_than_the_file(self):
        self.assertRefused(raw_file('{"a":{}}', length=1000), r"header length \(1,000 bytes\) is longer than the file")
        good = hand_built_file()
        self.assertRefused(good[:8] + good[8:40], "longer than the file")

    def test_a_header_that_is_not_json_or_not_an_object(self):
        self.assertRefused(raw_file("{not json"), "not valid UTF-8 JSON")
        self.assertRefused(raw_file('["a"]'), "must be a JSON object")
        self.assertRefused(raw_file("\xff", b""), "not valid")
        self.assertRefused(struct.pack("<Q", 2) + b"\xff\xfe", "not valid UTF-8")

    def test_a_name_given_twice(self):
        entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
        self.assertRefused(raw_file('{"a":%s,"a":%s}' % (entry, entry), b"\0" * 4), "names 'a' twice")

    def test_an_unknown_dtype(self):
        self.assertRefused(raw_file('{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
                           "tensor 'a': unknown dtype 'F31'")
        self.assertRefused(raw_file('{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', b"\0"),
                           "dtype F8_E4M3 is not supported here")

    def test_a_shape_that_does_not_match_the_offsets(self):
        self.assertRefused(raw_file('{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', b"\0" * 12),
                           r"shape \[2, 2\] of F32 needs 16 bytes, but data_offsets \[0, 12\] span 12")

    def test_bad_shapes_and_offsets(self):
        self.assertRefused(raw_file('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', b"\0" * 4),
                           "shape must be a list of whole numbers")
        self.assertRefused(raw_file('{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', b"\0" * 4),
                           "shape must be a list of whole numbers")
        self.assertRefused(raw_file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', b"\0" * 4),
                           "data_offsets must be")
        self.assertRefused(raw_file('{"a":{"dtype":"F32","shape":[1]}}', b"\0" * 4),
                           "exactly dtype, shape and data_offsets")

    def test_overlapping_offsets(self):
        header = ('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                  '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}')
        self.assertRefused(raw_file(header, b"\0" * 12), r"tensor 'b' \(bytes 4-12\) overlaps tensor 'a'")

    def test_offsets_that_leave_a_gap(self):
        header = ('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                  '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}')
        self.assertRefused(raw_file(header, b"\0" * 12), "a gap of 4 bytes after tensor 'a'")
        self.assertRefused(raw_file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8),
                           "a gap of 4 bytes at the start")

    def test_bytes_left_after_the_last_tensor(self):
        self.assertRefused(hand_built_file() + b"\0\0", "2 bytes after the last tensor belong to none")

    def test_a_truncated_buffer(self):
        self.assertRefused(hand_built_file()[:-8], "tensor 'b' ends at byte 24, past the end of the data")

    def test_metadata_that_is_not_strings(self):
        self.assertRefused(raw_file('{"__metadata__":{"k":1}}'), "__metadata__ must be an object of strings")

    def test_reading_a_missing_file_names_it(self):
        with self.assertRaisesRegex(SafetensorsError, "nowhere.safetensors: weights file not found"):
            st.read(os.path.join(tempfile.gettempdir(), "nowhere.safetensors"))


@unittest.skipIf(numpy is None, "safetensors and numpy are not installed")
class SafetensorsPackageTest(unittest.TestCase):
    """The reference implementation reads our bytes, and we read its."""

    def test_the_package_reads_our_file(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "w.safetensors")
            st.write(path, TWO_TENSORS, {"k": "v"})
            loaded = safetensors.numpy.load_file(path)
            self.assertEqual(loaded["a"].dtype, numpy.float32)
            self.assertEqual(loaded["a"].tolist(), [1.0, -2.5])
            self.assertEqual(loaded["b"].shape, (1, 2))
            self.assertEqual(loaded["b"].tolist(), [[0.5, 3.0]])
            with safe_open(path, framework="numpy") as f:
                self.assertEqual(f.metadata(), {"k": "v"})

    def test_we_read_the_package_file(self):
        arrays = {"w": numpy.arange(6, dtype=numpy.float32).reshape(2, 3) / 7,
                  "n": numpy.array(5, dtype=numpy.int64), "h": numpy.array([0.5, -1.5], dtype=numpy.float16)}
        data = safetensors.numpy.save(arrays, metadata={"format": "np"})
        tensors, metadata = st.decode(data)
        self.assertEqual(metadata, {"format": "np"})
        self.assertEqual(tensors["w"].shape, (2, 3))
        self.assertEqual(tensors["w"].values, arrays["w"].ravel().tolist())
        self.assertEqual(tensors["n"], Tensor("I64", (), [5]))
        self.assertEqual(tensors["h"].values, [0.5, -1.5])


if __name__ == "__main__":
    unittest.main()
