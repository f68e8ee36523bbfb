"""What the computation graph costs: a digits training step through autograd, the layers, and scalars.

    python bench/run.py --autograd            # these rows alone (about 2 minutes)
    python bench/run.py                       # the same rows, within the whole table

The digits network of bench/run.py (64 -> 64 ReLU -> 10, softmax cross-entropy, Adam,
batch 32), from the same initial weights:

  * layers:  Network.forward / loss / Network.backward / Adam.step, the hand-derived
             backward passes, as one batch of Network.fit runs them;
  * graph:   the same maths as Tensor operations (autograd.py), loss.backward(), Adam on the
             Tensors: (X @ W1 + b1).relu() @ W2 + b2, then cross_entropy;
  * scalars: one node per number (bench/scalar_autograd.py, micrograd's design), the same
             network and batch, ~300,000 nodes per step.

The graph and the layers train a whole epoch (45 batches) per timed run, alternately, and
must end with the same weights; the scalar graph is far too slow for that, so it is timed
one batch at a time against one batch of the layers.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import gc  # noqa: E402
import random  # noqa: E402

import scalar_autograd  # noqa: E402
from activations import ReLU, Softmax  # noqa: E402
from autograd import Tensor  # noqa: E402
from autograd_nn import cross_entropy  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402

TARGET_GRAPH_VS_LAYERS = 1.3
BATCH = 32


def initial_weights(seed=0, hidden=64):
    """W1, b1, W2, b2 as lists of rows: He normal, as bench/run.py's digits network draws them."""
    rng = random.Random(seed)
    first, second = Dense(64, hidden, init="he", rng=rng), Dense(hidden, 10, init="he", rng=rng)
    return [m.value.tolist() for m in (first.weight, first.bias, second.weight, second.bias)]


def batches(X_rows, Y_rows):
    """(X, Y, labels) of each batch of 32 rows, in file order (no shuffling: both sides see the same)."""
    out = []
    for start in range(0, len(X_rows), BATCH):
        y_rows = Y_rows[start:start + BATCH]
        out.append((Matrix(X_rows[start:start + BATCH]), Matrix(y_rows), [row.index(1.0) for row in y_rows]))
    return out


class LayerTraining:
    """The hand-written layers, stepped as Network.fit steps one batch."""

    def __init__(self, weights):
        first, second = Dense(64, len(weights[0][0]), init="zeros"), Dense(len(weights[0][0]), 10, init="zeros")
        for parameter, rows in zip(first.parameters() + second.parameters(), weights):
            parameter.value = Matrix(rows)
        self.network = Network([first, ReLU(), second, Softmax()])
        self.layers = self.network.layers[:-1]  # the loss takes the logits (fused softmax)
        self.loss, self.optimizer = CrossEntropy(), Adam(self.network.parameters(), lr=0.001)

    def step(self, X, Y, labels):
        output = self.network.forward(X, training=True, layers=self.layers)
        self.loss.forward(output, Y)
        self.network.backward(self.loss.backward(), layers=self.layers, input_grad=False)
        self.optimizer.step()

    def weights(self):
        return [p.value.tolist() for p in self.network.parameters()]


class GraphTraining:
    """The same network as Tensor operations; backward derived by autograd."""

    def __init__(self, weights):
        self.parameters = [Tensor(Matrix(rows), requires_grad=True) for rows in weights]
        self.optimizer = Adam(self.parameters, lr=0.001)

    def step(self, X, Y, labels):
        W1, b1, W2, b2 = self.parameters
        self.optimizer.zero_grad()
        logits = (Tensor(X) @ W1 + b1).relu() @ W2 + b2
        cross_entropy(logits, labels).backward()
        self.optimizer.step()

    def weights(self):
        return [t.data.tolist() for t in self.parameters]


class ScalarTraining:
    """One Value per weight; the network and the loss written with them."""

    def __init__(self, weights):
        W1, b1, W2, b2 = weights
        # columns of W, so that each unit's weights are one list (micrograd's Neuron)
        self.W1 = [[scalar_autograd.Value(w) for w in column] for column in zip(*W1)]
        self.b1 = [scalar_autograd.Value(b) for b in b1[0]]
        self.W2 = [[scalar_autograd.Value(w) for w in column] for column in zip(*W2)]
        self.b2 = [scalar_autograd.Value(b) for b in b2[0]]
        params = [w for column in self.W1 for w in column] + self.b1 + [w for column in self.W2 for w in column]
        self.optimizer = scalar_autograd.ScalarAdam(params + self.b2, lr=0.001)

    def step(self, X, Y, labels):
        self.optimizer.zero_grad()
        scalar_autograd.mlp_loss(X.rows, labels, self.W1, self.b1, self.W2, self.b2).backward()
        self.optimizer.step()


def epoch(trainer, data):
    for X, Y, labels in data:
        trainer.step(X, Y, labels)


def largest_difference(weights_a, weights_b):
    return max(abs(a - b) for ma, mb in zip(weights_a, weights_b) for ra, rb in zip(ma, mb) for a, b in zip(ra, rb))


def autograd_rows(bench, X_rows, Y_rows):
    """Add the three rows to a bench/run.py Bench; X_rows, Y_rows as run.load_digits gives them."""
    weights = initial_weights()
    data = batches(X_rows, Y_rows)
    graph, layers = GraphTraining(weights), LayerTraining(weights)
    epoch(graph, data)
    epoch(layers, data)
    difference = largest_difference(graph.weights(), layers.weights())
    medians, ratios = bench.interleave([lambda: epoch(graph, data), lambda: epoch(layers, data)],
                                       9 if not bench.quick else 3)
    steps = len(data)
    target = bench.check("autograd step", ratios[1] <= TARGET_GRAPH_VS_LAYERS,
                         "<= {:.1f}x layers".format(TARGET_GRAPH_VS_LAYERS))
    bench.add("digits training step: autograd graph vs hand-written layers (64-64-10, Adam, batch 32)",
              "{:,.2f} ms/step".format(medians[0] / steps * 1e3),
              "{:,.2f} ms/step (layers)".format(medians[1] / steps * 1e3), ratios[1], "", "",
              target + "; same weights after one epoch to {:.0e}".format(difference))

    # one node per number: ~400,000 Values and closures per step. The cyclic garbage collector,
    # on as in any real program, walks them again and again; without it the step is ~8x faster
    scalars, single = ScalarTraining(weights), LayerTraining(weights)
    X, Y, labels = data[0]
    for label, wrap in (("", lambda fn: fn), (", garbage collector paused", without_gc)):
        medians, ratios = bench.interleave([wrap(lambda: scalars.step(X, Y, labels)),
                                            wrap(lambda: single.step(X, Y, labels))], 3, seconds=0.2)
        bench.add("  the same step with one graph node per number (micrograd-style, bench/scalar_autograd.py"
                  + label + ")", "{:,.0f} ms/step".format(medians[0] * 1e3),
                  "{:,.2f} ms/step (layers)".format(medians[1] * 1e3), ratios[1], "", "",
                  "issue: about 650x" if not label else "")
    return difference


def without_gc(fn):
    """fn with the cyclic garbage collector off while it runs (and restored after)."""
    def run():
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            fn()
        finally:
            if was_enabled:
                gc.enable()
    return run

