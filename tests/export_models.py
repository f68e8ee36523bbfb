"""Small networks with random weights and full metadata, for the export tests: every layer and
activation, each prediction head (softmax, logits, one sigmoid unit, a normalized regression
target), a digits-shaped network; and the real rows to run them on."""

import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from activations import LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402
from app import pipeline  # noqa: E402
from datasets import Normalizer, load_csv  # noqa: E402
from layers import BatchNorm, Dense, Dropout  # noqa: E402
from matrix import Matrix  # noqa: E402
from batchnorm2d import BatchNorm2D  # noqa: E402
from conv import Conv1D, Conv2D  # noqa: E402
from network import Network  # noqa: E402
from pooling import AvgPool1D, AvgPool2D, Flatten, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D, MaxPool2D  # noqa: E402
from recurrent import GRU, LSTM, RNN  # noqa: E402
from sequence import Embedding, PositionwiseDense  # noqa: E402
from attention import MultiHeadSelfAttention  # noqa: E402
from normalization import LayerNorm, RMSNorm  # noqa: E402
from transformer import PositionEmbedding, Residual, transformer_block  # noqa: E402


def _random(rng, n_rows, n_cols, scale=0.7):
    return Matrix.random(n_rows, n_cols, rng, "normal", scale)


def _dense(rng, n_in, n_out, bias=True):
    layer = Dense(n_in, n_out, bias=bias, rng=rng)
    if bias:
        layer.bias.value = _random(rng, 1, n_out, 0.3)
    return layer


def _batch_norm(rng, features):
    layer = BatchNorm(features, momentum=0.2, eps=1e-3)
    layer.gamma.value = _random(rng, 1, features).map(lambda v: 1.0 + 0.3 * v)
    layer.beta.value = _random(rng, 1, features, 0.3)
    layer.set_buffer("running_mean", _random(rng, 1, features, 0.5))
    layer.set_buffer("running_var", _random(rng, 1, features).map(lambda v: 0.5 + v * v))
    return layer


def data_rows(name, count=100):
    """`count` rows of data/NAME.csv (spread over the file) as (Dataset of all rows, Matrix of the raw features)."""
    target = {"iris": "species", "digits": "digit", "diabetes": "progression"}[name]
    dataset = load_csv(os.path.join(ROOT, "data", name + ".csv"), target,
                       task="regression" if name == "diabetes" else "classification")
    picked = [i * len(dataset.X) // count for i in range(count)]
    return dataset, dataset.X.take(picked)


def _metadata(dataset, task, class_names=None, method="zscore", target_normalization=None):
    normalizer = Normalizer(method).fit(dataset.X)
    return {"task": task, "feature_names": list(dataset.feature_names), "target": dataset.target_name,
            "class_names": class_names, "normalization": normalizer.to_dict(),
            "target_normalization": target_normalization, "config": {"data": {"delimiter": ","}}}


def network(kind, seed=0):
    """(network, raw input rows (100, features)) of one of KINDS."""
    rng = random.Random(seed)
    iris, iris_rows = data_rows("iris")
    three = ["setosa", "versicolor", "virginica"]
    if kind == "every_layer":
        layers = [_dense(rng, 4, 6, bias=False), _batch_norm(rng, 6), LeakyReLU(0.2), Dropout(0.3),
                  _dense(rng, 6, 6), Sigmoid(), _dense(rng, 6, 5), Tanh(), _dense(rng, 5, 4), Linear(),
                  _dense(rng, 4, 3), ReLU(), _dense(rng, 3, 3), Softmax()]
        return Network(layers, _metadata(iris, "classification", three)), iris_rows
    if kind == "logits":  # a classifier whose last layer gives scores: predict applies softmax
        layers = [_dense(rng, 4, 5), ReLU(), _dense(rng, 5, 3)]
        return Network(layers, _metadata(iris, "classification", three, "minmax")), iris_rows
    if kind == "binary":  # one sigmoid unit: predict reports [1 - p, p]
        layers = [_dense(rng, 4, 5), Tanh(), _dense(rng, 5, 1), Sigmoid()]
        return Network(layers, _metadata(iris, "classification", ["no", "yes"])), iris_rows
    if kind == "regression":  # the target was normalized in training: predict undoes it
        diabetes, rows = data_rows("diabetes")
        layers = [_dense(rng, 10, 8), ReLU(), _dense(rng, 8, 1)]
        target = {"method": "zscore", "shift": [152.1], "scale": [77.0]}
        return Network(layers, _metadata(diabetes, "regression", None, target_normalization=target)), rows
    if kind == "digits":
        digits, rows = data_rows("digits")
        layers = [_dense(rng, 64, 32), ReLU(), _dense(rng, 32, 10), Softmax()]
        return Network(layers, _metadata(digits, "classification", [str(d) for d in range(10)], "minmax")), rows
    if kind in IMAGE_KINDS:
        digits, rows = data_rows("digits")
        metadata = _metadata(digits, "classification", [str(d) for d in range(10)], "minmax")
        return Network(_image_layers(kind, rng), metadata), rows
    if kind in SEQUENCE_KINDS:  # models built in Python (as the names demo builds them): no pipeline metadata
        return Network(_sequence_layers(kind, rng)), _sequence_rows(kind, rng)
    if kind in TRANSFORMER_KINDS:
        return Network(_transformer_layers(kind, rng)), _transformer_rows(kind, rng)
    raise ValueError(kind)


def _conv(rng, *args, **options):
    layer = Conv2D(*args, rng=rng, **options)
    if layer.bias is not None:
        layer.bias.value = _random(rng, 1, layer.out_channels, 0.3)
    return layer


def _image_layers(kind, rng):
    """Networks on the digits' 8x8 images (the 64 columns read as (1, 8, 8))."""
    if kind == "cnn":  # 1x8x8 -> 4x8x8 -> 4x4x4 -> 6x2x2 -> 6x1x1 -> 10
        norm = BatchNorm2D(4, momentum=0.2, eps=1e-3)
        norm.weight.value = _random(rng, 1, 4).map(lambda v: 1.0 + 0.3 * v)
        norm.bias.value = _random(rng, 1, 4, 0.3)
        norm.set_buffer("running_mean", _random(rng, 1, 4, 0.5))
        norm.set_buffer("running_var", _random(rng, 1, 4).map(lambda v: 0.5 + v * v))
        return [_conv(rng, 1, 4, 3, padding=1, input_shape=(1, 8, 8)), norm, ReLU(), MaxPool2D(2),
                _conv(rng, 4, 6, (3, 2), stride=(1, 2)), Tanh(), AvgPool2D(2, stride=1), Flatten(),
                _dense(rng, 6, 10), Softmax()]
    if kind == "cnn_global":  # fully convolutional: a global average, then the class scores
        return [_conv(rng, 1, 5, 3, stride=2, padding=(1, 0), bias=False, input_shape=(1, 8, 8)), ReLU(),
                MaxPool2D((2, 1)), GlobalAvgPool2D(), _dense(rng, 5, 10), Softmax()]
    if kind == "conv1d":  # each image as 8 rows: a sequence of 8 channels and length 8
        conv = Conv1D(8, 6, 3, stride=2, padding=1, rng=rng, input_shape=(8, 8))
        conv.bias.value = _random(rng, 1, 6, 0.3)
        return [conv, ReLU(), MaxPool1D(2), Conv1D(6, 4, 1, rng=rng), AvgPool1D(2, stride=1), GlobalAvgPool1D(),
                _dense(rng, 4, 10), Softmax()]
    raise ValueError(kind)


def _sequence_layers(kind, rng):
    if kind == "names_mlp":  # three tokens of context -> the next token's logits
        return [Embedding(27, 5, rng=rng), _dense(rng, 15, 16), Tanh(), _dense(rng, 16, 27)]
    if kind == "lstm":  # every step's next-token logits
        return [Embedding(27, 6, rng=rng), LSTM(6, 8, rng=rng), PositionwiseDense(8, 27, rng=rng)]
    if kind == "gru":  # the last step's class probabilities
        return [Embedding(27, 6, rng=rng), GRU(6, 8, return_sequences=False, rng=rng), _dense(rng, 8, 4), Softmax()]
    if kind == "rnn":  # a sequence of 5 steps of 3 numbers, relu cell
        return [RNN(3, 7, nonlinearity="relu", rng=rng), PositionwiseDense(7, 2, rng=rng)]
    raise ValueError(kind)


def _sequence_rows(kind, rng):
    if kind == "rnn":
        return Matrix([[rng.gauss(0, 1) for _ in range(15)] for _ in range(100)])
    steps = 3 if kind == "names_mlp" else 5
    return Matrix([[float(rng.randrange(27)) for _ in range(steps)] for _ in range(100)])


def _transformer_layers(kind, rng):
    if kind == "gpt":  # the names demo's transformer, small: causal attention with biases, LayerNorm
        layers = [Embedding(27, 8, rng=rng), PositionEmbedding(6, 8, rng=rng),
                  *transformer_block(8, 2, 12, causal=True, rng=rng), LayerNorm(8), PositionwiseDense(8, 27, rng=rng)]
    elif kind == "encoder":  # on rows of 4 steps of 6 numbers (the context is 5): every option turned
        layers = [PositionEmbedding(5, 6, rng=rng), Residual([RMSNorm(6), MultiHeadSelfAttention(6, 3, bias=False, rng=rng)]),
                  LayerNorm(6, eps=1e-3, bias=False),
                  Residual([RMSNorm(6, elementwise_affine=False), PositionwiseDense(6, 6, rng=rng), Tanh()]),
                  LayerNorm(6, elementwise_affine=False), PositionwiseDense(6, 2, rng=rng)]
    else:
        raise ValueError(kind)
    net = Network(layers)
    for param in net.parameters():  # norm scales of 1 and zero biases would hide a swapped layout
        param.value = param.value.map(lambda v: v + rng.gauss(0.0, 0.3))
    return net.layers


def _transformer_rows(kind, rng):
    if kind == "gpt":
        return Matrix([[float(rng.randrange(27)) for _ in range(5)] for _ in range(100)])
    return Matrix([[rng.gauss(0, 1) for _ in range(4 * 6)] for _ in range(100)])


KINDS = ("every_layer", "logits", "binary", "regression", "digits")
SEQUENCE_KINDS = ("names_mlp", "lstm", "gru", "rnn")
IMAGE_KINDS = ("cnn", "cnn_global", "conv1d")
TRANSFORMER_KINDS = ("gpt", "encoder")  # PyTorch only: the ONNX export does not take them


def predictions(net, raw_rows):
    """What `python main.py predict` computes for raw rows: class probabilities, or values in
    the target's units, as lists of rows (a model without that metadata: its outputs)."""
    if "task" not in net.metadata:
        return [list(row) for row in net.predict(raw_rows).rows]
    X = Normalizer.from_dict(net.metadata["normalization"]).transform(raw_rows)
    if net.metadata["task"] == "classification":
        return pipeline.class_probabilities(net, X)
    return [list(row) for row in pipeline.predict_values(net, X).rows]


def max_difference(got, expected, relative=False):
    """The largest |got - expected| over every entry; relative=True divides it by the largest
    |expected| (regression values are in the target's units, hundreds for diabetes)."""
    assert len(got) == len(expected), (len(got), len(expected))
    worst = 0.0
    for got_row, expected_row in zip(got, expected):
        assert len(got_row) == len(expected_row), (len(got_row), len(expected_row))
        worst = max([worst] + [abs(g - e) for g, e in zip(got_row, expected_row)])
    return worst / max(abs(e) for row in expected for e in row) if relative else worst
