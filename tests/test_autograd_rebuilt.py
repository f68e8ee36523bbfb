"""Conv2D, LSTM, MultiHeadSelfAttention and SequenceCrossEntropy rebuilt from Tensor operations:
the same outputs and gradients as the hand-derived layers, to 1e-12.

Each rebuild follows the layer's documented maths in the most literal way the graph allows
(no im2col.py, no fused gates, one sample and one head at a time), so that it is a second,
independent derivation of the same function; autograd then derives every backward pass.
"""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from attention import MultiHeadSelfAttention  # noqa: E402
from autograd import Tensor  # noqa: E402
from autograd_nn import columns, concat, cross_entropy, gather_columns, reshape, take  # noqa: E402
from conv import Conv2D  # noqa: E402
from losses import SequenceCrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from recurrent import LSTM  # noqa: E402
from tests.gradcheck import random_matrix, upstream_gradient  # noqa: E402
from tests.test_autograd_layers import assert_same  # noqa: E402


def compare(test, layer, graph, x, rng, what):
    """layer forward/backward against graph(x, {parameter name: Tensor}) with one upstream gradient."""
    y = layer.forward(x, training=True)
    grad = upstream_gradient(rng, *y.shape)
    dx = layer.backward(grad)
    x_tensor = Tensor(x, requires_grad=True)
    tensors = {p.name: Tensor(p.value.copy(), requires_grad=True) for p in layer.parameters()}
    y_graph = graph(x_tensor, tensors)
    y_graph.backward(grad)
    assert_same(test, y_graph.data, y, f"{what} Y")
    assert_same(test, x_tensor.grad, dx, f"{what} dX")
    for parameter in layer.parameters():
        mine = tensors[parameter.name].grad  # None: unused by the graph (weight_hh when T = 1), so 0
        mine = mine if mine is not None else Matrix.zeros(*parameter.shape)
        assert_same(test, mine, parameter.grad, f"{what} d{parameter.name}")


# ------------------------------------------------------------------ Conv2D
def patch_indices(channels, height, width, kernel, stride, padding):
    """For each output position (p, q), row-major, the input entry under each kernel entry
    (c, i, j) in the weight's row order c*kH*kW + i*kW + j; None where the window is in the padding."""
    (k_h, k_w), (s_h, s_w), (p_h, p_w) = kernel, stride, padding
    out_h = (height + 2 * p_h - k_h) // s_h + 1
    out_w = (width + 2 * p_w - k_w) // s_w + 1
    indices = []
    for p in range(out_h):
        for q in range(out_w):
            for c in range(channels):
                for i in range(k_h):
                    for j in range(k_w):
                        r, s = p * s_h + i - p_h, q * s_w + j - p_w
                        inside = 0 <= r < height and 0 <= s < width
                        indices.append(c * height * width + r * width + s if inside else None)
    return indices, out_h * out_w


def conv2d_graph(shape, kernel, stride, padding):
    channels, height, width = shape

    def graph(x, p):
        indices, positions = patch_indices(channels, height, width, kernel, stride, padding)
        patch_size = channels * kernel[0] * kernel[1]
        rows = []
        for image in range(x.shape[0]):
            patches = reshape(gather_columns(take(x, [image]), indices), positions, patch_size)
            outputs = patches @ p["weight"] + p["bias"]                  # (positions, O)
            rows.append(reshape(outputs.T, 1, outputs.shape[0] * outputs.shape[1]))  # channel by channel
        return concat(rows, axis=0)
    return graph


# -------------------------------------------------------------------- LSTM
def lstm_graph(input_size, hidden_size, return_sequences):
    def graph(x, p):
        hidden, cell, outputs = None, None, []
        for t in range(x.shape[1] // input_size):
            a = columns(x, t * input_size, (t + 1) * input_size) @ p["weight_ih"] + p["bias_ih"] + p["bias_hh"]
            if hidden is not None:
                a = a + hidden @ p["weight_hh"]
            gate = [columns(a, k * hidden_size, (k + 1) * hidden_size) for k in range(4)]  # i, f, g, o
            i, f, g, o = gate[0].sigmoid(), gate[1].sigmoid(), gate[2].tanh(), gate[3].sigmoid()
            cell = i * g if cell is None else f * cell + i * g
            hidden = o * cell.tanh()
            outputs.append(hidden)
        return concat(outputs, axis=1) if return_sequences else hidden
    return graph


# -------------------------------------------------------------- attention
def attention_graph(embed_dim, num_heads, causal):
    head_dim = embed_dim // num_heads

    def graph(x, p):
        steps = x.shape[1] // embed_dim
        mask = Matrix([[-1e30 if causal and j > i else 0.0 for j in range(steps)] for i in range(steps)])
        rows = []
        for sample in range(x.shape[0]):
            tokens = reshape(take(x, [sample]), steps, embed_dim)                 # (T, D)
            qkv = tokens @ p["in_proj_weight"] + p["in_proj_bias"]                # (T, 3D)
            heads = []
            for start in range(0, embed_dim, head_dim):
                query = columns(qkv, start, start + head_dim)
                key = columns(qkv, embed_dim + start, embed_dim + start + head_dim)
                value = columns(qkv, 2 * embed_dim + start, 2 * embed_dim + start + head_dim)
                weights = ((query @ key.T) * (1.0 / math.sqrt(head_dim)) + mask).softmax()
                heads.append(weights @ value)
            output = concat(heads, axis=1) @ p["out_proj_weight"] + p["out_proj_bias"]
            rows.append(reshape(output, 1, steps * embed_dim))
        return concat(rows, axis=0)
    return graph


class RebuiltLayersTest(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(21)

    def test_conv2d(self):
        cases = [  # (C, H, W), out channels, kernel, stride, padding, images
            ((1, 4, 4), 2, (3, 3), (1, 1), (0, 0), 2),
            ((2, 5, 4), 3, (3, 2), (2, 1), (1, 1), 2),
            ((3, 3, 3), 1, (1, 1), (1, 1), (0, 0), 1),
            ((1, 6, 5), 2, (2, 3), (2, 2), (1, 0), 3),
        ]
        for shape, out_channels, kernel, stride, padding, n in cases:
            layer = Conv2D(shape[0], out_channels, kernel, stride, padding, input_shape=shape, rng=self.rng)
            layer.bias.value = random_matrix(self.rng, 1, out_channels)
            x = random_matrix(self.rng, n, shape[0] * shape[1] * shape[2])
            compare(self, layer, conv2d_graph(shape, kernel, stride, padding), x, self.rng,
                    f"Conv2D {shape} k{kernel} s{stride} p{padding}")

    def test_lstm(self):
        for n, steps, input_size, hidden_size, return_sequences in ((1, 1, 2, 3, True), (3, 4, 2, 3, True),
                                                                   (2, 3, 3, 2, False), (2, 5, 1, 4, True)):
            layer = LSTM(input_size, hidden_size, return_sequences=return_sequences, rng=self.rng)
            x = random_matrix(self.rng, n, steps * input_size)
            compare(self, layer, lstm_graph(input_size, hidden_size, return_sequences), x, self.rng,
                    f"LSTM T={steps} D={input_size} H={hidden_size}")

    def test_multi_head_self_attention(self):
        for n, steps, embed_dim, num_heads, causal in ((1, 3, 4, 2, False), (2, 4, 6, 3, True),
                                                       (3, 2, 4, 1, False), (2, 5, 4, 4, True)):
            layer = MultiHeadSelfAttention(embed_dim, num_heads, causal=causal, rng=self.rng)
            layer.in_proj_bias.value = random_matrix(self.rng, 1, 3 * embed_dim)
            layer.out_proj_bias.value = random_matrix(self.rng, 1, embed_dim)
            x = random_matrix(self.rng, n, steps * embed_dim)
            compare(self, layer, attention_graph(embed_dim, num_heads, causal), x, self.rng,
                    f"MultiHeadSelfAttention T={steps} D={embed_dim} H={num_heads} causal={causal}")

    def test_sequence_cross_entropy_with_ignored_positions(self):
        for n, steps, classes in ((1, 3, 4), (3, 4, 2), (2, 5, 3)):
            logits = random_matrix(self.rng, n, steps * classes, -3.0, 3.0)
            targets = [[self.rng.choice([-1] + list(range(classes))) for _ in range(steps)] for _ in range(n)]
            targets[0][0] = 0  # at least one position is scored
            loss = SequenceCrossEntropy(ignore_index=-1)
            value = loss.forward(logits, targets)
            reference = loss.backward()
            z = Tensor(logits, requires_grad=True)
            kept = [(i * steps + t, y) for i, row in enumerate(targets) for t, y in enumerate(row) if y != -1]
            positions = take(reshape(z, n * steps, classes), [row for row, _ in kept])  # one row per position
            graph_loss = cross_entropy(positions, [y for _, y in kept])
            graph_loss.backward()
            self.assertAlmostEqual(graph_loss.item(), value, delta=1e-12)
            assert_same(self, z.grad, reference, f"SequenceCrossEntropy {(n, steps, classes)} dZ")


if __name__ == "__main__":
    unittest.main()
