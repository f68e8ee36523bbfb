"""Tests for transformer.py: PositionEmbedding, Residual and the Transformer block,
against finite differences, slow references and (when installed) PyTorch; saving and summary."""

import json
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from activations import ReLU, Tanh  # noqa: E402
from attention import MultiHeadSelfAttention  # noqa: E402
from layers import BatchNorm, Dense  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import LAYER_TYPES, ModelFileError, Network  # noqa: E402
from normalization import LayerNorm  # noqa: E402
from tests.gradcheck import assert_close, check_layer, random_matrix, upstream_gradient  # noqa: E402
from sequence import PositionwiseDense  # noqa: E402
from transformer import PositionEmbedding, Residual, transformer_block  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

LENGTHS = (1, 2, 5)


def randomized(layer, rng):
    for param in layer.parameters():
        param.value = random_matrix(rng, *param.value.shape, low=-1.0, high=1.0)
    return layer


def tensor(rows):
    return torch.tensor(rows, dtype=torch.float64)


class PositionEmbeddingTest(unittest.TestCase):
    def test_matches_finite_differences(self):
        rng = random.Random(4)
        for steps in (1, 2, 4):
            with self.subTest(steps=steps):
                layer = PositionEmbedding(4, 3, rng=rng)
                self.assertLess(check_layer(layer, random_matrix(rng, 3, 3 * steps), rng), 1e-6)

    def test_adds_the_row_of_each_position(self):
        layer = PositionEmbedding(3, 2, rng=random.Random(0))
        layer.weight.value = Matrix([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
        y = layer.forward(Matrix([[0.5, 0.5, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]))
        self.assertEqual(y.rows, [[1.5, 2.5, 10.0, 20.0], [2.0, 3.0, 11.0, 21.0]])
        layer.backward(Matrix([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]]))
        self.assertEqual(layer.weight.grad.rows, [[11.0, 22.0], [33.0, 44.0], [0.0, 0.0]])

    def test_shapes_along_a_network(self):
        network = Network([PositionEmbedding(4, 3), PositionwiseDense(3, 5), ReLU(), PositionwiseDense(5, 2)])
        self.assertEqual(network.shapes, [None] * 4)  # the length comes with the data
        shown = [line[36:56].strip() for line in network.summary(12).splitlines()[2:6]]
        self.assertEqual(shown, ["(None, 4, 3)", "(None, 4, 5)", "(None, 4, 5)", "(None, 4, 2)"])

    def test_a_sequence_longer_than_the_context_is_an_error(self):
        with self.assertRaisesRegex(ValueError, r"PositionEmbedding\(3, 2\) takes up to 3 steps of 2 values, got rows "
                                                r"of 8 values"):
            PositionEmbedding(3, 2).forward(Matrix.zeros(1, 8))


def attention_block(rng):
    """Residual([LayerNorm, attention]) with random weights."""
    return Residual([randomized(LayerNorm(4), rng),
                     randomized(MultiHeadSelfAttention(4, 2, causal=True, rng=rng), rng)])


class ResidualTest(unittest.TestCase):
    def test_matches_finite_differences(self):
        rng = random.Random(5)
        for steps in LENGTHS:
            with self.subTest(steps=steps):
                block = attention_block(rng)
                self.assertLess(check_layer(block, random_matrix(rng, 2, 4 * steps), rng, h=1e-3, order=4), 1e-6)
                mlp = Residual([randomized(PositionwiseDense(4, 6, rng=rng), rng), Tanh(),
                                randomized(PositionwiseDense(6, 4, rng=rng), rng)])
                self.assertLess(check_layer(mlp, random_matrix(rng, 2, 4 * steps), rng), 1e-6)

    def test_output_is_input_plus_the_layers_output(self):
        rng = random.Random(6)
        inner = [randomized(Dense(3, 3, rng=rng), rng), Tanh()]
        x = random_matrix(rng, 2, 3)
        expected = x + inner[1].forward(inner[0].forward(x))
        self.assertEqual(Residual(inner).forward(x).rows, expected.rows)
        # and the gradient: dX = dY + the layers' dX
        grad = upstream_gradient(rng, 2, 3)
        inner[1].forward(inner[0].forward(x))
        through = inner[0].backward(inner[1].backward(grad))
        residual = Residual(inner)
        residual.forward(x)
        self.assertEqual(residual.backward(grad).rows, (grad + through).rows)

    def test_a_shape_change_inside_is_an_error(self):
        with self.assertRaisesRegex(ValueError, r"layer 1: Residual\(1 layer\): its layers turn shape \(3,\) into "
                                                r"\(2,\); a residual connection needs the same shape back"):
            Network([Dense(3, 3), Residual([Dense(3, 2)])])
        with self.assertRaisesRegex(ValueError, "needs a non-empty list of layers"):
            Residual([])
        with self.assertRaisesRegex(TypeError, "item 1 is"):
            Residual([Dense(2, 2), "relu"])

    def test_parameters_buffers_and_batch_statistics_are_the_inner_layers(self):
        dense, norm = Dense(3, 3), BatchNorm(3)
        residual = Residual([dense, norm, ReLU()])
        self.assertEqual(residual.parameters(), dense.parameters() + norm.parameters())
        self.assertEqual(sorted(residual.buffers()), ["1.running_mean", "1.running_var"])
        self.assertTrue(residual.batch_statistics)
        residual.set_buffer("1.running_var", Matrix([[2.0, 2.0, 2.0]]))
        self.assertEqual(norm.running_var.rows, [[2.0, 2.0, 2.0]])
        self.assertEqual(residual.sublayers(), [dense, norm, residual.layers[2]])

    def test_saved_loaded_and_summarized_with_its_layers(self):
        rng = random.Random(7)
        network = Network([PositionEmbedding(5, 4, rng=rng), *transformer_block(4, 2, 8, rng=rng),
                           Residual([Residual([randomized(PositionwiseDense(4, 4, rng=rng), rng)])]),
                           LayerNorm(4), PositionwiseDense(4, 3, rng=rng)])
        randomized(network.layers[3].layers[0].layers[0], rng)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "block.json")
            network.save(path)
            with open(path) as file:
                entry = json.load(file)["layers"][1]
            loaded = Network.load(path)
        self.assertEqual(entry["type"], "Residual")
        self.assertEqual([sub["type"] for sub in entry["layers"]], ["LayerNorm", "MultiHeadSelfAttention"])
        self.assertNotIn("parameters", entry)
        x = random_matrix(rng, 2, 12)
        self.assertEqual(loaded.forward(x).rows, network.forward(x).rows)
        self.assertEqual(len(loaded.parameters()), len(network.parameters()))
        summary = loaded.summary(12)
        lines = summary.splitlines()
        # a container's row has no count of its own; its layers follow, indented, with theirs
        self.assertRegex(summary, r"(?m)^Residual\(2 layers\) +\(None, 3, 4\) *$")
        self.assertRegex(summary, r"(?m)^  LayerNorm\(4\) +\(None, 3, 4\) +8$")
        self.assertRegex(summary, r"(?m)^  MultiHeadSelfAttention\(4, heads=2, causal\)  \(None, 3, 4\) +80$")
        self.assertRegex(summary, r"(?m)^  PositionwiseDense\(4 -> 8\) +\(None, 3, 8\) +40$")
        self.assertRegex(summary, r"(?m)^    PositionwiseDense\(4 -> 4\) +\(None, 3, 4\) +20$")
        total = sum(p.value.shape[0] * p.value.shape[1] for p in network.parameters())
        self.assertEqual(lines[-1], f"Total parameters: {total:,}")
        self.assertEqual(total, 20 + 8 + 80 + 8 + 40 + 36 + 20 + 8 + 15)
        self.assertIs(LAYER_TYPES["Residual"], Residual)

    def test_a_damaged_container_entry_is_a_clear_error(self):
        data = Network([Residual([Dense(2, 2)])]).to_dict()
        data["layers"][0]["layers"] = "Dense"
        with self.assertRaisesRegex(ModelFileError, r"model: layers\[0\].layers: must be a non-empty list"):
            Network.from_dict(data)
        data["layers"][0]["layers"] = [{"type": "Dense", "config": {"in_features": 2, "out_features": 2}}]
        with self.assertRaisesRegex(ModelFileError, r"layers\[0\].layers\[0\].parameters: missing 'weight'"):
            Network.from_dict(data)
        data = Network([Residual([Dense(2, 2)])]).to_dict()
        del data["layers"][0]["layers"]
        with self.assertRaisesRegex(ModelFileError, r"layers\[0\].config"):
            Network.from_dict(data)


class BlockTest(unittest.TestCase):
    def test_block_layers(self):
        first, second = transformer_block(8, 2, 32, causal=True, norm="rms_no_scale", bias=False)
        self.assertEqual([repr(layer) for layer in first.layers],
                         ["RMSNorm(8, no weight)", "MultiHeadSelfAttention(8, heads=2, causal, bias=False)"])
        self.assertEqual([repr(layer) for layer in second.layers],
                         ["RMSNorm(8, no weight)", "PositionwiseDense(8 -> 32)", "ReLU()", "PositionwiseDense(32 -> 8)"])
        self.assertEqual(sum(p.value.shape[0] * p.value.shape[1] for p in first.parameters() + second.parameters()),
                         4 * 64 + 2 * 256)
        with self.assertRaisesRegex(ValueError, "unknown norm 'batch'; valid: layer, rms, rms_no_scale"):
            transformer_block(8, 2, 32, norm="batch")

    @unittest.skipIf(torch is None, "PyTorch is not installed")
    def test_block_equals_the_same_block_in_torch(self):
        rng = random.Random(8)
        size, heads, hidden, steps, n = 4, 2, 6, 5, 2
        first, second = [randomized(layer, rng) for layer in transformer_block(size, heads, hidden, rng=rng)]
        for layer in first.layers + second.layers:
            randomized(layer, rng)
        norm1, attention = first.layers
        norm2, fc1, _, fc2 = second.layers
        t_norm1, t_norm2 = (torch.nn.LayerNorm(size, dtype=torch.float64) for _ in range(2))
        t_attention = torch.nn.MultiheadAttention(size, heads, batch_first=True, dtype=torch.float64)
        t_fc1 = torch.nn.Linear(size, hidden, dtype=torch.float64)
        t_fc2 = torch.nn.Linear(hidden, size, dtype=torch.float64)
        with torch.no_grad():
            for mine, theirs in ((norm1, t_norm1), (norm2, t_norm2)):
                theirs.weight.copy_(tensor(mine.weight.value.rows[0]))
                theirs.bias.copy_(tensor(mine.bias.value.rows[0]))
            t_attention.in_proj_weight.copy_(tensor(attention.in_proj_weight.value.T.rows))
            t_attention.in_proj_bias.copy_(tensor(attention.in_proj_bias.value.rows[0]))
            t_attention.out_proj.weight.copy_(tensor(attention.out_proj_weight.value.T.rows))
            t_attention.out_proj.bias.copy_(tensor(attention.out_proj_bias.value.rows[0]))
            for mine, theirs in ((fc1, t_fc1), (fc2, t_fc2)):
                theirs.weight.copy_(tensor(mine.weight.value.T.rows))
                theirs.bias.copy_(tensor(mine.bias.value.rows[0]))
        x, grad = random_matrix(rng, n, size * steps), upstream_gradient(rng, n, size * steps)
        x_torch = tensor(x.rows).reshape(n, steps, size).requires_grad_()
        mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1)
        normed = t_norm1(x_torch)
        h = x_torch + t_attention(normed, normed, normed, attn_mask=mask, need_weights=False)[0]
        y_torch = h + t_fc2(torch.relu(t_fc1(t_norm2(h))))
        y_torch.backward(tensor(grad.rows).reshape(n, steps, size))
        network = Network([first, second])
        y = network.forward(x)
        grad_input = network.backward(grad)
        assert_close(y, y_torch.detach().reshape(n, -1).tolist(), "Y", 1e-12, tiny=1.0)
        assert_close(grad_input, x_torch.grad.reshape(n, -1).tolist(), "dX", 1e-12, tiny=1.0)
        assert_close(fc1.weight.grad, t_fc1.weight.grad.T.tolist(), "dW fc1", 1e-12, tiny=1.0)
        assert_close(attention.in_proj_weight.grad, t_attention.in_proj_weight.grad.T.tolist(), "din_proj", 1e-12,
                     tiny=1.0)
        assert_close(norm1.weight.grad, [t_norm1.weight.grad.tolist()], "dweight norm1", 1e-12, tiny=1.0)


if __name__ == "__main__":
    unittest.main()
