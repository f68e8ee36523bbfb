"""Tests for layer_specs.py and the config side of convolutional models: data.image_shape and
model.layers, every mistake one line naming the layer, its input shape and what fits; the
command line exits 2 on each and trains, saves and predicts with a tiny CNN."""

import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from app.config import ConfigError, validate_config  # noqa: E402
from layer_specs import build_layers  # noqa: E402
from network import Network  # noqa: E402

MAIN = os.path.join(ROOT, "main.py")
CNN_LAYERS = [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1, "activation": "relu"},
              {"type": "maxpool2d", "kernel_size": 2},
              {"type": "dense", "units": 8, "activation": "relu"}]


def config_with(layers, image_shape=(1, 4, 4), **model):
    data = {"path": "data.csv", "target": "label"}
    if image_shape is not None:
        data["image_shape"] = list(image_shape)
    return {"data": data, "model": dict(model, layers=layers)}


def problem(config):
    """The one-line message validate_config gives for config (None when it is valid)."""
    try:
        validate_config(config)
    except ConfigError as error:
        return str(error)
    return None


class BuildLayersTest(unittest.TestCase):
    def test_builds_the_described_network(self):
        config = validate_config(config_with(CNN_LAYERS + [{"type": "dropout", "p": 0.2}], (1, 6, 6)))
        network = Network.from_config(config["model"], 36, 3, rng=random.Random(0), input_shape=(1, 6, 6))
        self.assertEqual([repr(layer) for layer in network.layers],
                         ["Conv2D(1 -> 4, 3x3, padding 1)", "ReLU()", "MaxPool2D(2x2)", "Dense(36 -> 8)", "ReLU()",
                          "Dropout(p=0.2)", "Dense(8 -> 3)", "Softmax()"])
        self.assertEqual(network.shapes[:3], [(4, 6, 6), (4, 6, 6), (4, 3, 3)])

    def test_every_layer_type_builds(self):
        layers, shape = build_layers([
            {"type": "conv2d", "filters": 3, "kernel_size": [3, 2], "stride": [1, 2], "batch_norm": True},
            {"type": "batchnorm2d"}, {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
            {"type": "globalavgpool2d"}, {"type": "flatten"}], (2, 6, 7))
        self.assertEqual([type(layer).__name__ for layer in layers],
                         ["Conv2D", "BatchNorm2D", "ReLU", "BatchNorm2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten"])
        self.assertIsNone(layers[0].bias)  # the norm's shift replaces it
        self.assertEqual(shape, (3,))
        layers, shape = build_layers([{"type": "conv1d", "filters": 2, "kernel_size": 3, "activation": "tanh"},
                                      {"type": "maxpool1d", "kernel_size": 2}, {"type": "avgpool1d", "kernel_size": 2},
                                      {"type": "globalavgpool1d"}], (3, 12))
        self.assertEqual([type(layer).__name__ for layer in layers],
                         ["Conv1D", "Tanh", "MaxPool1D", "AvgPool1D", "GlobalAvgPool1D"])
        self.assertEqual(shape, (2,))

    def test_a_width_that_does_not_match_the_image_shape(self):
        with self.assertRaisesRegex(ValueError, r"input shape \(1, 4, 4\) holds 16 values per row, but the data has "
                                                r"15 feature columns"):
            Network.from_config({"layers": CNN_LAYERS}, 15, 2, input_shape=(1, 4, 4))


class ConfigMistakesTest(unittest.TestCase):
    def test_valid_configs_pass(self):
        self.assertIsNone(problem(config_with(CNN_LAYERS)))
        self.assertIsNone(problem(config_with([{"type": "dense", "units": 4}], image_shape=None)))

    def test_each_mistake_is_one_line_naming_the_layer_its_input_and_what_fits(self):
        cases = [
            (config_with([{"type": "conv2d", "filters": 4, "kernel_size": 5}]),
             r"^config: model\.layers\[0\] \(conv2d\): Conv2D\(1 -> 4, 5x5\): its 5x5 kernel is larger than its "
             r"input of shape \(1, 4, 4\) \(padded to 4x4\); it fits images of at least 5x5 pixels$"),
            (config_with(CNN_LAYERS[:2] + [{"type": "maxpool2d", "kernel_size": 3}]),
             r"^config: model\.layers\[2\] \(maxpool2d\): MaxPool2D\(3x3\): its 3x3 window does not fit its input "
             r"of shape \(4, 2, 2\); it fits images of at least 3x3 pixels$"),
            (config_with(CNN_LAYERS, image_shape=None),
             r"^config: model\.layers\[0\] \(conv2d\): Conv2D takes images of shape \(C, H, W\), but its input is a "
             r"flat row of features; to read the feature columns as an image, set data\.image_shape to \[C, H, W\]$"),
            (config_with([{"type": "dense", "units": 8}, {"type": "maxpool2d", "kernel_size": 2}]),
             r"model\.layers\[1\] \(maxpool2d\): MaxPool2D takes images of shape \(C, H, W\), but its input is a "
             r"flat row of 8 values$"),
            (config_with([{"type": "conv1d", "filters": 2, "kernel_size": 2}]),
             r"model\.layers\[0\] \(conv1d\): Conv1D takes sequences of shape \(C, L\), but its input has shape "
             r"\(1, 4, 4\)$"),
            (config_with([{"type": "conv2d", "filters": 2, "kernel_size": 3}], image_shape=(1, 4)),
             r"model\.layers\[0\] \(conv2d\): Conv2D takes images of shape \(C, H, W\), but its input has shape "
             r"\(1, 4\)$"),
            (config_with([{"type": "conv3d", "filters": 2}]),
             r"model\.layers\[0\]\.type: unknown layer type 'conv3d'; valid: .*conv2d.* \(did you mean 'conv2d'\?\)"),
            (config_with([{"type": "conv2d", "filter": 2, "kernel_size": 3}]),
             r"model\.layers\[0\]: unknown key 'filter' \(did you mean 'filters'\?\); model\.layers\[0\]: missing "
             r"required key 'filters'"),
            (config_with([{"type": "maxpool2d", "kernel_size": 2, "units": 3}]),
             r"model\.layers\[0\]\.units: not an option of 'maxpool2d'; its options: kernel_size, stride$"),
            (config_with([{"type": "conv2d", "filters": 2, "kernel_size": 0, "padding": [1, 2, 3]}]),
             r"model\.layers\[0\]\.kernel_size: must be an integer >= 1 or a list of two \(\[height, width\]\), got "
             r"0; model\.layers\[0\]\.padding: must be an integer >= 0 or a list of two"),
            (config_with(["conv2d"]), r"model\.layers\[0\]: must be an object, got 'conv2d' \(write \{\"type\": "
                                      r"\"conv2d\"\}\)"),
            (config_with([{"filters": 2}]), r"model\.layers\[0\]: missing required key 'type' \(avgpool1d, "),
            (config_with(CNN_LAYERS, image_shape=(1, 0, 4)),
             r"^config: data\.image_shape: must be \[channels, height, width\] \(or \[channels, length\] for a "
             r"sequence\) of positive integers or null, got \[1, 0, 4\]$"),
            (config_with(CNN_LAYERS, hidden_layers=[{"units": 3}]),
             r"^config: model: give model\.layers or model\.hidden_layers, not both$"),
        ]
        for config, pattern in cases:
            with self.subTest(pattern=pattern[:60]):
                message = problem(config)
                self.assertIsNotNone(message)
                self.assertRegex(message, pattern)
                self.assertNotIn("\n", message)


def run_main(folder, *args):
    return subprocess.run([sys.executable, MAIN, *args], cwd=folder, capture_output=True, text=True, timeout=120)


class CommandLineTest(unittest.TestCase):
    """A tiny CNN through main.py: 4x4 images of a bright left or right half, 40 rows."""

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp()
        rng = random.Random(0)
        lines = [",".join(f"p{i}" for i in range(16)) + ",label"]
        for row in range(40):
            label = row % 2
            pixels = [round(rng.uniform(0.6, 1.0) if (j % 4 < 2) == (label == 0) else rng.uniform(0, 0.3), 3)
                      for j in range(16)]
            lines.append(",".join(map(str, pixels)) + f",{'left' if label == 0 else 'right'}")
        with open(os.path.join(cls.folder, "data.csv"), "w") as handle:
            handle.write("\n".join(lines) + "\n")

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.folder)

    def write_config(self, name, **changes):
        config = config_with(CNN_LAYERS)
        config["training"] = {"epochs": 3, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.01}}
        config["output"] = {"model_path": name + ".json"}
        for dotted, value in changes.items():
            section = config
            *parents, last = dotted.split("__")
            for key in parents:
                section = section[key]
            section[last] = value
        with open(os.path.join(self.folder, name + "_config.json"), "w") as handle:
            json.dump(config, handle)
        return name + "_config.json"

    def test_trains_saves_and_predicts_a_cnn(self):
        result = run_main(self.folder, "--config", self.write_config("cnn"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("(None, 4, 4, 4)", result.stdout)  # summary: Conv2D's (C, H, W) output
        self.assertIn("Conv2D(1 -> 4, 3x3, padding 1)", result.stdout)
        network = Network.load(os.path.join(self.folder, "cnn.json"))
        self.assertEqual(network.shapes[0], (4, 4, 4))
        for command in ("predict", "evaluate"):
            answered = run_main(self.folder, command, "--model", "cnn.json", "--input", "data.csv")
            self.assertEqual(answered.returncode, 0, answered.stderr)
        self.assertEqual(len(answered.stdout.strip().splitlines()) > 1, True)

    def test_mistakes_exit_2_with_one_line(self):
        cases = {
            "kernel": ({"model__layers": [{"type": "conv2d", "filters": 2, "kernel_size": 7}]},
                       "model.layers[0] (conv2d): Conv2D(1 -> 2, 7x7): its 7x7 kernel is larger than its input of "
                       "shape (1, 4, 4)"),
            "pool": ({"model__layers": CNN_LAYERS[:2] + [{"type": "maxpool2d", "kernel_size": [1, 3]}]},
                     "model.layers[2] (maxpool2d): MaxPool2D(1x3): its 1x3 window does not fit its input of shape "
                     "(4, 2, 2)"),
            "columns": ({"data__image_shape": [1, 5, 5]},
                        "data.csv: has 16 feature columns, but data.image_shape [1, 5, 5] reads 25 values per row"),
        }
        for name, (changes, text) in cases.items():
            with self.subTest(case=name):
                result = run_main(self.folder, "--config", self.write_config(name, **changes))
                lines = result.stderr.strip().splitlines()
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertIn(text, lines[0])
                self.assertFalse(os.path.exists(os.path.join(self.folder, name + ".json")))


if __name__ == "__main__":
    unittest.main()
