"""Tests for app/onnx_export.py: the exported graph, read back by a small protobuf reader written
here and run by a slow, obvious interpreter of its dozen operators, gives what predict gives;
a layer with no ONNX form is one line. Where onnx and onnxruntime happen to be installed,
the checker accepts every export and ONNX Runtime agrees on 100 rows within 1e-5."""

import contextlib
import io
import math
import os
import struct
import sys
import tempfile
import unittest
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import export_models  # noqa: E402
import main  # noqa: E402
from app import export, torch_layout  # noqa: E402
from app.export import ExportError  # noqa: E402
from layers import Layer  # noqa: E402

try:
    import numpy
    import onnx
    import onnxruntime
except ImportError:
    onnxruntime = None


# ------------------------------------------------- a protobuf reader, for the tests only
def fields(data):
    """[(field number, value)] of an encoded message: ints for varints, bytes otherwise."""
    out, position = [], 0

    def read_varint():
        nonlocal position
        value, shift = 0, 0
        while True:
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while position < len(data):
        key = read_varint()
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value = read_varint()
            out.append((number, value - (1 << 64) if value >= 1 << 63 else value))
        elif wire_type == 2:
            length = read_varint()
            out.append((number, data[position:position + length]))
            position += length
        elif wire_type == 5:
            out.append((number, data[position:position + 4]))
            position += 4
        else:
            raise AssertionError(f"unexpected wire type {wire_type}")
    return out


def repeated(message, number):
    return [value for n, value in fields(message) if n == number]


def single(message, number, default=None):
    values = repeated(message, number)
    return values[-1] if values else default


def read_model(data):
    """(opset, nodes [(op_type, inputs, outputs, {attribute: value})], {initializer: (dims, values)},
    input names, output names) of an ONNX ModelProto."""
    graph = single(data, 7)
    opset = single(single(data, 8), 2)
    nodes = []
    for node in repeated(graph, 1):
        attributes = {}
        for attribute in repeated(node, 5):
            name, kind = single(attribute, 1).decode(), single(attribute, 20)
            attributes[name] = (struct.unpack("<f", single(attribute, 2))[0] if kind == 1 else
                                repeated(attribute, 8) if kind == 7 else single(attribute, 3))
        nodes.append((single(node, 4).decode(), [i.decode() for i in repeated(node, 1)],
                      [o.decode() for o in repeated(node, 2)], attributes))
    constants = {}
    for tensor in repeated(graph, 5):
        dims, data_type, raw = repeated(tensor, 1), single(tensor, 2), single(tensor, 9)
        letter = {1: "f", 7: "q", 11: "d"}[data_type]
        constants[single(tensor, 8).decode()] = (dims, list(struct.unpack(f"<{len(raw) // struct.calcsize(letter)}"
                                                                           f"{letter}", raw)))
    names = lambda number: [single(v, 1).decode() for v in repeated(graph, number)]  # noqa: E731
    return opset, nodes, constants, names(11), names(12)


# ------------------------------------------------- a slow interpreter of the operators used
def run_graph(data, rows):
    """The model's output for `rows` (lists of floats), computed one number at a time in float64."""
    _, nodes, constants, inputs, outputs = read_model(data)
    values = {inputs[0]: [list(map(float, row)) for row in rows]}

    def value(name):
        if name in values:
            return values[name]
        dims, flat = constants[name]
        return [flat[i * dims[1]:(i + 1) * dims[1]] for i in range(dims[0])] if len(dims) == 2 else flat

    def rowwise(x, vector, op):  # x (n, c) with a (c,) or (1,) vector broadcast along each row
        return [[op(v, vector[j % len(vector)]) for j, v in enumerate(row)] for row in x]

    def softmax(row):
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        return [e / sum(exps) for e in exps]

    for op, ins, outs, attributes in nodes:
        x = value(ins[0])
        if op == "Gemm":  # Y = X @ W.T + b with transB = 1: W is (out, in)
            assert attributes == {"transB": 1}
            weight = value(ins[1])
            bias = value(ins[2]) if len(ins) > 2 else [0.0] * len(weight)
            y = [[sum(a * w for a, w in zip(row, w_row)) + b for w_row, b in zip(weight, bias)] for row in x]
        elif op == "BatchNormalization":
            gamma, beta, mean, var = (value(name) for name in ins[1:])
            eps = attributes["epsilon"]
            y = [[g * (v - m) / math.sqrt(s + eps) + b for v, g, b, m, s in zip(row, gamma, beta, mean, var)]
                 for row in x]
        elif op in ("Sub", "Div", "Mul", "Add", "Max"):
            operation = {"Sub": lambda a, b: a - b, "Div": lambda a, b: a / b, "Mul": lambda a, b: a * b,
                         "Add": lambda a, b: a + b, "Max": max}[op]
            if ins[0] in constants:  # a constant on the left: 1 - p
                y = [[operation(value(ins[0])[0], v) for v in row] for row in value(ins[1])]
            elif ins[1] in values:  # two results of the same shape: Max(x, alpha * x)
                y = [list(map(operation, a, b)) for a, b in zip(x, values[ins[1]])]
            else:
                y = rowwise(x, value(ins[1]), operation)
        elif op == "Concat":
            assert attributes == {"axis": 1}
            y = [a + b for a, b in zip(x, value(ins[1]))]
        elif op == "Softmax":
            assert attributes == {"axis": 1}
            y = [softmax(row) for row in x]
        else:
            function = {"Relu": lambda v: max(v, 0.0), "Tanh": math.tanh, "Identity": lambda v: v,
                        "Sigmoid": lambda v: 1 / (1 + math.exp(-v)),
                        "LeakyRelu": lambda v: v if v > 0 else attributes["alpha"] * v}[op]
            y = [[function(v) for v in row] for row in x]
        values[outs[0]] = y
    return values[outputs[0]]


class OnnxGraphTest(unittest.TestCase):
    def test_the_graph_computes_the_predictions(self):
        for kind in export_models.KINDS:
            with self.subTest(kind=kind):
                net, rows = export_models.network(kind)
                data = export.export_files(net, "onnx", "m.onnx", "float64")["m.onnx"]
                got = run_graph(data, rows.rows[:20])
                expected = export_models.predictions(net, rows)[:20]
                self.assertLess(export_models.max_difference(got, expected, relative=kind == "regression"), 1e-12)

    def test_normalization_comes_first_and_the_names_are_input_and_output(self):
        net, _ = export_models.network("binary")
        opset, nodes, constants, inputs, outputs = read_model(export.export_files(net, "onnx", "m.onnx")["m.onnx"])
        self.assertGreaterEqual(opset, 13)
        self.assertEqual((inputs, outputs), (["input"], ["output"]))
        self.assertEqual([n[0] for n in nodes], ["Sub", "Div", "Gemm", "Tanh", "Gemm", "Sigmoid", "Sub", "Concat"])
        self.assertEqual(nodes[0][1], ["input", "normalization.shift"])
        self.assertEqual(nodes[-1][2], ["output"])
        self.assertEqual(constants["normalization.scale"][1],
                         [struct.unpack("<f", struct.pack("<f", v))[0] for v in net.metadata["normalization"]["scale"]])
        self.assertEqual(constants["0.weight"][0], [5, 4])  # (out, in), as torch

    def test_a_logits_classifier_gets_a_softmax_and_a_regression_its_units(self):
        net, _ = export_models.network("logits")
        nodes = read_model(export.export_files(net, "onnx", "m.onnx")["m.onnx"])[1]
        self.assertEqual([n[0] for n in nodes][-2:], ["Gemm", "Softmax"])
        net, _ = export_models.network("regression")
        nodes = read_model(export.export_files(net, "onnx", "m.onnx")["m.onnx"])[1]
        self.assertEqual([n[0] for n in nodes][-2:], ["Mul", "Add"])

    def test_image_layers_become_reshape_conv_pool_reshape(self):
        net, _ = export_models.network("cnn")
        nodes = read_model(export.export_files(net, "onnx", "m.onnx")["m.onnx"])[1]
        self.assertEqual([n[0] for n in nodes], [
            "Sub", "Div", "Reshape", "Conv", "Reshape", "Reshape", "BatchNormalization", "Reshape", "Relu",
            "Reshape", "MaxPool", "Reshape", "Reshape", "Conv", "Reshape", "Tanh", "Reshape", "AveragePool",
            "Reshape", "Identity", "Gemm", "Softmax"])
        conv = nodes[13]
        self.assertEqual(conv[3], {"kernel_shape": [3, 2], "strides": [1, 2], "pads": [0, 0, 0, 0]})

    def test_sequence_layers_become_gather_and_the_onnx_recurrent_ops(self):
        net, _ = export_models.network("lstm")  # Embedding(27, 6) -> LSTM(6, 8) -> PositionwiseDense(8, 27)
        _, nodes, constants, _, _ = read_model(export.export_files(net, "onnx", "m.onnx", "float64")["m.onnx"])
        self.assertEqual([n[0] for n in nodes], ["Cast", "Gather", "Reshape", "Reshape", "Transpose", "LSTM",
                                                 "Transpose", "Reshape", "Reshape", "MatMul", "Add", "Reshape"])
        self.assertEqual(nodes[5][3], {"hidden_size": 8})
        dims, w = constants["1.W"]
        self.assertEqual(dims, [1, 32, 6])
        lstm, hidden = net.layers[1], 8
        # ONNX's gate blocks are i, o, f, c; torch's (and ours) i, f, g, o: ONNX block 1 is our block 3
        for block, ours in ((0, 0), (1, 3), (2, 1), (3, 2)):
            for unit in (0, 7):
                for d in (0, 5):
                    self.assertEqual(w[(block * hidden + unit) * 6 + d], lstm.weight_ih.value.rows[d][ours * hidden + unit])
        gru_nodes = read_model(export.export_files(export_models.network("gru")[0], "onnx", "m.onnx")["m.onnx"])[1]
        self.assertEqual(gru_nodes[5][3], {"hidden_size": 8, "linear_before_reset": 1})

    def test_a_layer_with_no_onnx_form_is_one_line_and_nothing_is_written(self):
        class Mystery(Layer):
            def forward(self, x, training=False):
                return x

        net, _ = export_models.network("logits")
        net.layers.insert(1, Mystery())
        with mock.patch.dict(torch_layout.TO_TORCH, {"Mystery": lambda layer, dtype: ({"module": "Mystery"}, {})}):
            with self.assertRaisesRegex(ExportError, r"m.json: layer 1 \(Mystery\(\), torch Mystery\) has no ONNX "
                                                     r"form here; ONNX export covers AvgPool1d, AvgPool2d, BatchNorm1d"):
                export.export_files(net, "onnx", "m.onnx", model_name="m.json")
            with tempfile.TemporaryDirectory() as folder, mock.patch.dict("network.LAYER_TYPES", {"Mystery": Mystery}):
                path = os.path.join(folder, "m.json")
                net.save(path)
                err = io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    status = main.main(["export", "--model", path, "--format", "onnx"])
                self.assertEqual(status, 2)
                self.assertEqual(err.getvalue().count("\n"), 1)
                self.assertIn("has no ONNX form here", err.getvalue())
                self.assertEqual(os.listdir(folder), ["m.json"])


@unittest.skipIf(onnxruntime is None, "onnx and onnxruntime are not installed")
class OnnxRuntimeTest(unittest.TestCase):
    """ONNX Runtime runs each export and gives our predictions on 100 rows within 1e-5 (float32)."""

    def test_onnx_runtime_predicts_what_predict_does(self):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        for kind in export_models.KINDS + export_models.IMAGE_KINDS + export_models.SEQUENCE_KINDS:
            net, rows = export_models.network(kind)
            expected = export_models.predictions(net, rows)
            for dtype, tolerance, numpy_type in (("float32", 1e-5, numpy.float32), ("float64", 1e-12, numpy.float64)):
                if dtype == "float64" and kind not in export_models.KINDS + ("names_mlp",):
                    continue  # valid ONNX, but ONNX Runtime's CPU provider has no float64 Conv, RNN, LSTM, GRU
                with self.subTest(kind=kind, dtype=dtype):
                    data = export.export_files(net, "onnx", "m.onnx", dtype)["m.onnx"]
                    onnx.checker.check_model(onnx.ModelProto.FromString(data), full_check=True)
                    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
                    got = session.run(["output"], {"input": numpy.array(rows.rows, dtype=numpy_type)})[0]
                    self.assertEqual(got.dtype, numpy_type)
                    relative = kind == "regression" or kind in export_models.SEQUENCE_KINDS  # values, logits
                    difference = export_models.max_difference(got.tolist(), expected, relative=relative)
                    self.assertLess(difference, tolerance)


if __name__ == "__main__":
    unittest.main()
