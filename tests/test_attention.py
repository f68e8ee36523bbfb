"""Tests for attention.py: multi-head self-attention against finite differences, a slow
reference written from the definition, and (when installed) torch.nn.MultiheadAttention."""

import math
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from attention import MultiHeadSelfAttention, attention_weights, softmax_backward  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import LAYER_TYPES, Network  # noqa: E402
from tests.gradcheck import assert_close, check_layer, numerical_gradient, random_matrix, upstream_gradient  # noqa: E402,E501

try:
    import torch
except ImportError:
    torch = None

LENGTHS = (1, 2, 3, 5)  # time steps per sample


def tensor(rows):
    return torch.tensor(rows, dtype=torch.float64)


def randomized(layer, rng):
    """Random values in every parameter, biases included (they start at zero)."""
    for param in layer.parameters():
        param.value = random_matrix(rng, *param.value.shape, low=-1.0, high=1.0)
    return layer


def reference_attention(layer, x):
    """Y from the definition, one sample, head, query step and key step at a time."""
    size, heads, head_dim = layer.embed_dim, layer.num_heads, layer.head_dim
    w_in, w_out = layer.in_proj_weight.value.rows, layer.out_proj_weight.value.rows
    b_in = layer.in_proj_bias.value.rows[0] if layer.in_proj_bias is not None else [0.0] * 3 * size
    b_out = layer.out_proj_bias.value.rows[0] if layer.out_proj_bias is not None else [0.0] * size
    out = []
    for row in x.rows:
        steps = len(row) // size
        vectors = [row[t * size:(t + 1) * size] for t in range(steps)]
        # column c of [Q | K | V] for step t: sum over i of x_t[i] * W_in[i][c], plus the bias
        projected = [[math.fsum(v[i] * w_in[i][c] for i in range(size)) + b_in[c] for c in range(3 * size)]
                     for v in vectors]
        concatenated = [[0.0] * size for _ in range(steps)]
        for h in range(heads):
            for t in range(steps):
                q = [projected[t][h * head_dim + j] for j in range(head_dim)]
                scores = []
                for u in range(steps):
                    k = [projected[u][size + h * head_dim + j] for j in range(head_dim)]
                    score = math.fsum(a * b for a, b in zip(q, k)) / math.sqrt(head_dim)
                    scores.append(-math.inf if layer.causal and u > t else score)
                top = max(scores)
                exps = [math.exp(s - top) if s != -math.inf else 0.0 for s in scores]
                weights = [e / math.fsum(exps) for e in exps]
                for j in range(head_dim):
                    concatenated[t][h * head_dim + j] = math.fsum(
                        weights[u] * projected[u][2 * size + h * head_dim + j] for u in range(steps))
        out.append([math.fsum(o[i] * w_out[i][c] for i in range(size)) + b_out[c]
                    for o in concatenated for c in range(size)])
    return out


def variants():
    """(embed_dim, num_heads, causal, bias) combinations: one head, several, dh = 1."""
    return [(4, 1, False, True), (6, 3, True, True), (6, 2, False, False), (4, 4, True, False), (6, 3, False, True)]


class GradientTest(unittest.TestCase):
    def test_matches_finite_differences_for_every_length(self):
        rng = random.Random(12)
        for size, heads, causal, bias in variants():
            for steps in LENGTHS:
                with self.subTest(size=size, heads=heads, causal=causal, bias=bias, steps=steps):
                    layer = randomized(MultiHeadSelfAttention(size, heads, causal=causal, bias=bias, rng=rng), rng)
                    x = random_matrix(rng, 2, size * steps)
                    # the five-point rule: see tests/gradcheck.py on why attention needs it
                    self.assertLess(check_layer(layer, x, rng, h=1e-3, order=4, what=repr(layer)), 1e-6)

    def test_softmax_backward_matches_finite_differences(self):
        rng = random.Random(4)
        for causal in (False, True):
            scores = random_matrix(rng, 4, 4, -3.0, 3.0)
            grad = upstream_gradient(rng, 4, 4)

            def loss():
                weights = attention_weights(scores, 0.5, causal)
                return math.fsum(a * g for ra, rg in zip(weights.rows, grad.rows) for a, g in zip(ra, rg))

            mine = softmax_backward(attention_weights(scores, 0.5, causal), grad) * 0.5
            assert_close(mine, numerical_gradient(loss, scores), f"dS causal={causal}")


class ReferenceTest(unittest.TestCase):
    def test_forward_equals_the_slow_reference(self):
        rng = random.Random(5)
        for size, heads, causal, bias in variants():
            for steps in LENGTHS:
                with self.subTest(size=size, heads=heads, causal=causal, steps=steps):
                    layer = randomized(MultiHeadSelfAttention(size, heads, causal=causal, bias=bias, rng=rng), rng)
                    x = random_matrix(rng, 3, size * steps)
                    assert_close(layer.forward(x), reference_attention(layer, x), "Y", tolerance=1e-12, tiny=1e-3)

    def test_one_step_passes_its_value_through(self):
        # T = 1: the only weight is 1, so Y = (x @ W_v + b_v) @ W_out + b_out, whatever the queries and keys
        rng = random.Random(1)
        layer = randomized(MultiHeadSelfAttention(4, 2, rng=rng), rng)
        x = random_matrix(rng, 2, 4)
        value = (x @ Matrix([row[8:] for row in layer.in_proj_weight.value.rows])
                 + Matrix([layer.in_proj_bias.value.rows[0][8:]]))
        expected = value @ layer.out_proj_weight.value + layer.out_proj_bias.value
        assert_close(layer.forward(x), expected, "Y", tolerance=1e-13)

    def test_causal_steps_do_not_see_the_future(self):
        rng = random.Random(2)
        layer = randomized(MultiHeadSelfAttention(4, 2, causal=True, rng=rng), rng)
        x = random_matrix(rng, 1, 12)
        later_changed = Matrix([x.rows[0][:8] + [5.0, -5.0, 5.0, -5.0]])
        self.assertEqual(layer.forward(x).rows[0][:8], layer.forward(later_changed).rows[0][:8])
        self.assertNotEqual(layer.forward(x).rows[0][8:], layer.forward(later_changed).rows[0][8:])
        # without the mask, the first step does see the last one
        layer.causal = False
        self.assertNotEqual(layer.forward(x).rows[0][:4], layer.forward(later_changed).rows[0][:4])

    def test_the_worked_example_of_docs_attention_md(self):
        layer = MultiHeadSelfAttention(2, 1, causal=True, bias=False)
        layer.in_proj_weight.value = Matrix([[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]])
        layer.out_proj_weight.value = Matrix([[1, 0], [0, 1]])
        y = layer.forward(Matrix([[1, 0, 0, 1]]))
        assert_close(y, [[1.0, 0.0, 0.33024, 0.66976]], "Y", tolerance=2e-5)
        grad_input = layer.backward(Matrix([[0, 0, 1, 0]]))
        assert_close(grad_input, [[0.33024, 0.15640, 0.82616, -0.31280]], "dX", tolerance=2e-5)
        assert_close(layer.out_proj_weight.grad, [[0.33024, 0.0], [0.66976, 0.0]], "dW_out", tolerance=2e-5)

    def test_weights_are_a_softmax_of_the_scaled_scores(self):
        weights = attention_weights(Matrix([[0.0, math.log(3.0)], [1000.0, -1000.0]]), 1.0, False)
        assert_close(weights, [[0.25, 0.75], [1.0, 0.0]], "A", tolerance=1e-15)
        self.assertEqual(attention_weights(Matrix([[1.0, 9.0], [2.0, 2.0]]), 1.0, True).rows, [[1.0, 0.0], [0.5, 0.5]])


@unittest.skipIf(torch is None, "PyTorch is not installed")
class TorchTest(unittest.TestCase):
    def test_equal_to_torch_multihead_attention_in_float64(self):
        rng = random.Random(7)
        n = 3
        for size, heads, causal, bias in variants():
            for steps in LENGTHS:
                with self.subTest(size=size, heads=heads, causal=causal, bias=bias, steps=steps):
                    layer = randomized(MultiHeadSelfAttention(size, heads, causal=causal, bias=bias, rng=rng), rng)
                    module = torch.nn.MultiheadAttention(size, heads, bias=bias, batch_first=True, dtype=torch.float64)
                    with torch.no_grad():  # ours are PyTorch's weights transposed
                        module.in_proj_weight.copy_(tensor(layer.in_proj_weight.value.T.rows))
                        module.out_proj.weight.copy_(tensor(layer.out_proj_weight.value.T.rows))
                        if bias:
                            module.in_proj_bias.copy_(tensor(layer.in_proj_bias.value.rows[0]))
                            module.out_proj.bias.copy_(tensor(layer.out_proj_bias.value.rows[0]))
                    x = random_matrix(rng, n, size * steps)
                    grad = upstream_gradient(rng, n, size * steps)
                    x_torch = torch.tensor(x.rows, dtype=torch.float64).reshape(n, steps, size).requires_grad_()
                    mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1) if causal else None
                    y_torch, _ = module(x_torch, x_torch, x_torch, attn_mask=mask, need_weights=False)
                    y_torch.backward(torch.tensor(grad.rows, dtype=torch.float64).reshape(n, steps, size))
                    y = layer.forward(x)
                    grad_input = layer.backward(grad)
                    assert_close(y, y_torch.detach().reshape(n, -1).tolist(), "Y", tolerance=1e-12, tiny=1.0)
                    assert_close(grad_input, x_torch.grad.reshape(n, -1).tolist(), "dX", tolerance=1e-12, tiny=1.0)
                    assert_close(layer.in_proj_weight.grad, module.in_proj_weight.grad.T.tolist(), "din_proj_weight",
                                 tolerance=1e-12, tiny=1.0)
                    assert_close(layer.out_proj_weight.grad, module.out_proj.weight.grad.T.tolist(),
                                 "dout_proj_weight", tolerance=1e-12, tiny=1.0)
                    if bias:
                        assert_close(layer.in_proj_bias.grad, [module.in_proj_bias.grad.tolist()], "din_proj_bias",
                                     tolerance=1e-12, tiny=1.0)
                        assert_close(layer.out_proj_bias.grad, [module.out_proj.bias.grad.tolist()],
                                     "dout_proj_bias", tolerance=1e-12, tiny=1.0)


class LayerTest(unittest.TestCase):
    def test_parameter_shapes_and_initialization(self):
        layer = MultiHeadSelfAttention(8, 2, rng=random.Random(0))
        self.assertEqual([(p.name, p.shape) for p in layer.parameters()],
                         [("in_proj_weight", (8, 24)), ("in_proj_bias", (1, 24)),
                          ("out_proj_weight", (8, 8)), ("out_proj_bias", (1, 8))])
        bound = math.sqrt(6.0 / 32)  # Xavier-uniform on PyTorch's (3D, D) in_proj_weight
        values = [v for row in layer.in_proj_weight.value.rows for v in row]
        self.assertTrue(all(abs(v) <= bound for v in values))
        self.assertGreater(max(map(abs, values)), 0.9 * bound)
        self.assertEqual(layer.in_proj_bias.value.rows, [[0.0] * 24])
        self.assertEqual(len(MultiHeadSelfAttention(8, 2, bias=False).parameters()), 2)

    def test_registered_saved_loaded_and_summarized(self):
        self.assertIs(LAYER_TYPES["MultiHeadSelfAttention"], MultiHeadSelfAttention)
        rng = random.Random(3)
        network = Network([randomized(MultiHeadSelfAttention(4, 2, causal=True, rng=rng), rng),
                           randomized(MultiHeadSelfAttention(4, 1, bias=False, rng=rng), rng)])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "attention.json")
            network.save(path)
            loaded = Network.load(path)
        x = random_matrix(rng, 2, 12)
        self.assertEqual(loaded.forward(x).rows, network.forward(x).rows)
        summary = loaded.summary(12)
        self.assertIn("MultiHeadSelfAttention(4, heads=2, causal)", summary)
        self.assertIn("MultiHeadSelfAttention(4, heads=1, bias=False)", summary)
        self.assertIn("Total parameters: 144", summary)  # 4*12 + 12 + 4*4 + 4 = 80, then 4*12 + 4*4 = 64

    def test_bad_options_and_inputs(self):
        with self.assertRaisesRegex(ValueError, r"embed_dim \(6\) must be divisible by num_heads \(4\)"):
            MultiHeadSelfAttention(6, 4)
        with self.assertRaisesRegex(ValueError, "causal must be true or false"):
            MultiHeadSelfAttention(4, 2, causal="yes")
        with self.assertRaisesRegex(ValueError, r"takes rows of T steps of 4 values, got rows of 6 values"):
            MultiHeadSelfAttention(4, 2).forward(Matrix.zeros(1, 6))
        with self.assertRaisesRegex(RuntimeError, "backward called before forward"):
            MultiHeadSelfAttention(4, 2).backward(Matrix.zeros(1, 4))


if __name__ == "__main__":
    unittest.main()
