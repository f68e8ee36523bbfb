"""The parts a Transformer block is built from, besides attention, normalization
and the position-wise Dense layer (sequence.PositionwiseDense).

    PositionEmbedding   a learned vector added to each position (GPT's wpe)
    Residual            x + f(x): a container of layers whose output is added to its input
    transformer_block   the pre-norm block: x + attention(norm(x)), then x + MLP(norm(x))

A sequence of T steps of D values travels as one row of T * D values
(sequence.split_steps), so a block is just two Residual layers in a Network:

    Network([Embedding(27, 64), PositionEmbedding(16, 64),
             *transformer_block(64, num_heads=4, hidden=256, causal=True),
             LayerNorm(64), PositionwiseDense(64, 27)])
"""

import math

from attention import MultiHeadSelfAttention
from activations import ReLU
from layers import Layer, Parameter, default_rng, flat_size
from matrix import Matrix
from normalization import LayerNorm, RMSNorm
from sequence import PositionwiseDense


class PositionEmbedding(Layer):
    """Learned position embeddings (GPT's wpe): y_t = x_t + P[t] for each step t < T.

    Shapes: X, Y (n, T * D) with T <= context_length; P (context_length, D), drawn
    from N(0, 1) as torch.nn.Embedding's weight. The same as adding
    torch.nn.Embedding(context_length, D)(arange(T)) to a (n, T, D) tensor.
    Backward, given dY:
        dX = dY             dP[t] = sum over the samples of dy_t      (rows t >= T: 0)
    """

    def __init__(self, context_length, embedding_dim, rng=None):
        for what, value in (("context_length", context_length), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PositionEmbedding {what} must be a positive integer, got {value!r}")
        self.context_length, self.embedding_dim = context_length, embedding_dim
        rng = rng if rng is not None else default_rng()
        self.weight = Parameter(Matrix.random(context_length, embedding_dim, rng, "normal", 1.0), "weight")
        self.steps = None

    def _check_steps(self, width):
        if width % self.embedding_dim or width // self.embedding_dim > self.context_length:
            raise ValueError(f"{self!r} takes up to {self.context_length} steps of {self.embedding_dim} values, "
                             f"got rows of {width} values")
        return width // self.embedding_dim

    def forward(self, x, training=False):
        self.steps = self._check_steps(x.shape[1])
        positions = [value for row in self.weight.value.rows[:self.steps] for value in row]
        return x + Matrix.from_rows([positions], x.shape[1])

    def backward(self, grad, input_grad=True):
        steps, size = self._saved(self.steps), self.embedding_dim
        total = grad.sum(axis=0).rows[0]
        rows = [total[t * size:(t + 1) * size] for t in range(steps)]
        rows += [[0.0] * size for _ in range(self.context_length - steps)]
        self.weight.grad = Matrix.from_rows(rows, size)
        return grad

    def parameters(self):
        return [self.weight]

    def output_shape(self, input_shape):
        return (self._check_steps(flat_size(input_shape)), self.embedding_dim)

    def get_config(self):
        return {"context_length": self.context_length, "embedding_dim": self.embedding_dim}

    def __repr__(self):
        return f"PositionEmbedding({self.context_length}, {self.embedding_dim})"


class Residual(Layer):
    """A residual connection (He et al., 2016) around a sequence of layers: Y = X + f(X),
    f the layers run one after the other. f must give X's shape back.

    Backward, given dY: the sum splits the gradient into two paths,
        dX = dY + df(X)/dX applied to dY      (the inner layers' backward, last first)
    so the gradient reaches X unchanged along the skip path however deep f is.
    Parameters and buffers are the inner layers'; a saved model keeps the inner
    layers in the Residual's entry, and summary() lists them under it.
    """

    def __init__(self, layers):
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError(f"Residual needs a non-empty list of layers, got {layers!r:.60}")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Residual: item {index} is {layer!r:.60}, not a layer")
        self.layers = list(layers)
        self.batch_statistics = any(layer.batch_statistics for layer in self.layers)
        self.shapes = [None] * len(self.layers)  # each inner layer's output shape, once built
        self.ran = False

    def sublayers(self):
        return list(self.layers)

    def forward(self, x, training=False):
        y = x
        for layer in self.layers:
            y = layer.forward(y, training)
        if y.shape != x.shape:
            raise ValueError(f"{self!r}: its layers turn shape {x.shape} into {y.shape}; "
                             "a residual connection needs the same shape back")
        self.ran = True
        return x + y

    def backward(self, grad, input_grad=True):
        if not self.ran:
            raise RuntimeError(f"{self!r}: backward called before forward")
        inner = grad
        for layer in reversed(self.layers):
            inner = layer.backward(inner)
        return grad + inner if input_grad else None

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def buffers(self):
        """The inner layers' buffers, named "<index>.<name>" (as PyTorch's state_dict)."""
        return {f"{index}.{name}": value for index, layer in enumerate(self.layers)
                for name, value in layer.buffers().items()}

    def set_buffer(self, name, value):
        index, _, inner_name = name.partition(".")
        self.layers[int(index)].set_buffer(inner_name, value)

    def penalty(self):
        return math.fsum(layer.penalty() for layer in self.layers)

    def _pass_shapes(self, input_shape, build):
        shapes, shape = [], tuple(input_shape)
        for index, layer in enumerate(self.layers):
            try:
                shape = layer.build(shape) if build else layer.output_shape(shape)
            except ValueError as error:
                raise ValueError(f"{self!r}, layer {index}: {error}") from None
            shapes.append(tuple(shape))
        if flat_size(shape) != flat_size(input_shape):
            raise ValueError(f"{self!r}: its layers turn shape {tuple(input_shape)} into {shape}; "
                             "a residual connection needs the same shape back")
        return shapes

    def output_shape(self, input_shape):
        self._pass_shapes(input_shape, build=False)
        return tuple(input_shape)

    def build(self, input_shape):
        self.shapes = self._pass_shapes(input_shape, build=True)
        self.input_shape = tuple(input_shape)
        return self.input_shape

    def __repr__(self):
        return f"Residual({len(self.layers)} layer{'s' if len(self.layers) != 1 else ''})"


def transformer_block(embed_dim, num_heads, hidden, causal=True, norm="layer", bias=True, rng=None):
    """The layers of one pre-norm Transformer block (GPT-2's order), as a list of two Residuals:

        x = x + MultiHeadSelfAttention(norm(x))
        x = x + PositionwiseDense(hidden -> embed_dim)(ReLU(PositionwiseDense(embed_dim -> hidden)(norm(x))))

    norm: "layer" (LayerNorm), "rms" (RMSNorm) or "rms_no_scale" (RMSNorm without a learned
    weight). bias=False drops every bias (attention and MLP).
    """
    norms = {"layer": lambda: LayerNorm(embed_dim, bias=bias), "rms": lambda: RMSNorm(embed_dim),
             "rms_no_scale": lambda: RMSNorm(embed_dim, elementwise_affine=False)}
    if norm not in norms:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(sorted(norms))}")
    return [
        Residual([norms[norm](), MultiHeadSelfAttention(embed_dim, num_heads, causal=causal, bias=bias, rng=rng)]),
        Residual([norms[norm](), PositionwiseDense(embed_dim, hidden, bias=bias, rng=rng), ReLU(),
                  PositionwiseDense(hidden, embed_dim, bias=bias, rng=rng)]),
    ]
