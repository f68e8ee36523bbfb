"""Tests for demos/names_transformer.py: the tiny GPT is exactly the scalar GPT's model (a slow
reference written position by position, with a cache of keys and values as the scalar version
computes it), the transformer rung, and both through demos/names.py on a few steps."""

import contextlib
import io
import math
import os
import random
import statistics
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from demos import names  # noqa: E402
from demos.names_transformer import TINY_GPT, build_tiny_gpt, build_transformer  # noqa: E402
from layers import seed  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from tests.gradcheck import assert_close  # noqa: E402


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = names.main(argv, stream=out)
    return status, out.getvalue(), err.getvalue()


def rmsnorm(x):
    scale = (math.fsum(v * v for v in x) / len(x) + 1e-5) ** -0.5
    return [v * scale for v in x]


def linear(x, weight):
    """x @ W for W stored (in, out), as the framework stores it."""
    return [math.fsum(x[i] * weight[i][j] for i in range(len(x))) for j in range(len(weight[0]))]


def reference_logits(network, tokens):
    """The tiny GPT's logits, one position at a time, each step attending over the keys and
    values of the steps so far (the scalar version's loop), from the network's weights."""
    embedding, position, _, attention_block, mlp_block, head = network.layers
    w_in = attention_block.layers[1].in_proj_weight.value.rows
    w_out = attention_block.layers[1].out_proj_weight.value.rows
    fc1, fc2 = mlp_block.layers[1].weight.value.rows, mlp_block.layers[3].weight.value.rows
    size, heads = 16, 4
    head_dim = size // heads
    keys, values, out = [], [], []
    for t, token in enumerate(tokens):
        x = [a + b for a, b in zip(embedding.weight.value.rows[token], position.weight.value.rows[t])]
        x = rmsnorm(x)
        qkv = linear(rmsnorm(x), w_in)
        q, k, v = qkv[:size], qkv[size:2 * size], qkv[2 * size:]
        keys.append(k)
        values.append(v)
        attended = []
        for h in range(heads):
            part = slice(h * head_dim, (h + 1) * head_dim)
            scores = [math.fsum(a * b for a, b in zip(q[part], key[part])) / math.sqrt(head_dim) for key in keys]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            weights = [e / math.fsum(exps) for e in exps]
            attended += [math.fsum(w * value[part][j] for w, value in zip(weights, values)) for j in range(head_dim)]
        x = [a + b for a, b in zip(linear(attended, w_out), x)]
        hidden = [max(0.0, v) for v in linear(rmsnorm(x), fc1)]
        x = [a + b for a, b in zip(linear(hidden, fc2), x)]
        out += linear(x, head.weight.value.rows)
    return out


class TinyGptTest(unittest.TestCase):
    def setUp(self):
        seed(3)
        self.network = Network(build_tiny_gpt(dict(TINY_GPT), 27))

    def test_parameter_count_and_layers(self):
        counts = [(p.name, p.value.shape) for p in self.network.parameters()]
        self.assertEqual(sum(a * b for _, (a, b) in counts), 4192)
        self.assertEqual(counts, [("weight", (27, 16)), ("weight", (16, 16)), ("in_proj_weight", (16, 48)),
                                  ("out_proj_weight", (16, 16)), ("weight", (16, 64)), ("weight", (64, 16)),
                                  ("weight", (16, 27))])
        self.assertIn("Total parameters: 4,192", self.network.summary(16))

    def test_weights_are_drawn_from_a_normal_of_std_0_08(self):
        values = [v for p in self.network.parameters() for row in p.value.rows for v in row]
        self.assertAlmostEqual(statistics.fmean(values), 0.0, delta=0.005)
        self.assertAlmostEqual(statistics.pstdev(values), 0.08, delta=0.004)

    def test_logits_equal_the_position_by_position_reference(self):
        for name in ("emma", "x", "christopherjohn"):
            tokens = [names.END] + names.encode(name)
            logits = self.network.forward(Matrix.from_rows([tokens], len(tokens)))
            assert_close(logits, [reference_logits(self.network, tokens)], name, tolerance=1e-12, tiny=1.0)

    def test_trains_through_the_demo_and_samples_again(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "tiny.json")
            status, out, err = run(["--model", "tiny-gpt", "--steps", "4", "-n", "3", "--no-progress",
                                    "--out", path])
            self.assertEqual((status, err), (0, ""))
            self.assertIn("step 4/4  mean loss of the last 4 steps", out)
            self.assertIn("4 steps of 1 names, lr 0.01", out)
            self.assertRegex(out, r"test loss: \d\.\d{4} nats per character")
            status, out, err = run(["sample", "--model", path, "-n", "4"])
            self.assertEqual((status, err), (0, ""))
            self.assertEqual(len(out.split()), 4)

    def test_names_are_taken_in_turn_from_one_shuffled_order(self):
        data = names.SequenceData(["ab", "cde", "f", "gh"], 16)
        seen = []
        original = data.batch

        def recording(indices):
            seen.extend(indices)
            return original(indices)

        data.batch = recording
        settings = dict(names.MODELS["tiny-gpt"].defaults, steps=8)
        seed(0)
        names.train(Network(build_tiny_gpt(dict(TINY_GPT), 27)), data, settings, random.Random(1), progress=False,
                    stream=io.StringIO())
        self.assertEqual(sorted(seen[:4]), [0, 1, 2, 3])  # every name once, then the same order again
        self.assertEqual(seen[4:], seen[:4])


class TransformerTest(unittest.TestCase):
    def test_layers_and_parameter_count(self):
        seed(0)
        options = dict(names.MODELS["transformer"].defaults)
        network = Network(build_transformer(options, 27))
        size, hidden, blocks = options["embedding"], options["hidden"], options["layers"]
        per_block = 2 * 2 * size + (3 * size * size + 3 * size + size * size + size) + \
            (size * hidden + hidden + hidden * size + size)
        expected = 27 * size + options["context"] * size + blocks * per_block + 2 * size + size * 27 + 27
        self.assertEqual(sum(p.value.shape[0] * p.value.shape[1] for p in network.parameters()), expected)
        x = Matrix.from_rows([[0, 5, 13, 13, 1]], 5)
        self.assertEqual(network.forward(x).shape, (1, 5 * 27))

    def test_a_later_character_does_not_change_earlier_predictions(self):
        seed(1)
        network = Network(build_transformer(dict(names.MODELS["transformer"].defaults), 27))
        first = network.forward(Matrix.from_rows([[0, 5, 13, 13, 1]], 5)).rows[0]
        second = network.forward(Matrix.from_rows([[0, 5, 13, 2, 9]], 5)).rows[0]
        self.assertEqual(first[:3 * 27], second[:3 * 27])
        self.assertNotEqual(first[3 * 27:], second[3 * 27:])


if __name__ == "__main__":
    unittest.main()
