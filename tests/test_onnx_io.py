"""Tests for app/onnx_io.py: protocol-buffer varints and fields against bytes worked out by hand
(the first two are the examples of the protobuf encoding guide), then small ONNX messages.
Where the onnx package is installed (never required), it parses what we write."""

import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from app import onnx_io  # noqa: E402

try:
    import onnx
except ImportError:
    onnx = None


def hexbytes(text):
    return bytes.fromhex(text.replace(" ", ""))


class VarintTest(unittest.TestCase):
    def test_small_numbers_are_one_byte(self):
        self.assertEqual(onnx_io.varint(0), hexbytes("00"))
        self.assertEqual(onnx_io.varint(1), hexbytes("01"))
        self.assertEqual(onnx_io.varint(127), hexbytes("7f"))

    def test_each_byte_carries_7_bits_low_group_first(self):
        # 150 = 0b1_0010110: low 7 bits 0010110 (0x16) with the "more" bit -> 0x96, then 1 -> 0x01
        self.assertEqual(onnx_io.varint(150), hexbytes("96 01"))
        self.assertEqual(onnx_io.varint(128), hexbytes("80 01"))
        # 300 = 0b10_0101100: 0101100 | 0x80 = 0xac, then 0b10 = 0x02
        self.assertEqual(onnx_io.varint(300), hexbytes("ac 02"))
        # 2**21 = three groups: 0, 0, 1
        self.assertEqual(onnx_io.varint(2 ** 21), hexbytes("80 80 80 01"))

    def test_a_negative_int64_is_ten_bytes_of_twos_complement(self):
        self.assertEqual(onnx_io.varint(-1), hexbytes("ff ff ff ff ff ff ff ff ff 01"))
        self.assertEqual(onnx_io.varint(-2), hexbytes("fe ff ff ff ff ff ff ff ff 01"))


class FieldTest(unittest.TestCase):
    def test_key_is_field_number_shifted_3_bits_or_wire_type(self):
        self.assertEqual(onnx_io.key(1, 0), hexbytes("08"))
        self.assertEqual(onnx_io.key(2, 2), hexbytes("12"))
        self.assertEqual(onnx_io.key(2, 5), hexbytes("15"))
        self.assertEqual(onnx_io.key(20, 0), hexbytes("a0 01"))  # 20 << 3 = 160 takes two bytes

    def test_int_field_is_the_guides_first_example(self):
        self.assertEqual(onnx_io.int_field(1, 150), hexbytes("08 96 01"))

    def test_string_field_is_the_guides_second_example(self):
        self.assertEqual(onnx_io.string_field(2, "testing"), hexbytes("12 07 74 65 73 74 69 6e 67"))

    def test_float_field_is_4_little_endian_bytes(self):
        self.assertEqual(onnx_io.float_field(2, 1.0), hexbytes("15 00 00 80 3f"))
        self.assertEqual(onnx_io.float_field(2, -2.5), hexbytes("15 00 00 20 c0"))

    def test_packed_ints_share_one_length(self):
        self.assertEqual(onnx_io.packed_ints_field(1, [3, 270, 86942]), hexbytes("0a 06 03 8e 02 9e a7 05"))


class OnnxMessageTest(unittest.TestCase):
    def test_a_relu_node(self):
        # input "x" (field 1), output "y" (2), name "n" (3), op_type "Relu" (4)
        expected = hexbytes("0a 01 78  12 01 79  1a 01 6e  22 04 52 65 6c 75")
        self.assertEqual(onnx_io.node_proto("Relu", ["x"], ["y"], "n"), expected)

    def test_attributes_of_each_kind(self):
        # name "axis" (field 1), i = 1 (field 3), type INT = 2 (field 20)
        self.assertEqual(onnx_io.attribute_proto("axis", 1), hexbytes("0a 04 61 78 69 73  18 01  a0 01 02"))
        # name "alpha", f = 0.5 (field 2, 32-bit), type FLOAT = 1
        self.assertEqual(onnx_io.attribute_proto("alpha", 0.5), hexbytes("0a 05 616c706861  15 0000003f  a0 01 01"))
        # name "p", ints 1, 2 (field 8, one field per value), type INTS = 7
        self.assertEqual(onnx_io.attribute_proto("p", [1, 2]), hexbytes("0a 01 70  40 01  40 02  a0 01 07"))
        self.assertEqual(onnx_io.attribute_proto("s", "ab"), hexbytes("0a 01 73  22 02 61 62  a0 01 03"))
        # strings: field 9 per value, type STRINGS = 8
        self.assertEqual(onnx_io.attribute_proto("a", ["Relu"]), hexbytes("0a 01 61  4a 04 52 65 6c 75  a0 01 08"))

    def test_a_node_with_an_attribute_nests_it_length_delimited(self):
        attribute = onnx_io.attribute_proto("axis", 1)  # 11 bytes
        self.assertEqual(onnx_io.node_proto("Softmax", ["a"], ["b"], "s", {"axis": 1}),
                         hexbytes("0a 01 61  12 01 62  1a 01 73  22 07") + b"Softmax" + hexbytes("2a 0b") + attribute)

    def test_a_tensor(self):
        # dims 2 (field 1), data_type FLOAT = 1 (field 2), name "w" (field 8), raw_data (field 9)
        raw = hexbytes("0000803f 000020c0")
        self.assertEqual(onnx_io.tensor_proto("w", "F32", (2,), raw), hexbytes("08 02  10 01  42 01 77  4a 08") + raw)

    def test_a_value_info_with_a_symbolic_batch(self):
        # name "x"; type { tensor_type { elem_type 1, shape { dim {dim_param "n"}, dim {dim_value 4} } } }
        shape = hexbytes("0a 03 12 01 6e  0a 02 08 04")  # 9 bytes
        tensor_type = hexbytes("08 01  12 09") + shape  # 13 bytes
        expected = hexbytes("0a 01 78  12 0f  0a 0d") + tensor_type  # type (15 bytes) holds tensor_type (13)
        self.assertEqual(onnx_io.value_info_proto("x", "F32", ["n", 4]), expected)

    def test_a_model_header(self):
        model = onnx_io.model_proto(b"", producer="p")
        # ir_version 7, producer_name "p", graph (empty), opset_import {domain "", version 13}
        self.assertEqual(model, hexbytes("08 07  12 01 70  3a 00  42 04 0a 00 10 0d"))


@unittest.skipIf(onnx is None, "onnx is not installed")
class OnnxPackageTest(unittest.TestCase):
    def test_the_onnx_package_parses_and_checks_a_small_model(self):
        weight = onnx_io.tensor_proto("w", "F32", (2, 3), bytes(24))
        bias = onnx_io.tensor_proto("b", "F32", (2,), hexbytes("0000803f 000020c0"))
        nodes = [onnx_io.node_proto("Gemm", ["x", "w", "b"], ["h"], "gemm", {"transB": 1}),
                 onnx_io.node_proto("LeakyRelu", ["h"], ["y"], "act", {"alpha": 0.25})]
        graph = onnx_io.graph_proto("g", nodes, [weight, bias], [onnx_io.value_info_proto("x", "F32", ["batch", 3])],
                                    [onnx_io.value_info_proto("y", "F32", ["batch", 2])], doc="d")
        model = onnx.ModelProto.FromString(onnx_io.model_proto(graph, metadata={"k": "v"}))
        onnx.checker.check_model(model, full_check=True)
        self.assertEqual(model.ir_version, 7)
        self.assertEqual(model.opset_import[0].version, 13)
        self.assertEqual([n.op_type for n in model.graph.node], ["Gemm", "LeakyRelu"])
        self.assertEqual(model.graph.node[1].attribute[0].f, 0.25)
        self.assertEqual(onnx.numpy_helper.to_array(model.graph.initializer[1]).tolist(), [1.0, -2.5])
        self.assertEqual(model.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "batch")
        self.assertEqual(model.metadata_props[0].value, "v")


if __name__ == "__main__":
    unittest.main()
