"""Tests for the Layer base class: one interface for every layer and activation."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ACTIVATIONS  # noqa: E402
from attention import MultiHeadSelfAttention  # noqa: E402
from batchnorm2d import BatchNorm2D  # noqa: E402
from conv import Conv1D, Conv2D  # noqa: E402
from layers import BatchNorm, Dense, Dropout, Layer, flat_size  # noqa: E402
from matrix import Matrix  # noqa: E402
from recurrent import GRU, LSTM, RNN  # noqa: E402
from sequence import Embedding, PositionwiseDense  # noqa: E402
from network import LAYER_TYPES, Network  # noqa: E402
from pooling import AvgPool1D, AvgPool2D, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D, MaxPool2D  # noqa: E402
from normalization import LayerNorm, RMSNorm  # noqa: E402
from transformer import PositionEmbedding, Residual  # noqa: E402


def every_layer():
    """One instance of every registered layer type."""
    built = {"Dense": Dense(3, 3), "BatchNorm": BatchNorm(3), "Dropout": Dropout(0.5),
             "Conv2D": Conv2D(1, 2, 3, stride=2, padding=1, input_shape=(1, 5, 5)),
             "Conv1D": Conv1D(2, 3, 2, input_shape=(2, 6)), "BatchNorm2D": BatchNorm2D(2, input_shape=(2, 3, 3)),
             "MaxPool2D": MaxPool2D(2, input_shape=(1, 4, 4)), "AvgPool2D": AvgPool2D(3, 1, input_shape=(2, 4, 4)),
             "MaxPool1D": MaxPool1D(2, input_shape=(2, 4)), "AvgPool1D": AvgPool1D(2, input_shape=(2, 4)),
             "GlobalAvgPool2D": GlobalAvgPool2D(input_shape=(2, 2, 2)),
             "GlobalAvgPool1D": GlobalAvgPool1D(input_shape=(2, 3)),
             "Embedding": Embedding(3, 2), "PositionwiseDense": PositionwiseDense(3, 2),
             "RNN": RNN(3, 2), "LSTM": LSTM(3, 2), "GRU": GRU(3, 2)}
    built.update({type(layer).__name__: layer for layer in (
        LayerNorm(3), RMSNorm(3), MultiHeadSelfAttention(3, 1), PositionEmbedding(4, 3), Residual([Dense(3, 3)]))})
    for cls in LAYER_TYPES.values():
        if cls.__name__ not in built:
            built[cls.__name__] = cls()
    return list(built.values())


class LayerBaseTest(unittest.TestCase):
    def test_every_registered_layer_and_activation_is_a_layer(self):
        for cls in list(LAYER_TYPES.values()) + list(ACTIVATIONS.values()):
            self.assertTrue(issubclass(cls, Layer), cls)

    def test_backward_before_forward_names_the_layer(self):
        for layer in every_layer():
            with self.subTest(layer=repr(layer)):
                with self.assertRaises(RuntimeError) as caught:
                    layer.backward(Matrix.zeros(2, 3))
                self.assertEqual(str(caught.exception), f"{layer!r}: backward called before forward")

    def test_defaults(self):
        layer = Layer()
        self.assertEqual(layer.parameters(), [])
        self.assertEqual(layer.buffers(), {})
        self.assertEqual(layer.penalty(), 0.0)
        self.assertEqual(layer.output_shape((3, 4, 5)), (3, 4, 5))
        self.assertEqual(layer.get_config(), {})
        with self.assertRaises(NotImplementedError):
            layer.forward(Matrix.zeros(1, 1))

    def test_from_config_rebuilds_the_layer(self):
        for layer in every_layer():
            with self.subTest(layer=repr(layer)):
                config = layer.get_config()
                if layer.sublayers():  # a container's layers are saved beside its config
                    config = dict(config, layers=layer.sublayers())
                rebuilt = type(layer).from_config(config)
                self.assertEqual(repr(rebuilt), repr(layer))

    def test_network_passes_shapes_along(self):
        network = Network([Dense(4, 6), ACTIVATIONS["relu"](), Dense(6, 2)])
        self.assertEqual(network.shapes, [(6,), (6,), (2,)])
        self.assertEqual(network.layers[2].input_shape, (6,))
        self.assertEqual(flat_size((3, 8, 8)), 192)

    def test_penalty_comes_from_the_layer(self):
        layer = Dense(2, 1, init="zeros", l2=0.5)
        layer.weight.value = Matrix([[1.0], [-2.0]])
        self.assertEqual(layer.penalty(), 0.5 * 5.0)
        self.assertEqual(ACTIVATIONS["relu"]().penalty(), 0.0)


if __name__ == "__main__":
    unittest.main()
