"""Reverse-mode automatic differentiation over Matrix: a computation graph that derives backward passes.

The layers of this framework have hand-derived backward passes. This module gets
them the way PyTorch does, without anyone deriving them. A `Tensor` wraps a
`Matrix`; every operation on Tensors computes its result AND records, in the
result, where it came from (its parents) and how to send a gradient back to
them (its backward rule, written in the operation right beside the forward).
`loss.backward()` then walks that graph from the loss to the leaves:

    W = Tensor(Matrix.random(3, 2, rng), requires_grad=True)      # a leaf
    loss = ((X @ W).tanh() - Y).pow(2).mean()                     # builds the graph
    loss.backward()                                               # fills W.grad = dL/dW

The walk is the chain rule. Visiting the nodes so that each comes after every
node computed from it (a reverse topological order), each node's gradient
dL/d(node) is complete when its turn comes: it is the SUM of what every node that
used it sent back, so a value used twice gets both contributions. Its backward
rule turns that gradient into the gradients of its parents.

Shapes and broadcasting follow Matrix: operands of + - * / are of equal shape,
or one of them is a (1, c) row repeated over every row of the other (the bias
add), or a scalar (a Python number, or a 1x1 Tensor) applied to every entry.
A broadcast operand's gradient is reduced back to its own shape by summing: a
(1, c) row b used in Y = X + b on n rows influences each of the n rows, so
    dL/db_j = sum over i of dL/dY_ij          (the gradient summed over the rows)
and a scalar s used on every entry gets the sum of all of them. That is the one
rule `_reduce_to` applies after every elementwise backward.

Design notes:
  * a Tensor is also a Parameter for the optimizers: `.value` (its data), `.grad`,
    `.name`, `zero_grad()`; so `Adam([W, b])` trains Tensors directly;
  * backward() accumulates into the leaves' .grad, as PyTorch does; zero_grad()
    sets .grad to None (no gradient yet), and the optimizers skip such parameters;
  * the graph is sorted without recursion, so a chain 100,000 operations long
    is fine; under `with no_grad():` nothing is recorded;
  * `to_dot()` draws the graph in Graphviz's DOT language.
"""

import contextlib
import math
import operator

from activations import sigmoid, softmax_rows
from matrix import Matrix
from utils import write_atomic

_add, _sub, _mul, _div = operator.add, operator.sub, operator.mul, operator.truediv
_exp, _log = math.exp, math.log


class _GradMode:
    """Whether operations record the graph; switched off inside `with no_grad():`."""

    enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside this block operations compute values only and record no graph (inference,
    evaluation): results have requires_grad=False and keep no references to their inputs."""
    previous = _GradMode.enabled
    _GradMode.enabled = False
    try:
        yield
    finally:
        _GradMode.enabled = previous


def is_grad_enabled():
    """False inside `with no_grad():`."""
    return _GradMode.enabled


# ------------------------------------------------------------- broadcasting kernels
def _broadcast(op, a, b, symbol):
    """op(a, b) entry by entry for Matrices a and b of equal shape, or with one of them a
    (1, c) row repeated over the other's rows, or a 1x1 matrix used as a scalar."""
    (n, c), (m, d) = a.shape, b.shape
    if (n, c) == (m, d):
        return Matrix.from_rows([list(map(op, x, y)) for x, y in zip(a.rows, b.rows)], c)
    if (m, d) == (1, c):
        row = b.rows[0]
        return Matrix.from_rows([list(map(op, x, row)) for x in a.rows], c)
    if (n, c) == (1, d):
        row = a.rows[0]
        return Matrix.from_rows([list(map(op, row, y)) for y in b.rows], d)
    if (m, d) == (1, 1):
        value = b.rows[0][0]
        return Matrix.from_rows([[op(x, value) for x in row] for row in a.rows], c)
    if (n, c) == (1, 1):
        value = a.rows[0][0]
        return Matrix.from_rows([[op(value, y) for y in row] for row in b.rows], d)
    raise ValueError(f"cannot apply {symbol} to shapes {a.shape} and {b.shape}: need equal shapes, "
                     f"a (1, c) row with c the other's columns, or a 1x1 scalar")


def _reduce_to(grad, shape):
    """The gradient of an operand of `shape` that was broadcast to grad's shape: summed over the
    rows it was repeated on (a (1, c) row), or over every entry (a scalar); unchanged otherwise."""
    if grad.shape == shape:
        return grad
    if shape == (1, 1):
        return Matrix.from_rows([[grad.sum()]], 1)
    return grad.sum(axis=0)


def _checked_map(fn, matrix, what):
    """matrix.map(fn), with math's bare 'math domain error' turned into a message naming the operation."""
    try:
        return matrix.map(fn)
    except (ValueError, OverflowError) as error:
        raise type(error)(f"{what}: {error}: an entry is outside the function's domain or range") from None


# ------------------------------------------------------------------------- Tensor
class Tensor:
    """A Matrix that remembers how it was computed, so that gradients can flow back to its inputs.

    Tensor(data, requires_grad=False, name=None): `data` is a Matrix, a list of rows or a number.
        .data            the Matrix of values, shape (n, c)     (.value is the same, for optimizers)
        .grad            dL/d(this tensor), a Matrix of the same shape, or None until backward()
        .requires_grad   True for a leaf to be trained, and for every result computed from one
        .parents, .op    the tensors this one was computed from and the operation's name
        .rule            the backward rule, as text (printed by explain --autograd and to_dot)
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "parents", "op", "rule", "_backward")

    def __init__(self, data, requires_grad=False, name=None):
        if isinstance(data, Tensor):
            data = data.data
        elif isinstance(data, (int, float)) and not isinstance(data, bool):
            data = Matrix([[data]])
        elif not isinstance(data, Matrix):
            data = Matrix(data)
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self.parents = ()
        self.op = "leaf" if requires_grad else "constant"
        self.rule = ""
        self._backward = None

    # -------------------------------------------------------- as a parameter
    @property
    def value(self):
        """The data, under the name the optimizers and Network use for a Parameter's matrix."""
        return self.data

    @value.setter
    def value(self, matrix):
        self.data = matrix

    @property
    def shape(self):
        return self.data.shape

    def zero_grad(self):
        """Forget the gradient (None: no gradient yet), as torch's zero_grad(set_to_none=True)."""
        self.grad = None

    def item(self):
        """The value of a 1x1 tensor, as a float."""
        if self.shape != (1, 1):
            raise ValueError(f"item() needs a 1x1 tensor, got shape {self.shape}")
        return self.data.rows[0][0]

    def detach(self):
        """The same values as a constant: no gradient flows back through it."""
        return Tensor(self.data)

    def __repr__(self):
        label = f"{self.name}, " if self.name else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({label}{self.shape[0]}x{self.shape[1]}, op={self.op}{grad})"

    # ---------------------------------------------------------- the graph
    @staticmethod
    def from_op(data, parents, backward, op, rule=""):
        """The result of an operation: how every operation here ends, and how a new one is added.

            data      the result's Matrix, computed by the forward
            parents   the tuple of Tensors it was computed from
            backward  a function dY -> (dParent for each parent, None for one not requiring a gradient)
            op, rule  the operation's name and its backward rule as text, for explain and to_dot
        A graph node when some parent requires a gradient (and recording is on), else a constant
        that keeps no reference to its parents."""
        result = Tensor.__new__(Tensor)
        result.data, result.grad, result.name, result.op, result.rule = data, None, None, op, rule
        if _GradMode.enabled and any(parent.requires_grad for parent in parents):
            result.requires_grad, result.parents, result._backward = True, parents, backward
        else:
            result.requires_grad, result.parents, result._backward = False, (), None
        return result

    def topological_order(self):
        """Every node this tensor depends on that requires a gradient, itself last, each after all its
        parents (see _sorted_graph); backward visits them in the reverse order."""
        return _sorted_graph(self, gradients_only=True)

    def backward(self, grad=None, retain_grad=False):
        """Fill .grad of every leaf this tensor depends on with dL/d(leaf), L being this tensor.

        With no argument this tensor must be 1x1 (a loss): dL/dL = 1. Otherwise `grad` (a Matrix of
        this tensor's shape) is the upstream gradient, as a layer's backward receives it. Leaves
        ACCUMULATE (add to an existing .grad): call zero_grad() between steps. With retain_grad=True
        every intermediate node keeps its gradient too (explain --autograd prints them).
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not depend on any tensor with requires_grad=True "
                               "(or it was computed under no_grad())")
        if grad is None:
            if self.shape != (1, 1):
                raise ValueError(f"backward() without a gradient needs a 1x1 result (a loss), got shape "
                                 f"{self.shape}; pass the upstream gradient: backward(grad)")
            grad = Matrix.from_rows([[1.0]], 1)
        elif not isinstance(grad, Matrix) or grad.shape != self.shape:
            raise ValueError(f"backward(grad): grad must be a Matrix of shape {self.shape}, got "
                             f"{getattr(grad, 'shape', type(grad).__name__)}")
        order = self.topological_order()
        # A leaf switched to requires_grad=False after the forward pass is pruned here: a node needs
        # a gradient only while some parent does (parents come first in `order`).
        for node in order:
            if node._backward is not None:
                node.requires_grad = any(parent.requires_grad for parent in node.parents)
        if not self.requires_grad:
            return
        pending = {id(self): grad}  # dL/d(node) summed so far, for nodes not yet visited
        for node in reversed(order):
            node_grad = pending.pop(id(node), None)
            if node_grad is None:
                continue
            if node._backward is None:  # a leaf: keep what earlier backward calls left
                node.grad = node_grad if node.grad is None else node.grad + node_grad
                continue
            if retain_grad:
                node.grad = node_grad
            for parent, parent_grad in zip(node.parents, node._backward(node_grad)):
                if parent_grad is not None:
                    key = id(parent)
                    # a parent used twice (b = a + a) receives one contribution per use: add them
                    pending[key] = parent_grad if key not in pending else pending[key] + parent_grad

    # ---------------------------------------------------- elementwise, binary
    def _binary(self, other, op, symbol, backward_rule, rule, reflected=False):
        other = as_tensor(other)
        if other is None:
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        data = _broadcast(op, a.data, b.data, symbol)
        return Tensor.from_op(data, (a, b), backward_rule(a, b, data), symbol, rule)

    def __add__(self, other, reflected=False):
        """Y = A + B.      dA = dY      dB = dY      (each reduced to its operand's shape)"""
        def rule(a, b, y):
            def backward(grad):
                return (_reduce_to(grad, a.shape) if a.requires_grad else None,
                        _reduce_to(grad, b.shape) if b.requires_grad else None)
            return backward
        return self._binary(other, _add, "+", rule, "dA = dY,  dB = dY", reflected)

    def __sub__(self, other, reflected=False):
        """Y = A - B.      dA = dY      dB = -dY"""
        def rule(a, b, y):
            def backward(grad):
                return (_reduce_to(grad, a.shape) if a.requires_grad else None,
                        _reduce_to(-grad, b.shape) if b.requires_grad else None)
            return backward
        return self._binary(other, _sub, "-", rule, "dA = dY,  dB = -dY", reflected)

    def __mul__(self, other, reflected=False):
        """Y = A * B entry by entry (not the matrix product).      dA = dY * B      dB = dY * A"""
        def rule(a, b, y):
            def backward(grad):
                return (_reduce_to(_broadcast(_mul, grad, b.data, "*"), a.shape) if a.requires_grad else None,
                        _reduce_to(_broadcast(_mul, grad, a.data, "*"), b.shape) if b.requires_grad else None)
            return backward
        return self._binary(other, _mul, "*", rule, "dA = dY * B,  dB = dY * A", reflected)

    def __truediv__(self, other, reflected=False):
        """Y = A / B.      dA = dY / B      dB = -dY * A / B^2 = -(dY / B) * Y"""
        def rule(a, b, y):
            def backward(grad):
                over_b = _broadcast(_div, grad, b.data, "/")
                return (_reduce_to(over_b, a.shape) if a.requires_grad else None,
                        _reduce_to(-_broadcast(_mul, over_b, y, "*"), b.shape) if b.requires_grad else None)
            return backward
        return self._binary(other, _div, "/", rule, "dA = dY / B,  dB = -(dY / B) * Y", reflected)

    def __radd__(self, other):
        return self.__add__(other, reflected=True)

    def __rsub__(self, other):
        return self.__sub__(other, reflected=True)

    def __rmul__(self, other):
        return self.__mul__(other, reflected=True)

    def __rtruediv__(self, other):
        return self.__truediv__(other, reflected=True)

    # ----------------------------------------------------------- the product
    def __matmul__(self, other, reflected=False):
        """Y = A @ B: (n, k) @ (k, m) -> (n, m).      dA = dY @ B.T  (n, m) @ (m, k)      dB = A.T @ dY"""
        other = as_tensor(other)
        if other is None:
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)

        def backward(grad):
            return (grad @ b.data.T if a.requires_grad else None,
                    a.data.T @ grad if b.requires_grad else None)
        return Tensor.from_op(a.data @ b.data, (a, b), backward, "@", "dA = dY @ B.T,  dB = A.T @ dY")

    def __rmatmul__(self, other):
        return self.__matmul__(other, reflected=True)

    @property
    def T(self):
        """Y = A.T: (n, m) -> (m, n).      dA = dY.T"""
        def backward(grad):
            return (grad.T,)
        return Tensor.from_op(self.data.T, (self,), backward, "T", "dA = dY.T")

    # ---------------------------------------------------- elementwise, unary
    def _unary(self, data, local, op, rule):
        """A node whose backward is dA = dY * local(A, Y), entry by entry; `local(x, y)` is
        the derivative of the operation at input x with output y."""
        def backward(grad):
            return (Matrix.combine(local, self.data, data, grad),)
        return Tensor.from_op(data, (self,), backward, op, rule)

    def __neg__(self):
        """Y = -A.      dA = -dY"""
        def backward(grad):
            return (-grad,)
        return Tensor.from_op(-self.data, (self,), backward, "neg", "dA = -dY")

    def __pow__(self, exponent):
        """Y = A ** p for a number p.      dA = dY * p * A^(p-1)"""
        if isinstance(exponent, bool) or not isinstance(exponent, (int, float)):
            return NotImplemented
        p = float(exponent)
        data = _checked_map(lambda x: math.pow(x, p), self.data, f"A ** {exponent}")
        if p == 2.0:  # the common square, without calling pow per entry
            return self._unary(data, lambda x, y, g: g * 2.0 * x, "** 2", "dA = dY * 2 * A")
        return self._unary(data, lambda x, y, g: g * p * math.pow(x, p - 1.0), f"** {exponent:g}",
                           f"dA = dY * {exponent:g} * A^{p - 1.0:g}")

    pow = __pow__

    def exp(self):
        """Y = e^A.      dA = dY * Y"""
        data = _checked_map(_exp, self.data, "exp")
        return self._unary(data, lambda x, y, g: g * y, "exp", "dA = dY * Y")

    def log(self):
        """Y = log A (natural logarithm, A > 0).      dA = dY / A"""
        data = _checked_map(_log, self.data, "log")
        return self._unary(data, lambda x, y, g: g / x, "log", "dA = dY / A")

    def tanh(self):
        """Y = tanh A.      dA = dY * (1 - Y^2)"""
        return self._unary(self.data.map(math.tanh), lambda x, y, g: g * (1.0 - y * y), "tanh",
                           "dA = dY * (1 - Y^2)")

    def sigmoid(self):
        """Y = 1 / (1 + e^-A), computed without overflow.      dA = dY * Y * (1 - Y)"""
        return self._unary(self.data.map(sigmoid), lambda x, y, g: g * y * (1.0 - y), "sigmoid",
                           "dA = dY * Y * (1 - Y)")

    def relu(self):
        """Y = max(0, A).      dA = dY where A > 0, else 0 (0 at A = 0, as PyTorch)"""
        rows = self.data.rows
        data = Matrix.from_rows([[x if x > 0.0 else 0.0 for x in row] for row in rows], self.shape[1])

        def backward(grad):  # Y > 0 exactly where A > 0: the output is the mask
            return (Matrix.from_rows([[g if y > 0.0 else 0.0 for g, y in zip(grow, yrow)]
                                  for grow, yrow in zip(grad.rows, data.rows)], grad.shape[1]),)
        return Tensor.from_op(data, (self,), backward, "relu", "dA = dY where A > 0, else 0")

    def softplus(self):
        """Y = log(1 + e^A) = max(A, 0) + log(1 + e^-|A|) (never overflows).      dA = dY * sigmoid(A)"""
        data = self.data.map(lambda x: (x if x > 0.0 else 0.0) + math.log1p(_exp(-abs(x))))
        return self._unary(data, lambda x, y, g: g * sigmoid(x), "softplus", "dA = dY * sigmoid(A)")

    def leaky_relu(self, alpha=0.01):
        """Y = A where A > 0, else alpha * A; built from relu: relu(A) - alpha * relu(-A)."""
        return self.relu() - (-self).relu() * alpha

    # ------------------------------------------------------- row by row
    def softmax(self):
        """Y = softmax of each row: Y_ij = e^A_ij / sum_k e^A_ik.
        dA = Y * (dY - sum_j dY_j Y_j), row by row (a Jacobian-vector product)"""
        data = softmax_rows(self.data)

        def backward(grad):
            out = []
            for grow, yrow in zip(grad.rows, data.rows):
                dot = sum(map(_mul, grow, yrow))
                out.append([y * (g - dot) for g, y in zip(grow, yrow)])
            return (Matrix.from_rows(out, grad.shape[1]),)
        return Tensor.from_op(data, (self,), backward, "softmax", "dA = Y * (dY - rowsum(dY * Y))")

    def log_softmax(self):
        """Y = A - logsumexp of each row, logsumexp(a) = m + log sum_k e^(a_k - m), m = max(a).
        dA = dY - softmax(A) * sum_j dY_j, row by row (softmax(A) = e^Y)"""
        out = []
        for row in self.data.rows:
            top = max(row)
            log_sum = top + _log(sum([_exp(v - top) for v in row]))
            out.append([v - log_sum for v in row])
        data = Matrix.from_rows(out, self.shape[1])

        def backward(grad):
            result = []
            for grow, yrow in zip(grad.rows, data.rows):
                total = sum(grow)
                result.append([g - _exp(y) * total for g, y in zip(grow, yrow)])
            return (Matrix.from_rows(result, grad.shape[1]),)
        return Tensor.from_op(data, (self,), backward, "log_softmax", "dA = dY - softmax(A) * rowsum(dY)")

    # -------------------------------------------------------- reductions
    def sum(self, axis=None):
        """Sum of all entries (axis=None, a 1x1 tensor), of each column (axis=0, (1, c)) or of each row
        (axis=1, (n, 1)). Every entry contributes with weight 1, so dA is dY copied back to every
        entry it summed: dA_ij = dY (all), dY_j (columns) or dY_i (rows)."""
        n, c = self.shape
        if axis is None:
            data = Matrix.from_rows([[self.data.sum()]], 1)

            def backward(grad):
                return (Matrix.from_rows([[grad.rows[0][0]] * c for _ in range(n)], c),)
        elif axis == 0:
            data = self.data.sum(axis=0)

            def backward(grad):
                return (Matrix.from_rows([list(grad.rows[0]) for _ in range(n)], c),)
        elif axis == 1:
            data = self.data.sum(axis=1)

            def backward(grad):
                return (Matrix.from_rows([[row[0]] * c for row in grad.rows], c),)
        else:
            raise ValueError(f"axis must be None, 0 or 1, got {axis!r}")
        return Tensor.from_op(data, (self,), backward, "sum" if axis is None else f"sum(axis={axis})",
                           "dA = dY copied to every entry summed")

    def mean(self, axis=None):
        """The sum divided by the number of entries summed; built from sum and /."""
        n, c = self.shape
        return self.sum(axis) / (n * c if axis is None else n if axis == 0 else c)

    # --------------------------------------------------------- drawing
    def to_dot(self, path=None):
        """The graph that computed this tensor in Graphviz's DOT language (`dot -Tsvg graph.dot`):
        one box per tensor with its name, operation and shape (and its gradient's norm when known),
        an arrow from each input to the result. Constants are dashed. Written to `path` if given."""
        nodes = _sorted_graph(self, gradients_only=False)
        number = {id(node): index for index, node in enumerate(nodes)}
        lines = ["digraph autograd {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
        for node in nodes:
            label = [node.name] if node.name else []
            label += [node.op, f"{node.shape[0]}x{node.shape[1]}"]
            if node.grad is not None:
                norm = math.sqrt(math.fsum(g * g for row in node.grad.rows for g in row))
                label.append(f"|grad| {norm:.4g}")
            text = "\\n".join(part.replace("\\", "\\\\").replace('"', '\\"') for part in label)
            style = "" if node.requires_grad else ", style=dashed"
            lines.append(f'  n{number[id(node)]} [label="{text}"{style}];')
        for node in nodes:
            for parent in node.parents:
                lines.append(f"  n{number[id(parent)]} -> n{number[id(node)]};")
        lines.append("}")
        text = "\n".join(lines) + "\n"
        if path is not None:
            write_atomic(path, text)
        return text


def as_tensor(value):
    """A Tensor as it is; a Matrix or a number as a constant Tensor (no gradient); anything else None."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, Matrix):
        return Tensor(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Tensor(Matrix.from_rows([[float(value)]], 1))
    return None


def _sorted_graph(root, gradients_only):
    """The nodes root depends on (operations and the leaves requiring a gradient, or constants too), root last,
    each after all its parents. An explicit stack replaces recursion, so a graph of any depth
    can be sorted: a node is pushed once to be expanded and once more, below its parents, to be
    emitted when they are done; only its first visit expands it, so a shared node appears once."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((parent, False) for parent in reversed(node.parents)  # the first input first
                         if id(parent) not in seen
                         and (not gradients_only or parent.requires_grad or parent._backward is not None))
    return order
