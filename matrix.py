"""A small dense matrix of Python floats: the only numeric type of the framework.

A `Matrix` is a list of rows, each row a list of floats. It knows nothing of
neural networks: it offers the handful of operations they are built from.

    primitives   A @ B, A.T, elementwise + - * / (with broadcasting of a scalar
                 or a (1, c) row), A.map(fn), Matrix.combine(fn, A, B, ...),
                 A.sum(axis), A.max(axis)
    built on them  mean, argmax, row selection, allclose
    construction   Matrix(rows) checks and copies data from outside;
                 Matrix.from_rows(rows, n_cols) wraps rows the library has just
                 computed, unchecked
    in place     A.update_(fn, B, ...) and A.scale_add_(a, B, b) (A = a A + b B),
                 the operations that change their matrix: optimizers update
                 parameters and their state with them

Speed. The loops themselves live in matrix_kernels.py, in two shapes chosen
at import by the interpreter (KERNEL): on CPython ("builtins") the inner loops
run inside C builtins (the product's dot products in sum(map(mul)) or
math.sumprod, with the zeros of sparse rows skipped; elementwise steps in
map()); on PyPy ("loops") they are plain loops, which its JIT compiles. Here:
  * elementwise operations are `list(map(operator.add, row_a, row_b))`, which
    never executes a Python-level statement per element on CPython;
  * results are built by `Matrix.from_rows`, which trusts its rows and skips
    the validation that `Matrix(rows)` does for user data;
  * combine and update_ call their function once per entry; on CPython that
    call costs tens of nanoseconds, so an activation on the hot path writes
    its formula as a list comprehension over .rows instead.
`bench/run.py` measures each of these choices.
"""

import math
import operator

import matrix_kernels

# The loops, in the shape that suits this interpreter (matrix_kernels.py):
# "builtins" on CPython, "loops" on PyPy, chosen once at import.
KERNEL = None
_product = _transpose = _column_sums = _combine = _update = _scale_add = None


def use_kernels(name):
    """Make Matrix run the kernel set `name` ("builtins" or "loops"); returns the previous name.

    For tests and benchmarks, which run both sets on one interpreter: the set
    chosen at import (matrix_kernels.KERNEL) is the faster one for it.
    """
    global KERNEL, _product, _transpose, _column_sums, _combine, _update, _scale_add
    if name not in matrix_kernels.KERNELS:
        raise ValueError(f"unknown kernel set {name!r}; valid: {', '.join(sorted(matrix_kernels.KERNELS))}")
    previous, KERNEL = KERNEL, name
    kernels = matrix_kernels.KERNELS[name]
    _product, _transpose, _column_sums = kernels["product"], kernels["transpose"], kernels["column_sums"]
    _combine, _update, _scale_add = kernels["combine"], kernels["update"], kernels["scale_add"]
    return previous


use_kernels(matrix_kernels.KERNEL)

_isfinite = math.isfinite


def _check_number(value, where):
    """Return `value` as a finite float, or raise ValueError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    value = float(value)
    if not _isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {value}")
    return value


class Matrix:
    """A 2-D array of floats stored as a list of rows.

    Matrix([[1, 2], [3, 4]]) has shape (2, 2); `m.rows[i][j]` is row i, column j.
    Operations never change their operands: each returns a new Matrix. The one
    exception says so in its name: update_ changes its matrix in place.
    """

    __slots__ = ("rows", "shape")

    def __init__(self, rows):
        """Build a matrix from a non-empty list of equal-length rows of finite numbers."""
        if isinstance(rows, Matrix):
            rows = rows.rows
        if not isinstance(rows, (list, tuple)) or not rows:
            raise ValueError(f"a Matrix needs a non-empty list of rows, got {rows!r:.60}")
        width = None
        checked = []
        for i, row in enumerate(rows):
            if not isinstance(row, (list, tuple)):
                raise ValueError(f"row {i}: expected a list of numbers, got {row!r:.60}")
            if width is None:
                width = len(row)
                if width == 0:
                    raise ValueError("row 0: a row needs at least one number")
            elif len(row) != width:
                raise ValueError(f"row {i}: has {len(row)} values, but row 0 has {width}")
            try:  # the fast path: every value already a finite number
                floats = [float(v) for v in row]
                if any(isinstance(v, (bool, str)) for v in row) or not all(map(_isfinite, floats)):
                    raise ValueError
            except (TypeError, ValueError):
                floats = [_check_number(v, f"row {i}, column {j}") for j, v in enumerate(row)]
            checked.append(floats)
        self.rows = checked
        self.shape = (len(checked), width)

    @classmethod
    def from_rows(cls, rows, n_cols=None):
        """A matrix around rows the library has just computed: NO copy and NO checks.

        `rows` must be a non-empty list of lists of floats, all of length n_cols
        (len(rows[0]) when n_cols is None); the matrix takes them over, so the
        caller must not change them afterwards. This is the constructor for the
        result of a computation (a layer's output, a gradient): Matrix(rows)
        checks and copies every value, which costs about as much as a dense
        layer's product, and is meant for data that comes from outside.
        """
        matrix = cls.__new__(cls)
        matrix.rows = rows
        matrix.shape = (len(rows), len(rows[0]) if n_cols is None else n_cols)
        return matrix

    # ------------------------------------------------------------ construction
    @classmethod
    def zeros(cls, n_rows, n_cols):
        """An (n_rows, n_cols) matrix of 0.0."""
        return cls.full(n_rows, n_cols, 0.0)

    @classmethod
    def full(cls, n_rows, n_cols, value):
        """An (n_rows, n_cols) matrix with every entry equal to `value`."""
        _check_shape(n_rows, n_cols)
        value = _check_number(value, "fill value")
        return cls.from_rows([[value] * n_cols for _ in range(n_rows)], n_cols)

    @classmethod
    def random(cls, n_rows, n_cols, rng, distribution="normal", scale=1.0):
        """Random entries drawn from `rng`, a random.Random, so runs are reproducible.

        distribution "normal": Gaussian with mean 0 and standard deviation `scale`;
        distribution "uniform": uniform on [-scale, scale].
        """
        _check_shape(n_rows, n_cols)
        if distribution == "normal":
            draw = lambda: rng.gauss(0.0, scale)  # noqa: E731
        elif distribution == "uniform":
            draw = lambda: rng.uniform(-scale, scale)  # noqa: E731
        else:
            raise ValueError(f"unknown distribution {distribution!r}; valid: normal, uniform")
        return cls.from_rows([[draw() for _ in range(n_cols)] for _ in range(n_rows)], n_cols)

    @classmethod
    def from_column(cls, values):
        """An (n, 1) column matrix from a flat list of numbers."""
        return cls([[v] for v in values])

    # --------------------------------------------------------------- inspection
    def tolist(self):
        """The entries as a new list of lists of floats."""
        return [row[:] for row in self.rows]

    def copy(self):
        """A new matrix with the same entries."""
        return Matrix.from_rows([row[:] for row in self.rows], self.shape[1])

    def __len__(self):
        return self.shape[0]

    def __iter__(self):
        return iter(self.rows)

    def __repr__(self):
        n_rows, n_cols = self.shape
        shown = self.rows if n_rows <= 6 else self.rows[:3] + [["..."]] + self.rows[-2:]
        lines = ", ".join(
            "[" + ", ".join(v if isinstance(v, str) else f"{v:.4g}" for v in row) + "]" for row in shown
        )
        return f"Matrix({n_rows}x{n_cols}: [{lines}])"

    def __eq__(self, other):
        return isinstance(other, Matrix) and self.rows == other.rows

    __hash__ = None  # mutable rows: not hashable

    # ----------------------------------------------------------- row selection
    def __getitem__(self, index):
        """M[i] is row i as a list; M[a:b] is a Matrix of those rows (for batching)."""
        if isinstance(index, slice):
            rows = self.rows[index]
            if not rows:
                raise ValueError(f"row slice {index} of a matrix of shape {self.shape} is empty")
            return Matrix.from_rows(rows, self.shape[1])
        return self.rows[index]

    def take(self, indices):
        """The rows at `indices`, in that order, as a new Matrix (rows are shared, not copied)."""
        rows = self.rows
        try:
            picked = [rows[i] for i in indices]
        except IndexError:
            raise ValueError(f"row index out of range for a matrix of shape {self.shape}") from None
        if not picked:
            raise ValueError("take() needs at least one row index")
        return Matrix.from_rows(picked, self.shape[1])

    # ------------------------------------------------------------------ product
    def __matmul__(self, other):
        """Matrix product: (n, k) @ (k, m) -> (n, m), C[i][j] = sum over t of A[i][t] * B[t][j].

        B is transposed once so each C[i][j] is the dot product of two lists
        (row i of A, column j of B), computed by a builtin in C; rows of A
        that are mostly exact zeros skip them (see _product).
        """
        if not isinstance(other, Matrix):
            return NotImplemented
        (n, k), (k2, m) = self.shape, other.shape
        if k != k2:
            raise ValueError(f"cannot multiply {self.shape} @ {other.shape}: {k} != {k2}")
        return Matrix.from_rows(_product(self.rows, other.rows), m)

    @property
    def T(self):
        """Transpose: (n, m) -> (m, n), T[j][i] = M[i][j]."""
        return Matrix.from_rows(_transpose(self.rows), self.shape[0])

    # -------------------------------------------------------------- elementwise
    def _elementwise(self, other, op, symbol):
        """Apply op(a, b) entry by entry. `other` may be a number, a matrix of the
        same shape, or a (1, c) row that is broadcast over every row (the bias add)."""
        rows = self.rows
        if isinstance(other, Matrix):
            if other.shape == self.shape:
                return Matrix.from_rows([list(map(op, a, b)) for a, b in zip(rows, other.rows)], self.shape[1])
            if other.shape == (1, self.shape[1]):
                brow = other.rows[0]
                return Matrix.from_rows([list(map(op, row, brow)) for row in rows], self.shape[1])
            raise ValueError(
                f"cannot apply {symbol} to shapes {self.shape} and {other.shape}: "
                f"need equal shapes or a (1, {self.shape[1]}) row"
            )
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            value = float(other)
            return Matrix.from_rows([[op(a, value) for a in row] for row in rows], self.shape[1])
        return NotImplemented

    def __add__(self, other):
        return self._elementwise(other, operator.add, "+")

    def __sub__(self, other):
        return self._elementwise(other, operator.sub, "-")

    def __mul__(self, other):
        """Elementwise (Hadamard) product, not the matrix product (that is @)."""
        return self._elementwise(other, operator.mul, "*")

    def __truediv__(self, other):
        return self._elementwise(other, operator.truediv, "/")

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other):
        return (-self) + other

    def __rtruediv__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            value = float(other)
            return Matrix.from_rows([[value / a for a in row] for row in self.rows], self.shape[1])
        return NotImplemented

    def __neg__(self):
        return Matrix.from_rows([[-a for a in row] for row in self.rows], self.shape[1])

    def map(self, fn):
        """Apply fn to every entry: M.map(math.exp)[i][j] == exp(M[i][j])."""
        return Matrix.from_rows([list(map(fn, row)) for row in self.rows], self.shape[1])

    @staticmethod
    def combine(fn, first, *others):
        """Entry by entry, fn of the entries of several matrices of one shape:

            Matrix.combine(fn, A, B, C)[i][j] == fn(A[i][j], B[i][j], C[i][j])

        e.g. Matrix.combine(lambda g, y: g * y * (1 - y), dY, Y) for a sigmoid's
        backward. The same as A.map(fn) for one matrix, and as A + B for fn = add.
        """
        return Matrix.from_rows(_combine(fn, _same_shape_rows(first, others, "combine")), first.shape[1])

    # --------------------------------------------------------------- in place
    def update_(self, fn, *others):
        """IN PLACE: replace every entry a of this matrix by fn(a, b, ...), and return it.

            M.update_(fn, B, C):   M[i][j] <- fn(M[i][j], B[i][j], C[i][j])

        The one operation that changes its matrix (the trailing _ says so, as
        in PyTorch): an optimizer updates its parameters and its state with it,
        e.g. p.update_(lambda p, g: p - lr * g, grad). Each row list is
        changed in place, so everything that holds this Matrix or one of its
        rows sees the new values; every other operation returns a new matrix.
        Entry (i, j) is computed from the entries (i, j) alone, so this matrix
        may itself be one of `others` (M.update_(mul, M) squares M); a matrix
        that holds M's rows at other positions (M.take([1, 0])) may not.
        """
        rows = _same_shape_rows(self, others, "update_")
        _update(fn, rows[0], rows[1:])
        return self

    def scale_add_(self, alpha, other, beta=1.0):
        """IN PLACE: M = alpha * M + beta * B, entry by entry; returns M.

        The shape of SGD's step (p = 1 * p + (-lr) * g) and of a moving average
        (b = mu * b + 1 * g, Adam's m = beta1 * m + (1 - beta1) * g), as
        torch's M.mul_(alpha).add_(B, alpha=beta), in one pass. It is
        M.update_(lambda m, b: alpha * m + beta * b, B) without a Python call
        per entry, which costs a third of so short a formula on CPython. Times
        1.0 and adding -x are exact, so scale_add_(1.0, g, -lr) gives p - lr * g
        to the bit.
        """
        rows = _same_shape_rows(self, (other,), "scale_add_")
        _scale_add(rows[0], float(alpha), rows[1], float(beta))
        return self

    # --------------------------------------------------------------- reductions
    def sum(self, axis=None):
        """Sum of all entries (axis=None, a float), of each column (axis=0, a
        (1, c) row) or of each row (axis=1, an (n, 1) column)."""
        if axis is None:
            return math.fsum(map(math.fsum, self.rows))
        if axis == 0:
            return Matrix.from_rows([_column_sums(self.rows)], self.shape[1])
        if axis == 1:
            return Matrix.from_rows([[sum(row)] for row in self.rows], 1)
        raise ValueError(f"axis must be None, 0 or 1, got {axis!r}")

    def mean(self, axis=None):
        """Mean of all entries, of each column (axis=0) or of each row (axis=1)."""
        n_rows, n_cols = self.shape
        if axis is None:
            return self.sum() / (n_rows * n_cols)
        return self.sum(axis) / (n_rows if axis == 0 else n_cols)

    def max(self, axis=None):
        """Largest entry overall (a float), of each column (axis=0) or of each row (axis=1)."""
        if axis is None:
            return max(map(max, self.rows))
        if axis == 0:
            return Matrix.from_rows([list(map(max, zip(*self.rows)))], self.shape[1])
        if axis == 1:
            return Matrix.from_rows([[max(row)] for row in self.rows], 1)
        raise ValueError(f"axis must be None, 0 or 1, got {axis!r}")

    def argmax(self, axis=1):
        """Index of the largest entry of each row (the first one on ties), as a list."""
        if axis != 1:
            raise ValueError(f"argmax supports axis=1 (per row) only, got {axis!r}")
        return [row.index(max(row)) for row in self.rows]

    # --------------------------------------------------------------- comparison
    def allclose(self, other, rtol=1e-5, atol=1e-8):
        """True when shapes match and |a - b| <= atol + rtol * |b| for every entry."""
        if not isinstance(other, Matrix):
            other = Matrix(other)
        if self.shape != other.shape:
            return False
        return all(
            abs(a - b) <= atol + rtol * abs(b)
            for row_a, row_b in zip(self.rows, other.rows)
            for a, b in zip(row_a, row_b)
        )


def _same_shape_rows(first, others, operation):
    """[first.rows, other.rows, ...], or ValueError when a shape differs from first's."""
    rows = [first.rows]
    for index, other in enumerate(others, 1):
        if not isinstance(other, Matrix):
            raise TypeError(f"{operation}: argument {index + 1} is a {type(other).__name__}, not a Matrix")
        if other.shape != first.shape:
            raise ValueError(f"{operation}: shapes differ: {first.shape} and {other.shape} (argument {index + 1})")
        rows.append(other.rows)
    return rows


def _check_shape(n_rows, n_cols):
    for name, size in (("rows", n_rows), ("columns", n_cols)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"number of {name} must be a positive integer, got {size!r}")
