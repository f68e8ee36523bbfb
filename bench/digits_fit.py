"""The digits training of bench/run.py: the data, the network and one Network.fit, in a module of
their own, so that the memory child (bench/memory.py) loads nothing else.

fit_digits trains exactly as bench/fused_mlp.py's train_epochs does: same seed, He init, batch
order and Adam, so that the two end an epoch with the same weights.
"""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import fused_mlp  # noqa: E402
from activations import ReLU, Softmax  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402

DIGITS_PATH = os.path.join(ROOT, "data", "digits.csv")
N_TRAIN = 1437  # the first 80% of the 1,797 digits, as bench/fused_mlp.py uses


def load_digits():
    """(X, Y one-hot) of the digits training rows as lists, pixels scaled to [0, 1] (about half exact zeros)."""
    X, labels = fused_mlp.load_digits(DIGITS_PATH)
    X, labels = X[:N_TRAIN], labels[:N_TRAIN]
    return X, [[1.0 if j == label else 0.0 for j in range(10)] for label in labels]


def digits_network(rng, hidden=64):
    """64 -> hidden ReLU -> 10 softmax, He-initialized from rng exactly as fused_mlp.train_epochs does."""
    return Network([Dense(64, hidden, init="he", rng=rng), ReLU(), Dense(hidden, 10, init="he", rng=rng), Softmax()])


def fit_digits(X, Y, hidden=64, epochs=1, seed=0):
    """Network.fit on the digits as fused_mlp.train_epochs trains them: same seed, init, order, Adam."""
    rng = random.Random(seed)
    network = digits_network(rng, hidden)
    optimizer = Adam(network.parameters(), lr=0.001)
    network.fit(X, Y, CrossEntropy(), optimizer, epochs=epochs, batch_size=32, rng=rng)
    return network
