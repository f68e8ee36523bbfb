"""Tests for app/torch_layout.py and app/export.py: the state_dict keys and layouts of PyTorch,
the export -> import round trip (bit-identical in float64), importing a file written the way
PyTorch writes one, every malformed input as one line with exit status 2 and nothing
written, and, where torch and safetensors happen to be installed, model_torch.py's
predictions beside ours on 100 rows and a network trained in PyTorch imported here."""

import contextlib
import importlib.util
import io
import json
import os
import random
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
from app import export, safetensors_io  # noqa: E402
from app.safetensors_io import Tensor  # noqa: E402
from app.torch_layout import LayoutError, to_torch  # noqa: E402
from layers import Layer  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402

try:
    import torch
    from safetensors.torch import save_file as torch_save_file
except ImportError:
    torch = None


def run_main(*argv):
    """(exit status, stdout, stderr) of main.main(argv)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def float32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


class TemporaryFolderTest(unittest.TestCase):
    def setUp(self):
        self._folder = tempfile.TemporaryDirectory()
        self.folder = self._folder.name

    def tearDown(self):
        self._folder.cleanup()

    def path(self, name):
        return os.path.join(self.folder, name)

    def save(self, kind):
        net, rows = export_models.network(kind)
        path = self.path(kind + ".json")
        net.save(path)
        return path, net, rows


class TorchLayoutTest(unittest.TestCase):
    def test_state_dict_keys_are_those_of_the_equivalent_nn_sequential(self):
        net, _ = export_models.network("every_layer")
        modules, state = to_torch(net)
        self.assertEqual(list(state), [
            "0.weight",  # Dense without bias (BatchNorm's beta shifts)
            "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
            "4.weight", "4.bias", "6.weight", "6.bias", "8.weight", "8.bias", "10.weight", "10.bias",
            "12.weight", "12.bias"])
        self.assertEqual([m["module"] for m in modules], [
            "Linear", "BatchNorm1d", "LeakyReLU", "Dropout", "Linear", "Sigmoid", "Linear", "Tanh",
            "Linear", "Identity", "Linear", "ReLU", "Linear", "Softmax"])
        self.assertEqual(modules[0], {"module": "Linear", "in_features": 4, "out_features": 6, "bias": False})
        self.assertEqual(modules[1], {"module": "BatchNorm1d", "num_features": 6, "eps": 1e-3, "momentum": 0.2})
        self.assertEqual(modules[2], {"module": "LeakyReLU", "negative_slope": 0.2})
        self.assertEqual(modules[3], {"module": "Dropout", "p": 0.3})
        self.assertEqual(modules[13], {"module": "Softmax", "dim": 1})

    def test_dense_weight_is_stored_out_by_in(self):
        net, _ = export_models.network("logits")
        _, state = to_torch(net, "F64")
        dense = net.layers[2]  # Dense(5 -> 3): W is (in, out) = (5, 3)
        weight = state["2.weight"]
        self.assertEqual(weight.shape, (3, 5))
        for o in range(3):
            for i in range(5):
                self.assertEqual(weight.values[o * 5 + i], dense.weight.value.rows[i][o])
        self.assertEqual(state["2.bias"], Tensor("F64", (3,), dense.bias.value.rows[0]))

    def test_recurrent_weights_are_pytorchs_weight_ih_l0_and_friends(self):
        net, _ = export_models.network("lstm")  # Embedding(27, 6) -> LSTM(6, 8) -> PositionwiseDense(8, 27)
        modules, state = to_torch(net, "F64")
        self.assertEqual(list(state), ["0.weight", "1.weight_ih_l0", "1.weight_hh_l0", "1.bias_ih_l0", "1.bias_hh_l0",
                                       "2.weight", "2.bias"])
        self.assertEqual(modules[1], {"module": "LSTM", "input_size": 6, "hidden_size": 8, "return_sequences": True})
        lstm = net.layers[1]
        self.assertEqual(state["1.weight_ih_l0"].shape, (32, 6))  # (4 * H, D), gates i, f, g, o
        self.assertEqual(state["1.weight_hh_l0"].shape, (32, 8))
        for r in range(32):
            for d in range(6):
                self.assertEqual(state["1.weight_ih_l0"].values[r * 6 + d], lstm.weight_ih.value.rows[d][r])
            self.assertEqual(state["1.weight_hh_l0"].values[r * 8 + 3], lstm.weight_hh.value.rows[3][r])
        self.assertEqual(state["1.bias_hh_l0"].values, lstm.bias_hh.value.rows[0])
        self.assertEqual(state["0.weight"].shape, (27, 6))  # the embedding table as it is
        self.assertEqual(state["0.weight"].values[6 * 5 + 2], net.layers[0].weight.value.rows[5][2])
        self.assertEqual(state["2.weight"].shape, (27, 8))
        self.assertEqual(to_torch(export_models.network("gru")[0])[0][1]["return_sequences"], False)
        self.assertEqual(to_torch(export_models.network("rnn")[0])[0][0]["nonlinearity"], "relu")

    def test_conv_weights_are_out_in_kh_kw(self):
        net, _ = export_models.network("cnn")
        modules, state = to_torch(net, "F64")
        conv = net.layers[4]  # Conv2D(4 -> 6, 3x2, stride (1, 2)) on 4x4x4
        self.assertEqual(modules[4], {"module": "Conv2d", "in_channels": 4, "out_channels": 6, "kernel_size": [3, 2],
                                      "stride": [1, 2], "padding": [0, 0], "bias": True, "input_shape": [4, 4, 4]})
        weight = state["4.weight"]
        self.assertEqual(weight.shape, (6, 4, 3, 2))
        for o, c, i, j in ((0, 0, 0, 0), (5, 3, 2, 1), (2, 1, 1, 0)):
            # torch's weight[o, c, i, j] is row c*kH*kW + i*kW + j, column o of W
            self.assertEqual(weight.values[((o * 4 + c) * 3 + i) * 2 + j], conv.weight.value.rows[c * 6 + i * 2 + j][o])
        self.assertEqual([m["module"] for m in modules], ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d",
                                                          "Tanh", "AvgPool2d", "Flatten", "Linear", "Softmax"])
        self.assertEqual(list(state)[2:7], ["1.weight", "1.bias", "1.running_mean", "1.running_var",
                                            "1.num_batches_tracked"])
        self.assertEqual(modules[6], {"module": "AvgPool2d", "kernel_size": [2, 2], "stride": [1, 1],
                                      "input_shape": [6, 2, 2]})
        modules, state = to_torch(export_models.network("conv1d")[0])
        self.assertEqual(state["0.weight"].shape, (6, 8, 3))
        self.assertEqual(modules[0]["kernel_size"], 3)
        self.assertEqual(modules[5], {"module": "GlobalAvgPool", "input_shape": [4, 1]})

    def test_batch_norm_tensors_are_its_parameters_and_running_statistics(self):
        net, _ = export_models.network("every_layer")
        _, state = to_torch(net, "F64")
        norm = net.layers[1]
        self.assertEqual(state["1.weight"].values, norm.gamma.value.rows[0])
        self.assertEqual(state["1.bias"].values, norm.beta.value.rows[0])
        self.assertEqual(state["1.running_mean"].values, norm.running_mean.rows[0])
        self.assertEqual(state["1.running_var"].values, norm.running_var.rows[0])
        self.assertEqual(state["1.num_batches_tracked"], Tensor("I64", (), [0]))

    def test_float32_export_rounds_every_weight_to_nearest(self):
        net, _ = export_models.network("logits")
        _, state = to_torch(net, "F32")
        tensors, _ = safetensors_io.decode(safetensors_io.encode(state))
        self.assertEqual(tensors["0.weight"].dtype, "F32")
        self.assertEqual(tensors["0.weight"].values,
                         [float32(w) for column in zip(*net.layers[0].weight.value.rows) for w in column])

    def test_a_layer_without_a_torch_form_is_named(self):
        class Mystery(Layer):
            def forward(self, x, training=False):
                return x

        net, _ = export_models.network("logits")
        net.layers.insert(1, Mystery())
        with self.assertRaisesRegex(LayoutError, r"layer 1 \(Mystery\(\)\) has no PyTorch form here"):
            to_torch(net)


    def test_transformer_tensors_are_multihead_attentions_and_nest_in_residuals(self):
        net, _ = export_models.network("gpt")  # Embedding, PositionEmbedding, 2 Residuals, LayerNorm, head
        modules, state = to_torch(net, "F64")
        self.assertEqual(list(state), [
            "0.weight", "1.weight",
            "2.layers.0.weight", "2.layers.0.bias", "2.layers.1.in_proj_weight", "2.layers.1.in_proj_bias",
            "2.layers.1.out_proj.weight", "2.layers.1.out_proj.bias",
            "3.layers.0.weight", "3.layers.0.bias", "3.layers.1.weight", "3.layers.1.bias",
            "3.layers.3.weight", "3.layers.3.bias", "4.weight", "4.bias", "5.weight", "5.bias"])
        self.assertEqual(modules[2], {"module": "Residual", "layers": [
            {"module": "LayerNorm", "normalized_shape": 8, "eps": 1e-5, "elementwise_affine": True, "bias": True},
            {"module": "MultiheadAttention", "embed_dim": 8, "num_heads": 2, "bias": True, "causal": True}]})
        self.assertEqual(modules[1], {"module": "PositionEmbedding", "context_length": 6, "embedding_dim": 8})
        attention = net.layers[2].layers[1]  # in_proj_weight (D, 3D) here, (3D, D) in torch
        weight = state["2.layers.1.in_proj_weight"]
        self.assertEqual(weight.shape, (24, 8))
        for r in range(24):
            for d in range(8):
                self.assertEqual(weight.values[r * 8 + d], attention.in_proj_weight.value.rows[d][r])
        self.assertEqual(state["2.layers.1.out_proj.weight"].values[3 * 8 + 5], attention.out_proj_weight.value.rows[5][3])
        self.assertEqual(state["1.weight"].values[8 * 4 + 7], net.layers[1].weight.value.rows[4][7])
        self.assertEqual(state["4.weight"].values, net.layers[4].weight.value.rows[0])
        modules, state = to_torch(export_models.network("encoder")[0], "F64")
        self.assertEqual(modules[1]["layers"][0], {"module": "RMSNorm", "normalized_shape": 6, "eps": 1e-5,
                                                   "elementwise_affine": True})
        self.assertEqual(modules[1]["layers"][1]["bias"], False)
        self.assertNotIn("1.layers.1.in_proj_bias", state)
        self.assertNotIn("2.bias", state)  # LayerNorm(bias=False)
        self.assertEqual(modules[3]["layers"][0]["elementwise_affine"], False)

    def test_a_layer_inside_a_residual_without_a_torch_form_is_named(self):
        class Mystery(Layer):
            def forward(self, x, training=False):
                return x

        net, _ = export_models.network("gpt")
        net.layers[3].layers.insert(2, Mystery())
        with self.assertRaisesRegex(LayoutError, r"layer 2 of Residual\(5 layers\) \(Mystery\(\)\) has no PyTorch"):
            to_torch(net)

    def test_a_transformer_has_no_onnx_form_yet_and_says_so(self):
        net, _ = export_models.network("gpt")
        with self.assertRaisesRegex(export.ExportError, r"layer 1 \(PositionEmbedding\(6, 8\), torch "
                                                        r"PositionEmbedding\) has no ONNX form here"):
            export.export_files(net, "onnx", "x.onnx")


class RoundTripTest(TemporaryFolderTest):
    def test_float64_export_then_import_is_bit_identical(self):
        for kind in (export_models.KINDS + export_models.SEQUENCE_KINDS + export_models.IMAGE_KINDS +
                     export_models.TRANSFORMER_KINDS):
            with self.subTest(kind=kind):
                net, rows = export_models.network(kind)
                path = self.path(kind + ".safetensors")
                export.write_files(export.export_files(net, "safetensors", path, "float64"))
                back = export.import_network(path)
                self.assertEqual(back.get_weights(), net.get_weights())
                self.assertEqual([type(layer) for layer in back.layers], [type(layer) for layer in net.layers])
                self.assertEqual([layer.get_config() for layer in back.layers],
                                 [dict(layer.get_config(), init="zeros") if "init" in layer.get_config()
                                  else layer.get_config() for layer in net.layers])
                self.assertEqual(back.metadata, net.metadata)
                self.assertEqual(export_models.predictions(back, rows), export_models.predictions(net, rows))

    def test_a_demos_own_metadata_comes_back_as_it_was(self):
        net, _ = export_models.network("names_mlp")
        net.metadata = {"demo": "names", "context": 3, "vocabulary": ".abc"}
        path = self.path("names.safetensors")
        export.write_files(export.export_files(net, "safetensors", path))
        self.assertEqual(export.import_network(path).metadata, net.metadata)

    def test_float32_import_gives_the_float32_weights(self):
        net, _ = export_models.network("every_layer")
        path = self.path("w.safetensors")
        export.write_files(export.export_files(net, "safetensors", path, "float32"))
        back = export.import_network(path)
        expected = [[[float32(v) for v in row] for row in matrix] for matrix in net.get_weights()]
        self.assertEqual(back.get_weights(), expected)
        self.assertNotEqual(back.get_weights(), net.get_weights())

    def test_the_metadata_holds_everything_prediction_needs(self):
        net, _ = export_models.network("regression")
        _, metadata = safetensors_io.decode(export.export_files(net, "safetensors", "w.safetensors")["w.safetensors"])
        self.assertEqual(metadata["format"], "pure-python-neural-network")
        self.assertEqual(metadata["dtype"], "F32")
        for key in ("task", "feature_names", "target", "normalization", "target_normalization"):
            self.assertEqual(json.loads(metadata[key]), net.metadata[key])
        self.assertEqual(json.loads(metadata["architecture"])[0]["module"], "Linear")


def torch_style_file(path, tensors, metadata=None):
    """A safetensors file as safetensors.torch.save_file writes a state_dict (our encoder, torch's keys)."""
    safetensors_io.write(path, tensors, metadata or {"format": "pt"})


class ImportTest(TemporaryFolderTest):
    """A file written by PyTorch (keys, layouts, no framework metadata), with crafted weights."""

    def crafted(self):
        """Linear(3, 4) -> ReLU -> Linear(4, 2), weights in torch's (out, in) layout, as lists of rows."""
        rng = random.Random(5)
        w1 = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(4)]
        b1 = [rng.uniform(-1, 1) for _ in range(4)]
        w2 = [[rng.uniform(-1, 1) for _ in range(4)] for _ in range(2)]
        b2 = [rng.uniform(-1, 1) for _ in range(2)]
        tensors = {"0.weight": Tensor("F64", (4, 3), [v for row in w1 for v in row]), "0.bias": Tensor("F64", (4,), b1),
                   "2.weight": Tensor("F64", (2, 4), [v for row in w2 for v in row]), "2.bias": Tensor("F64", (2,), b2)}
        return (w1, b1, w2, b2), tensors

    def write_arch(self, arch, name="arch.json"):
        with open(self.path(name), "w") as f:
            json.dump(arch, f)
        return self.path(name)

    def test_a_torch_state_dict_with_an_architecture_becomes_a_network(self):
        (w1, b1, w2, b2), tensors = self.crafted()
        torch_style_file(self.path("w.safetensors"), tensors)
        arch = self.write_arch({"modules": ["Linear", "ReLU", {"module": "Linear", "in_features": 4}],
                                "feature_names": ["a", "b", "c"]})
        net = export.import_network(self.path("w.safetensors"), arch)
        x = [0.3, -1.2, 2.0]
        # the slow, obvious computation: h = relu(W1 x + b1), y = W2 h + b2, with W (out, in)
        hidden = [max(0.0, sum(w * v for w, v in zip(w1[o], x)) + b1[o]) for o in range(4)]
        expected = [sum(w * h for w, h in zip(w2[o], hidden)) + b2[o] for o in range(2)]
        got = net.predict(Matrix([x])).rows[0]
        for g, e in zip(got, expected):
            self.assertAlmostEqual(g, e, places=14)
        self.assertEqual(net.metadata["task"], "regression")  # no Softmax, no class names
        self.assertEqual(net.metadata["feature_names"], ["a", "b", "c"])
        self.assertEqual(net.metadata["normalization"]["method"], "none")

    def test_a_linear_without_bias_takes_the_files_word(self):
        (w1, b1, w2, b2), tensors = self.crafted()
        del tensors["2.bias"]
        torch_style_file(self.path("w.safetensors"), tensors)
        net = export.import_network(self.path("w.safetensors"), self.write_arch(["Linear", "ReLU", "Linear"]))
        self.assertIsNone(net.layers[2].bias)
        self.assertIsNotNone(net.layers[0].bias)

    def test_an_architecture_that_contradicts_a_shape_is_one_line(self):
        _, tensors = self.crafted()
        torch_style_file(self.path("w.safetensors"), tensors)
        arch = self.write_arch({"modules": [{"module": "Linear", "in_features": 5}, "ReLU", "Linear"]})
        with self.assertRaisesRegex(LayoutError, r"module 0: the architecture says in_features 5, but weight has "
                                                 r"shape \[4, 3\] \(out_features, in_features\)"):
            export.import_network(self.path("w.safetensors"), arch)
        arch = self.write_arch({"modules": [{"module": "Linear", "bias": "yes"}, "ReLU", "Linear"]})
        with self.assertRaisesRegex(LayoutError, "module 0: bias must be true or false, got 'yes'"):
            export.import_network(self.path("w.safetensors"), arch)

    def test_a_flag_that_is_not_true_or_false_is_one_line(self):
        # "bias": "no" would read as true if taken as it is
        ones, zeros = Tensor("F64", (3,), [1.0] * 3), Tensor("F64", (3,), [0.0] * 3)
        torch_style_file(self.path("w.safetensors"), {"0.weight": ones, "0.bias": zeros})
        for key in ("bias", "elementwise_affine"):
            arch = self.write_arch({"modules": [{"module": "LayerNorm", "normalized_shape": 3, key: "no"}]})
            with self.subTest(key=key), self.assertRaisesRegex(LayoutError, f"module 0: {key} must be true or false"):
                export.import_network(self.path("w.safetensors"), arch)

    def test_class_names_make_a_classifier_and_predict_applies_softmax(self):
        _, tensors = self.crafted()
        torch_style_file(self.path("w.safetensors"), tensors)
        arch = self.write_arch({"modules": ["Linear", "ReLU", "Linear"], "class_names": ["cat", "dog"]})
        self.assertEqual(run_main("import", "--weights", self.path("w.safetensors"), "--arch", arch,
                                  "--output", self.path("m.json"))[0], 0)
        with open(self.path("rows.csv"), "w") as f:
            f.write("x1,x2,x3\n0.3,-1.2,2.0\n1,1,1\n")
        status, out, err = run_main("predict", "--model", self.path("m.json"), "--input", self.path("rows.csv"))
        self.assertEqual((status, err), (0, ""))
        net = Network.load(self.path("m.json"))
        logits = net.predict(Matrix([[0.3, -1.2, 2.0]])).rows[0]
        best = max(range(2), key=logits.__getitem__)
        self.assertIn(["cat", "dog"][best], out.splitlines()[1])

    def test_a_file_exported_here_needs_no_architecture(self):
        path, net, _ = self.save("every_layer")
        self.assertEqual(run_main("export", "--model", path, "--format", "safetensors", "--dtype", "float64")[0], 0)
        status, out, _ = run_main("import", "--weights", self.path("every_layer.safetensors"),
                                  "--output", self.path("back.json"))
        self.assertEqual(status, 0)
        self.assertIn("model saved to", out)
        self.assertEqual(Network.load(self.path("back.json")).get_weights(), net.get_weights())

    def assertImportRefused(self, tensors, arch, pattern, metadata=None):
        torch_style_file(self.path("w.safetensors"), tensors, metadata)
        argv = ["import", "--weights", self.path("w.safetensors"), "--output", self.path("out.json")]
        if arch is not None:
            argv += ["--arch", self.write_arch(arch)]
        status, out, err = run_main(*argv)
        self.assertEqual(status, 2, err)
        self.assertRegex(err, pattern)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("error: "), err)
        self.assertFalse(os.path.exists(self.path("out.json")))

    def test_each_mismatch_is_one_line_and_nothing_is_written(self):
        _, tensors = self.crafted()
        layers = ["Linear", "ReLU", "Linear"]
        missing = {k: v for k, v in tensors.items() if k != "2.bias"}
        # (a Linear without "bias" in the architecture takes the file's word; an explicit bias must be there)
        self.assertImportRefused(missing, ["Linear", "ReLU", {"module": "Linear", "bias": True}],
                                 r"module 2 \(Linear\) needs tensor '2.bias'")
        self.assertImportRefused(tensors, ["Linear", "ReLU"], r"tensor '2.weight' belongs to no module")
        self.assertImportRefused(tensors, [{"module": "Linear", "in_features": 5}, "ReLU", "Linear"],
                                 r"says in_features 5, but weight has shape \[4, 3\]")
        bad_bias = dict(tensors, **{"2.bias": Tensor("F64", (3,), [0.0, 0.0, 0.0])})
        self.assertImportRefused(bad_bias, layers, r"tensor '2.bias' has shape \[3\], but Linear module 2 needs \[2\]")
        wrong_next = dict(tensors, **{"2.weight": Tensor("F64", (2, 5), [0.0] * 10)})
        self.assertImportRefused(wrong_next, layers, "does not fit together")
        self.assertImportRefused(tensors, ["Linear", "GELU", "Linear"], "unknown module 'GELU'")
        self.assertImportRefused(tensors, ["Linear", {"module": "ReLU", "inplace": True}, "Linear"],
                                 "ReLU takes no option 'inplace'")
        ints = dict(tensors, **{"0.bias": Tensor("I64", (4,), [1, 2, 3, 4])})
        self.assertImportRefused(ints, layers, "tensor '0.bias' is I64; weights must be floats")
        nan = dict(tensors, **{"0.bias": Tensor("F64", (4,), [0.0, float("nan"), 0.0, 0.0])})
        self.assertImportRefused(nan, layers, "expected a finite number")
        self.assertImportRefused(tensors, None, "carries no architecture")
        self.assertImportRefused(tensors, {"modules": layers, "clases": ["a"]}, "unknown key 'clases'")
        self.assertImportRefused(tensors, {"modules": layers, "class_names": ["a", "a"]},
                                 "class_names must be a list of at least 2 different")

    def test_transformer_mismatches_are_one_line_too(self):
        net, _ = export_models.network("gpt")
        modules, tensors = to_torch(net, "F64")
        self.assertImportRefused(tensors, modules[:2] + [{"module": "Residual"}] + modules[3:],
                                 r"module 2: Residual needs \"layers\", a non-empty list of modules")
        no_heads = dict(modules[2], layers=[modules[2]["layers"][0], {"module": "MultiheadAttention"}])
        self.assertImportRefused(tensors, modules[:2] + [no_heads] + modules[3:],
                                 r"module 2, inner module 1: MultiheadAttention needs num_heads")
        three_heads = dict(modules[2], layers=[modules[2]["layers"][0], dict(modules[2]["layers"][1], num_heads=3)])
        self.assertImportRefused(tensors, modules[:2] + [three_heads] + modules[3:],
                                 r"inner module 1: MultiHeadSelfAttention embed_dim \(8\) must be divisible by "
                                 r"num_heads \(3\)")
        missing = {k: v for k, v in tensors.items() if k != "3.layers.3.bias"}
        self.assertImportRefused(missing, modules, r"needs tensor '3.layers.3.bias'")
        self.assertImportRefused(tensors, modules[:2] + [dict(modules[2], layers=[{"module": "GELU"}])] + modules[3:],
                                 r"module 2, inner module 0: unknown module 'GELU'")
        norm = dict(modules[-2], normalized_shape=6)
        self.assertImportRefused(tensors, modules[:-2] + [norm, modules[-1]],
                                 r"module 4: the architecture says normalized_shape 6, but weight has shape \[8\]")

    def test_a_malformed_weights_file_is_one_line(self):
        with open(self.path("w.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", 10 ** 6) + b"{}")
        status, _, err = run_main("import", "--weights", self.path("w.safetensors"), "--arch",
                                  self.write_arch(["Linear"]), "--output", self.path("out.json"))
        self.assertEqual(status, 2)
        self.assertIn("is longer than the file", err)
        self.assertFalse(os.path.exists(self.path("out.json")))

    def test_import_refuses_to_write_over_its_inputs(self):
        _, tensors = self.crafted()
        torch_style_file(self.path("w.safetensors"), tensors)
        before = read_bytes(self.path("w.safetensors"))
        status, _, err = run_main("import", "--weights", self.path("w.safetensors"), "--arch",
                                  self.write_arch(["Linear", "ReLU", "Linear"]), "--output", self.path("w.safetensors"))
        self.assertEqual(status, 2)
        self.assertIn("is also the weights (--weights)", err)
        self.assertEqual(read_bytes(self.path("w.safetensors")), before)


class ExportCommandTest(TemporaryFolderTest):
    def test_each_format_writes_its_files(self):
        path, _, _ = self.save("logits")
        for fmt, names in (("safetensors", ["logits.safetensors"]), ("onnx", ["logits.onnx"]),
                           ("pytorch", ["logits.safetensors", "logits_torch.py"])):
            with self.subTest(fmt=fmt):
                status, out, err = run_main("export", "--model", path, "--format", fmt)
                self.assertEqual((status, err), (0, ""))
                for name in names:
                    self.assertIn(f"wrote {self.path(name)}", out)
                    self.assertTrue(os.path.getsize(self.path(name)) > 100)
        compile(read_bytes(self.path("logits_torch.py")), "logits_torch.py", "exec")  # valid Python

    def test_export_never_writes_over_the_model(self):
        path, _, _ = self.save("logits")
        before = read_bytes(path)
        status, _, err = run_main("export", "--model", path, "--format", "onnx", "--output", path)
        self.assertEqual(status, 2)
        self.assertIn("is also the model (--model)", err)
        self.assertEqual(read_bytes(path), before)

    def test_a_layer_without_an_export_is_one_line_and_nothing_is_written(self):
        class Mystery(Layer):
            def forward(self, x, training=False):
                return x

        path, net, _ = self.save("logits")
        with mock.patch.dict("network.LAYER_TYPES", {"Mystery": Mystery}):
            net.layers.insert(1, Mystery())
            net.save(path)
            status, _, err = run_main("export", "--model", path, "--format", "safetensors")
        self.assertEqual(status, 2)
        self.assertRegex(err, r"^error: .*logits.json: layer 1 \(Mystery\(\)\) has no PyTorch form here; "
                              r"exportable layers: .*\n$")
        self.assertEqual(os.listdir(self.folder), ["logits.json"])

    def test_a_damaged_model_is_one_line(self):
        with open(self.path("bad.json"), "w") as f:
            f.write("{")
        status, _, err = run_main("export", "--model", self.path("bad.json"), "--format", "onnx")
        self.assertEqual(status, 2)
        self.assertIn("bad.json", err)
        self.assertEqual(os.listdir(self.folder), ["bad.json"])

    def test_python_api_models_without_metadata_export_too(self):
        net, _ = export_models.network("logits")
        net.metadata = {}
        files = export.export_files(net, "pytorch", self.path("w.safetensors"))
        self.assertIn("output = model(x)\n    return output", files[self.path("w_torch.py")])


def load_script(path):
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@unittest.skipIf(torch is None, "torch and safetensors are not installed")
class PyTorchTest(TemporaryFolderTest):
    """model_torch.py gives our predictions on 100 rows: within 1e-6 in float32, 1e-12 in float64
    (relative for regression values, which are in the target's units)."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)  # the test machines are shared; one thread is plenty for 100 rows

    TOLERANCE = {"float32": 1e-6, "float64": 1e-12}

    def test_model_torch_predicts_what_predict_does(self):
        for kind in (export_models.KINDS + export_models.SEQUENCE_KINDS + export_models.IMAGE_KINDS +
                     export_models.TRANSFORMER_KINDS):
            net, rows = export_models.network(kind)
            expected = export_models.predictions(net, rows)
            for dtype in ("float32", "float64"):
                with self.subTest(kind=kind, dtype=dtype):
                    output = self.path(f"{kind}_{dtype}.safetensors")
                    export.write_files(export.export_files(net, "pytorch", output, dtype))
                    script = load_script(export.script_path(output))
                    model, stats = script.load()
                    torch_dtype = torch.float32 if dtype == "float32" else torch.float64
                    self.assertEqual(next(model.parameters()).dtype, torch_dtype)
                    got = script.predict(model, stats, torch.tensor(rows.rows, dtype=torch_dtype)).tolist()
                    # regression values (hundreds) and sequence logits: relative to the largest value
                    relative = kind == "regression" or kind in (export_models.SEQUENCE_KINDS +
                                                                 export_models.TRANSFORMER_KINDS)
                    difference = export_models.max_difference(got, expected, relative=relative)
                    self.assertLess(difference, self.TOLERANCE[dtype])

    def test_the_script_prints_the_classes_predict_prints(self):
        path, net, rows = self.save("every_layer")
        run_main("export", "--model", path, "--format", "pytorch", "--output", self.path("m.safetensors"))
        with open(self.path("rows.csv"), "w") as f:
            f.write(",".join(reversed(net.metadata["feature_names"])) + "\n")  # columns found by name
            f.writelines(",".join(map(repr, reversed(row))) + "\n" for row in rows.rows)
        script = load_script(self.path("m_torch.py"))
        out = io.StringIO()
        with mock.patch.object(sys, "argv", ["m_torch.py", self.path("rows.csv")]), contextlib.redirect_stdout(out):
            exec(compile(read_bytes(self.path("m_torch.py")), "m_torch.py", "exec"),
                 {"__name__": "__main__", "__file__": self.path("m_torch.py")})
        theirs = [line.split()[1] for line in out.getvalue().splitlines()]
        _, ours, _ = run_main("predict", "--model", path, "--input", self.path("rows.csv"))
        self.assertEqual(theirs, [line.split()[1] for line in ours.splitlines()[1:]])
        self.assertTrue(script.build())

    def test_a_network_trained_in_pytorch_imports_with_the_same_predictions(self):
        dataset, _ = export_models.data_rows("iris")
        x = torch.tensor(dataset.X.rows, dtype=torch.float64)
        y = torch.tensor(dataset.labels)
        mean, std = x.mean(0), x.std(0, unbiased=False)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
        for _ in range(300):  # plain gradient descent (torch.optim takes seconds to import)
            model.zero_grad()
            torch.nn.functional.cross_entropy(model((x - mean) / std), y).backward()
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter -= 0.5 * parameter.grad
        for dtype, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
            with self.subTest(dtype=dtype):
                typed = model.to(dtype)
                torch_save_file(typed.state_dict(), self.path("trained.safetensors"))
                arch = {"modules": ["Linear", "Tanh", "Linear"], "task": "classification",
                        "class_names": dataset.class_names, "feature_names": dataset.feature_names,
                        "target": "species",
                        "normalization": {"method": "zscore", "shift": mean.tolist(), "scale": std.tolist()}}
                with open(self.path("arch.json"), "w") as f:
                    json.dump(arch, f)
                status, _, err = run_main("import", "--weights", self.path("trained.safetensors"), "--arch",
                                          self.path("arch.json"), "--output", self.path("trained.json"))
                self.assertEqual((status, err), (0, ""))
                net = Network.load(self.path("trained.json"))
                with torch.no_grad():
                    theirs = torch.softmax(typed(((x - mean) / std).to(dtype)), dim=1).double().tolist()
                ours = export_models.predictions(net, dataset.X)
                self.assertLess(export_models.max_difference(ours, theirs), tolerance)
                accuracy = sum(row.index(max(row)) == label for row, label in zip(ours, dataset.labels)) / 150
                self.assertGreater(accuracy, 0.95)
        model.double()


if __name__ == "__main__":
    unittest.main()
