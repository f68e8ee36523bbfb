"""The attention rungs of the names ladder (demos/names.py registers them):

    transformer   a small GPT-style Transformer: token and position embeddings, pre-norm
                  blocks (LayerNorm, causal multi-head self-attention, a ReLU MLP, each
                  inside a residual connection), a final LayerNorm and a linear head
    tiny-gpt      the exact model of the dependency-free ~200-line GPT with a scalar autograd
                  (Karpathy's microgpt), built from the framework's layers

The tiny GPT, layer by layer, with its 4,192 parameters for a 27-token vocabulary:

    Embedding(27, 16)                     token vectors (wte)                  432
    PositionEmbedding(16, 16)             + a learned vector per position (wpe) 256
    RMSNorm(16, no weight)                normalized once before the block
    Residual: RMSNorm(16, no weight), MultiHeadSelfAttention(16, 4 heads, causal, no biases)
                                          W_q, W_k, W_v (768) and W_o (256)   1,024
    Residual: RMSNorm(16, no weight), PositionwiseDense(16 -> 64, no bias), ReLU,
              PositionwiseDense(64 -> 16, no bias)                           2,048
    PositionwiseDense(16 -> 27, no bias)  the output head, not tied to wte      432

Every weight starts as N(0, 0.08^2), as there. It trains one name per step, the names
in one shuffled order, with Adam (lr 0.01, betas (0.85, 0.99), eps 1e-8) and the
learning rate falling linearly to 0 over 1,000 steps: the same model, data order
policy and schedule. bench/tiny_gpt.py times its steps against the scalar version.
"""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from layers import default_rng  # noqa: E402  (needs the repo root on sys.path)
from matrix import Matrix  # noqa: E402
from normalization import LayerNorm, RMSNorm  # noqa: E402
from sequence import Embedding, PositionwiseDense  # noqa: E402
from transformer import PositionEmbedding, transformer_block  # noqa: E402

TINY_GPT = {"context": 16, "embedding": 16, "heads": 4, "hidden": 64, "layers": 1, "init_std": 0.08}


def build_transformer(options, vocabulary):
    """Embedding -> PositionEmbedding -> `layers` pre-norm blocks -> LayerNorm -> a linear head.

    Options: context (the longest sequence), embedding (D), heads, hidden (the MLP's width),
    layers (the number of blocks). Weights start as each layer's default (PyTorch's).
    """
    size = options["embedding"]
    layers = [Embedding(vocabulary, size), PositionEmbedding(options["context"], size)]
    for _ in range(options["layers"]):
        layers += transformer_block(size, options["heads"], options["hidden"], causal=True)
    return layers + [LayerNorm(size), PositionwiseDense(size, vocabulary)]


def build_tiny_gpt(options, vocabulary):
    """The scalar GPT's model: RMSNorm without a learned scale, no biases, an untied head,
    every weight drawn from N(0, init_std^2) (0.08) by the layers' shared generator."""
    size, context = options["embedding"], options["context"]
    layers = [Embedding(vocabulary, size), PositionEmbedding(context, size), RMSNorm(size, elementwise_affine=False)]
    for _ in range(options["layers"]):
        layers += transformer_block(size, options["heads"], options["hidden"], causal=True, norm="rms_no_scale",
                                    bias=False)
    layers.append(PositionwiseDense(size, vocabulary, bias=False))
    redraw_normal(layers, options["init_std"])
    return layers


def redraw_normal(layers, std, rng=None):
    """Give every parameter of `layers` new N(0, std^2) entries, row by row, in layer order."""
    rng = rng if rng is not None else default_rng()
    for layer in layers:
        for param in layer.parameters():
            rows, columns = param.value.shape
            param.value = Matrix.from_rows([[rng.gauss(0.0, std) for _ in range(columns)] for _ in range(rows)],
                                           columns)
