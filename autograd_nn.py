"""Neural-network pieces built on autograd: selections, losses, and layers written as a forward alone.

    take, pick, columns, gather_columns, reshape, concat
                                       the row and column selections the losses and layers need
    mse, cross_entropy, binary_cross_entropy
                                       the losses of losses.py, composed from Tensor operations
    AutogradLayer                      a Layer whose backward the graph derives from its forward

Each selection is a new primitive operation, made with Tensor.from_op: the forward computes
the result's Matrix, the backward function next to it sends dY back to the input.
"""

from itertools import chain

from autograd import Tensor, as_tensor, no_grad
from layers import Layer, flat_size
from matrix import Matrix


def _is_index(value):
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ selection
def take(tensor, indices):
    """The rows of `tensor` at `indices` (repeats allowed), in order: (len(indices), c).
    dA: each row of dY is added back to the row it came from (a row taken twice gets both)."""
    n, c = tensor.shape
    indices = list(indices)
    if not indices or not all(_is_index(i) and 0 <= i < n for i in indices):
        raise ValueError(f"take() needs row indices in [0, {n}) for a tensor of shape {tensor.shape}")
    data = Matrix.from_rows([list(tensor.data.rows[i]) for i in indices], c)

    def backward(grad):
        rows = [[0.0] * c for _ in range(n)]
        for i, grad_row in zip(indices, grad.rows):
            rows[i] = [a + g for a, g in zip(rows[i], grad_row)]
        return (Matrix.from_rows(rows, c),)
    return Tensor.from_op(data, (tensor,), backward, "take", "dA[index] += the dY row, for each row taken")


def pick(tensor, columns):
    """Entry columns[i] of each row i, as an (n, 1) column: each row's log-probability of its own
    class in cross-entropy. dA is 0 except at the picked entries, which receive dY_i."""
    n, c = tensor.shape
    columns = list(columns)
    if len(columns) != n or not all(_is_index(j) and 0 <= j < c for j in columns):
        raise ValueError(f"pick() needs one column index in [0, {c}) per row, {n} in all; got {columns!r:.80}")
    data = Matrix.from_rows([[row[j]] for row, j in zip(tensor.data.rows, columns)], 1)

    def backward(grad):
        rows = [[0.0] * c for _ in range(n)]
        for row, j, grad_row in zip(rows, columns, grad.rows):
            row[j] = grad_row[0]
        return (Matrix.from_rows(rows, c),)
    return Tensor.from_op(data, (tensor,), backward, "pick", "dA[i][column i] = dY[i], 0 elsewhere")


def columns(tensor, start, stop):
    """Columns start .. stop-1 of every row: (n, stop - start), e.g. one head of attention or one
    gate of an LSTM. dA is dY in those columns and 0 elsewhere."""
    n, c = tensor.shape
    if not (_is_index(start) and _is_index(stop) and 0 <= start < stop <= c):
        raise ValueError(f"columns({start!r}, {stop!r}): need 0 <= start < stop <= {c}")
    data = Matrix.from_rows([row[start:stop] for row in tensor.data.rows], stop - start)
    left, right = [0.0] * start, [0.0] * (c - stop)

    def backward(grad):
        return (Matrix.from_rows([left + grad_row + right for grad_row in grad.rows], c),)
    return Tensor.from_op(data, (tensor,), backward, f"columns[{start}:{stop}]",
                          "dA = dY in the selected columns, 0 elsewhere")


def gather_columns(tensor, indices):
    """out[:, k] = tensor[:, indices[k]], or 0 where indices[k] is None (zero padding): any
    selection or rearrangement of each row's entries, such as the patches of a convolution.
    dA: each column of dY is added back to the column it came from (a column used twice,
    as overlapping windows use a pixel, gets both); padding sends nothing back."""
    n, c = tensor.shape
    indices = list(indices)
    if not indices or not all(j is None or (_is_index(j) and 0 <= j < c) for j in indices):
        raise ValueError(f"gather_columns() needs column indices in [0, {c}) or None, got {indices!r:.80}")
    data = Matrix.from_rows([[0.0 if j is None else row[j] for j in indices] for row in tensor.data.rows],
                            len(indices))
    used = [(k, j) for k, j in enumerate(indices) if j is not None]

    def backward(grad):
        rows = []
        for grad_row in grad.rows:
            row = [0.0] * c
            for k, j in used:
                row[j] += grad_row[k]
            rows.append(row)
        return (Matrix.from_rows(rows, c),)
    return Tensor.from_op(data, (tensor,), backward, "gather_columns",
                          "dA[:, index k] += dY[:, k] for every k (padding: nothing)")


def reshape(tensor, n_rows, n_cols):
    """The same entries in row-major order, as an (n_rows, n_cols) matrix (a row of T * D values
    becomes T rows of D). dA is dY reshaped back."""
    n, c = tensor.shape
    if not (_is_index(n_rows) and _is_index(n_cols) and n_rows >= 1 and n_cols >= 1 and n_rows * n_cols == n * c):
        raise ValueError(f"reshape({n_rows!r}, {n_cols!r}) of a tensor of shape {tensor.shape}: "
                         f"need n_rows * n_cols == {n * c}")

    def regroup(rows, width):
        flat = list(chain.from_iterable(rows))
        return Matrix.from_rows([flat[start:start + width] for start in range(0, len(flat), width)], width)

    def backward(grad):
        return (regroup(grad.rows, c),)
    return Tensor.from_op(regroup(tensor.data.rows, n_cols), (tensor,), backward, f"reshape({n_rows}, {n_cols})",
                          "dA = dY reshaped back")


def concat(tensors, axis=1):
    """Tensors side by side (axis=1: their columns, all with n rows) or stacked (axis=0: their rows,
    all with c columns). The dA of each part is its own block of dY."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors or any(t is None for t in tensors):
        raise ValueError("concat() needs a non-empty list of Tensors (or matrices)")
    if axis not in (0, 1):
        raise ValueError(f"concat axis must be 0 or 1, got {axis!r}")
    other_axis = 1 - axis
    if len({t.shape[other_axis] for t in tensors}) != 1:
        raise ValueError(f"concat(axis={axis}) needs equal numbers of {'columns' if axis == 0 else 'rows'}, "
                         f"got shapes {[t.shape for t in tensors]}")
    bounds, start = [], 0
    for t in tensors:
        bounds.append((start, start + t.shape[axis]))
        start += t.shape[axis]
    if axis == 1:
        data = Matrix.from_rows([list(chain.from_iterable(parts)) for parts in zip(*(t.data.rows for t in tensors))],
                            start)

        def backward(grad):
            return tuple(Matrix.from_rows([row[a:b] for row in grad.rows], b - a) if t.requires_grad else None
                         for t, (a, b) in zip(tensors, bounds))
    else:
        width = tensors[0].shape[1]
        data = Matrix.from_rows([row for t in tensors for row in t.data.rows], width)

        def backward(grad):
            return tuple(Matrix.from_rows(grad.rows[a:b], width) if t.requires_grad else None
                         for t, (a, b) in zip(tensors, bounds))
    return Tensor.from_op(data, tuple(tensors), backward, f"concat(axis={axis})", "dA of each part = its block of dY")


# --------------------------------------------------------------------- losses
def _target_matrix(pred, target):
    """The target as a Matrix of pred's shape (from a Matrix, a Tensor or a list of rows)."""
    if isinstance(target, Tensor):
        target = target.data
    elif not isinstance(target, Matrix):
        target = Matrix(target)
    if target.shape != pred.shape:
        raise ValueError(f"predictions have shape {pred.shape} but targets have shape {target.shape}")
    return target


def _class_indices(target):
    return isinstance(target, (list, tuple)) and bool(target) and all(_is_index(t) for t in target)


def mse(pred, target):
    """Mean squared error over all n * c entries, as losses.MSE:  L = mean((P - T)^2)."""
    difference = pred - _target_matrix(pred, target)
    return (difference * difference).mean()


def cross_entropy(logits, target):
    """Softmax cross-entropy from logits, as losses.CrossEntropy:
        class indices t:          L = -(1/n) sum_i log_softmax(Z)[i][t_i]          (pick)
        one-hot or probabilities: L = -(1/n) sum_ij T_ij log_softmax(Z)_ij
    The graph's gradient is (softmax(Z) * rowsum(T) - T) / n, the fused rule of losses.py."""
    log_probabilities = logits.log_softmax()
    if _class_indices(target):
        return -pick(log_probabilities, target).mean()
    return -(log_probabilities * _target_matrix(logits, target)).sum() / logits.shape[0]


def binary_cross_entropy(logits, target):
    """Sigmoid cross-entropy from logits, as losses.BinaryCrossEntropy:
        l = -[t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))] = softplus(z) - z t,   L = mean of l
    (softplus never overflows, and its derivative sigmoid(z) gives dL/dz = (sigmoid(z) - t) / N)."""
    return (logits.softplus() - logits * _target_matrix(logits, target)).mean()


# -------------------------------------------------------------- AutogradLayer
class AutogradLayer(Layer):
    """A layer written as its forward alone, in Tensor operations; the graph derives its backward.

        class Swish(AutogradLayer):                 # Ramachandran et al. (2017): x * sigmoid(x)
            name = "swish"                          # its config name, once registered
            def forward_tensor(self, x):
                return x * x.sigmoid()

    forward(X) wraps X (n, in) as a Tensor x, calls forward_tensor(x) and returns the result's
    Matrix; backward(dY) runs the recorded graph backward from the result with dY and returns dX,
    filling each parameter's .grad. `self.training` tells forward_tensor whether it is training.

    Parameters: every attribute holding a Tensor with requires_grad=True is one, in the order
    the attributes were set, and is named by its attribute (for saving). Optimizers, summary(),
    save and load treat them as any layer's Parameters:

        class Scale(AutogradLayer):                 # Y = X * s, one learned scale per feature
            def __init__(self, features):
                self.features = features
                self.scale = Tensor(Matrix.full(1, features, 1.0), requires_grad=True)
            def forward_tensor(self, x):
                return x * self.scale
            def get_config(self):                   # the constructor's arguments, for loading
                return {"features": self.features}

    The output shape is found by running forward_tensor once on a row of ones (without
    recording); a layer can override output_shape instead. network.register_layer(cls) lets a
    saved model (and, for a layer with a `name`, a config's "activation") name the class.
    """

    training = False
    _graph = None  # (input tensor, output tensor) of the last forward

    def forward_tensor(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward_tensor(self, x)")

    def forward(self, x, training=False):
        self.training = training
        inputs = Tensor(x, requires_grad=True)
        outputs = self.forward_tensor(inputs)
        if not isinstance(outputs, Tensor):
            raise TypeError(f"{self!r}: forward_tensor must return a Tensor, got {type(outputs).__name__}")
        self._graph = (inputs, outputs)
        return outputs.data

    def backward(self, grad, input_grad=True):
        """dX from the graph; with input_grad=False the branch to X is pruned and None returned."""
        inputs, outputs = self._saved(self._graph)
        parameters = self.parameters()
        for parameter in parameters:  # a layer's backward sets its gradients, as Dense's does
            parameter.grad = None
        inputs.grad, inputs.requires_grad = None, bool(input_grad)
        if outputs.requires_grad:
            outputs.backward(grad)
        for parameter in parameters:  # one that took no part in the output has gradient 0
            if parameter.grad is None:
                parameter.grad = Matrix.zeros(*parameter.shape)
        if not input_grad:
            return None
        return inputs.grad if inputs.grad is not None else Matrix.zeros(*inputs.shape)

    def parameters(self):
        found = []
        for attribute, value in vars(self).items():
            if isinstance(value, Tensor) and value.requires_grad and not attribute.startswith("_"):
                value.name = attribute
                found.append(value)
        return found

    def output_shape(self, input_shape):
        width = flat_size(input_shape)
        try:
            with no_grad():
                output = self.forward_tensor(Tensor(Matrix.full(1, width, 1.0)))
        except ValueError as error:
            raise ValueError(f"{self!r} cannot take inputs of shape {tuple(input_shape)}: {error}") from None
        # a layer that keeps the width keeps the shape (an image stays (C, H, W))
        return tuple(input_shape) if output.shape[1] == width else (output.shape[1],)
