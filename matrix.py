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
    in place     A.update_(fn, B, ...), the one operation that changes its
                 matrix: optimizers update parameters and their state with it

Speed. CPython runs a loop written in Python about fifty times slower than the
same loop inside a builtin, so every kernel here is shaped to push its inner
loop into C:
  * the product transposes the right operand once, so that each entry of the
    result is a dot product of two Python lists, computed by `math.sumprod`
    (Python 3.12+) or by `sum(map(operator.mul, row, column))` before that;
  * a row of the left operand that is mostly exact zeros (ReLU outputs, blank
    pixels) is multiplied by its nonzero entries only, when that pays;
  * elementwise operations are `list(map(operator.add, row_a, row_b))`, which
    never executes a Python-level statement per element;
  * results are built by `Matrix.from_rows`, which trusts its rows and skips
    the validation that `Matrix(rows)` does for user data;
  * combine and update_ hand a function to map() over whole rows; a layer
    whose backward is on the hot path writes the same formula as a list
    comprehension over .rows, which spares CPython a function call per entry.
`bench/run.py` measures each of these choices.
"""

import math
import operator
import sys
from itertools import compress

# ------------------------------------------------------------------ kernels
# A product spends all its time in its innermost loop, a dot product of
# length k. CPython runs that loop about fifty times faster inside a C builtin
# than as bytecode, so each product hands whole rows to a builtin:
#   Python 3.12+   math.sumprod(row, column): one C loop, no float object per term
#   before 3.12    sum(map(operator.mul, row, column)): map multiplies, sum adds, both in C
# _dots is the loop over the columns for one row of the result; the 3.11
# version spells out sum(map(...)) inside it instead of calling a helper per
# entry, which would add a Python call to every one of the n * m dot products.
# bench/kernel_variants.py times every other spelling tried (all slower).

if hasattr(math, "sumprod"):  # Python 3.12+
    _sumprod = math.sumprod

    def _dots(row, columns):
        """[dot(row, column) for column in columns], each by math.sumprod."""
        return [_sumprod(row, column) for column in columns]

    # Skipping a row's zeros (see _product) pays when its share of zeros is
    # above SKIP_BASE + SKIP_PER_COLUMN / m, m the columns of the result
    # (`python bench/run.py --zeros` measures it): about 0.42 for m = 64,
    # 0.47 for m = 32, 0.68 for m = 10. Below SKIP_MIN_COLUMNS columns, counting
    # the zeros (about one dot product per row) costs more than skipping saves.
    _SKIP_BASE, _SKIP_PER_COLUMN, _SKIP_MIN_COLUMNS = 0.37, 3.1, 16
else:  # Python 3.9 - 3.11
    _mul = operator.mul

    def _dots(row, columns):
        """[dot(row, column) for column in columns], each by sum(map(mul, row, column))."""
        return [sum(map(_mul, row, column)) for column in columns]

    # sum(map(mul)) makes a float object per term, so each skipped term saves
    # more than with sumprod: skipping pays from about 0.22 zeros for m = 64,
    # 0.35 for m = 10, and counting costs a third of a dot product per row.
    _SKIP_BASE, _SKIP_PER_COLUMN, _SKIP_MIN_COLUMNS = 0.2, 1.5, 8


def _product_builtins(left_rows, right_rows):
    """The rows of L @ R for L and R given as lists of rows of floats (CPython's kernel).

    R is transposed once, so that every entry is dot(row of L, column of R).
    A row of L that is mostly exact zeros (ReLU outputs, blank pixels) is
    multiplied by its nonzero entries only: itertools.compress keeps the rows
    of R that face a nonzero entry, zip(*...) turns them into shortened
    columns, and the dot products run over the nonzero values alone. Adding
    0.0 never changes a sum, so the entries are the same, bit for bit (but a
    0 * inf term is skipped instead of giving nan). Building the short columns
    costs about as much per kept term as a skipped term saves on 3.12+, so a
    row goes this way only when its share of zeros is past the break-even point
    above. Dense data (weights, gradients, most features) has no exact zeros at
    all: when the first row has none, no row is counted.
    """
    columns = list(zip(*right_rows))
    m = len(columns)
    if m < _SKIP_MIN_COLUMNS or 0.0 not in left_rows[0]:
        return [_dots(row, columns) for row in left_rows]
    zero_limit = len(right_rows) * (_SKIP_BASE + _SKIP_PER_COLUMN / m)
    result = []
    for row in left_rows:
        if row.count(0.0) <= zero_limit:
            result.append(_dots(row, columns))
            continue
        values = list(filter(None, row))  # the nonzero entries, in order
        if values:
            result.append(_dots(values, zip(*compress(right_rows, row))))
        else:
            result.append([0.0] * m)
    return result


def _product_loops(left_rows, right_rows):
    """The rows of L @ R, as plain loops that PyPy's JIT compiles (PyPy's kernel).

    Row i of the result accumulates the rows of R, each scaled by an entry of
    row i of L (the "axpy" form, row_i += L[i][t] * R[t]):
        C[i][j] = (((0 + L[i][t0] R[t0][j]) + L[i][t1] R[t1][j]) + ...)
    over the t where L[i][t] is not 0.0, four rows of R per pass over C[i],
    so each entry of C[i] is loaded and stored once per four terms. The terms
    are added in the order of t, exactly as sum(map(mul, row, column)) adds
    them: on CPython before 3.12 both kernels give the same bits.
    """
    m = len(right_rows[0])
    columns = range(m)
    result = []
    for row in left_rows:
        acc = [0.0] * m
        nonzero = [t for t, x in enumerate(row) if x != 0.0]  # exact zeros add nothing
        count, q = len(nonzero), 0
        while q + 3 < count:
            t0, t1, t2, t3 = nonzero[q], nonzero[q + 1], nonzero[q + 2], nonzero[q + 3]
            x0, x1, x2, x3 = row[t0], row[t1], row[t2], row[t3]
            r0, r1, r2, r3 = right_rows[t0], right_rows[t1], right_rows[t2], right_rows[t3]
            for j in columns:
                acc[j] = (((acc[j] + x0 * r0[j]) + x1 * r1[j]) + x2 * r2[j]) + x3 * r3[j]
            q += 4
        while q < count:
            t = nonzero[q]
            x, r = row[t], right_rows[t]
            for j in columns:
                acc[j] += x * r[j]
            q += 1
        result.append(acc)
    return result


# Which product kernel this interpreter runs, chosen once at import. The best
# shape depends on who runs the inner loop: CPython interprets bytecode, so
# its kernel hands whole rows to builtins written in C (sum, map, sumprod);
# PyPy compiles plain loops to machine code, and there the row-accumulating
# loops are about four times faster than sum(map(mul)) (`bench/run.py`, and
# `bench/pypy.py` for both interpreters side by side). Both kernels work on
# every interpreter, and the tests run both.
KERNELS = {"builtins": _product_builtins, "loops": _product_loops}
KERNEL = "loops" if sys.implementation.name == "pypy" else "builtins"
_product = KERNELS[KERNEL]

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

    # the name from_rows had before it was public; kept for code written against it
    _wrap = from_rows

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
        return Matrix.from_rows(list(map(list, zip(*self.rows))), self.shape[0])

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
        rows = _same_shape_rows(first, others, "combine")
        if len(rows) == 2:  # the common case, without building a tuple of rows per row
            return Matrix.from_rows([list(map(fn, a, b)) for a, b in zip(*rows)], first.shape[1])
        return Matrix.from_rows([list(map(fn, *row_group)) for row_group in zip(*rows)], first.shape[1])

    # --------------------------------------------------------------- in place
    def update_(self, fn, *others):
        """IN PLACE: replace every entry a of this matrix by fn(a, b, ...), and return it.

            M.update_(fn, B, C):   M[i][j] <- fn(M[i][j], B[i][j], C[i][j])

        The one operation that changes its matrix (the trailing _ says so, as
        in PyTorch): an optimizer updates its parameters and its state with it,
        e.g. p.update_(lambda p, g: p - lr * g, grad). Everything that holds
        this Matrix sees the new values; every other operation returns a new one.
        The right-hand side is computed in full before any entry changes, so fn
        may read this matrix's old entries through `others` as well.
        """
        rows = _same_shape_rows(self, others, "update_")
        if len(rows) == 1:
            new_rows = [list(map(fn, a)) for a in rows[0]]
        elif len(rows) == 2:
            new_rows = [list(map(fn, a, b)) for a, b in zip(*rows)]
        else:
            new_rows = [list(map(fn, *row_group)) for row_group in zip(*rows)]
        # the list of rows keeps its identity, its row lists are new: a matrix made
        # from this one by take() or a row slice keeps the old values
        self.rows[:] = new_rows
        return self

    # --------------------------------------------------------------- reductions
    def sum(self, axis=None):
        """Sum of all entries (axis=None, a float), of each column (axis=0, a
        (1, c) row) or of each row (axis=1, an (n, 1) column)."""
        if axis is None:
            return math.fsum(map(math.fsum, self.rows))
        if axis == 0:
            return Matrix.from_rows([list(map(sum, zip(*self.rows)))], self.shape[1])
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
