"""The loops of matrix.py, in two shapes: one for CPython, one for PyPy.

Everything Matrix spends its time on is here, as functions of plain lists of
rows, so that matrix.py reads as the mathematics and this file as the speed:

    product(L, R)            the rows of L @ R
    transpose(rows)          the rows of the transpose
    column_sums(rows)        [sum of each column]
    combine(fn, groups)      new rows: fn of the entries of several equal-shaped row lists
    update(fn, rows, others) rows[i][j] = fn(rows[i][j], others...[i][j]), in place
    scale_add(rows, a, other, b)  rows[i][j] = a * rows[i][j] + b * other[i][j], in place

Two sets, chosen once at import by the interpreter (KERNEL, "builtins" or
"loops"; matrix.py binds the chosen set):
  * "builtins", for CPython: an interpreter runs bytecode about fifty times
    slower than the same loop inside a C builtin, so the inner loops are handed
    to builtins: sum(map(mul, row, column)) or math.sumprod for a dot product,
    zip(*rows) for a transpose, map(fn, row_a, row_b) for an elementwise step.
  * "loops", for PyPy: its JIT compiles plain Python loops to machine code and
    sees through them, while a builtin such as map() calling a lambda is a
    barrier it cannot optimize across (map with a lambda runs about nine times
    slower there than the same loop written out). So the loops are written
    out, indexing lists by position, and the product accumulates rows of R
    (the "axpy" form) instead of taking dot products.
Both sets give the same results (the same bits before Python 3.12, whose
sum() and sumprod round differently); tests/test_matrix_kernels.py runs both
on every interpreter, and bench/pypy.py times each on both.
"""

import math
import operator
import sys
from itertools import compress

# ================================================================ "builtins": CPython
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


def _transpose_builtins(rows):
    """Rows of the transpose: zip(*rows) regroups the columns in C."""
    return list(map(list, zip(*rows)))


def _column_sums_builtins(rows):
    """[sum of column j for each j], each column summed by sum() in C."""
    return list(map(sum, zip(*rows)))


def _combine_builtins(fn, groups):
    """[[fn(a, b, ...) entry by entry] for each row], with map() calling fn from C."""
    if len(groups) == 1:
        return [list(map(fn, a)) for a in groups[0]]
    if len(groups) == 2:  # the common case, without a tuple of rows per row
        return [list(map(fn, a, b)) for a, b in zip(*groups)]
    return [list(map(fn, *row_group)) for row_group in zip(*groups)]


def _update_builtins(fn, rows, others):
    """rows[i][j] = fn(rows[i][j], others[0][i][j], ...), each row refilled in place."""
    if not others:
        for row in rows:
            row[:] = map(fn, row)
    elif len(others) == 1:
        for row, b in zip(rows, others[0]):
            row[:] = map(fn, row, b)
    else:
        for row, *rest in zip(rows, *others):
            row[:] = map(fn, row, *rest)


def _scale_add_builtins(rows, alpha, other_rows, beta):
    """rows[i][j] = alpha * rows[i][j] + beta * other_rows[i][j], each row refilled in place by a
    comprehension: the formula runs inline, where update_ would call a Python function per entry
    (a third of the time of so short a formula). A factor 1.0 is left out (exact either way):
    one float object less per entry, which is a fifth of the time here."""
    if beta == 1.0:  # a moving average b = mu * b + g
        for row, other in zip(rows, other_rows):
            row[:] = [alpha * a + b for a, b in zip(row, other)]
    elif alpha == 1.0:  # a step p = p - lr * g
        for row, other in zip(rows, other_rows):
            row[:] = [a + beta * b for a, b in zip(row, other)]
    else:
        for row, other in zip(rows, other_rows):
            row[:] = [alpha * a + beta * b for a, b in zip(row, other)]


# ================================================================ "loops": PyPy

def _product_loops(left_rows, right_rows):
    """The rows of L @ R, as plain loops that PyPy's JIT compiles.

    Row i of the result accumulates the rows of R, each scaled by an entry of
    row i of L (the "axpy" form, row_i += L[i][t] * R[t]):
        C[i][j] = (((0 + L[i][t0] R[t0][j]) + L[i][t1] R[t1][j]) + ...)
    over the t where L[i][t] is not 0.0, four rows of R per pass over C[i],
    so each entry of C[i] is loaded and stored once per four terms. The terms
    are added in the order of t, exactly as sum(map(mul, row, column)) adds
    them: before Python 3.12 both kernels give the same bits.
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


def _transpose_loops(rows):
    """Rows of the transpose, column j gathered by position."""
    return [[row[j] for row in rows] for j in range(len(rows[0]))]


def _column_sums_loops(rows):
    """[sum of column j for each j], the rows added into one accumulator, in row order."""
    columns = range(len(rows[0]))
    acc = [0.0] * len(rows[0])
    for row in rows:
        for j in columns:
            acc[j] += row[j]
    return acc


def _combine_loops(fn, groups):
    """[[fn(a[j], b[j], ...) for each j] for each row], the loop written out for the JIT."""
    columns = range(len(groups[0][0]))
    if len(groups) == 1:
        return [[fn(a[j]) for j in columns] for a in groups[0]]
    if len(groups) == 2:
        return [[fn(a[j], b[j]) for j in columns] for a, b in zip(*groups)]
    if len(groups) == 3:
        return [[fn(a[j], b[j], c[j]) for j in columns] for a, b, c in zip(*groups)]
    return [[fn(*[row[j] for row in row_group]) for j in columns] for row_group in zip(*groups)]


def _update_loops(fn, rows, others):
    """rows[i][j] = fn(rows[i][j], others[0][i][j], ...), entry by entry, in place."""
    columns = range(len(rows[0]))
    if not others:
        for a in rows:
            for j in columns:
                a[j] = fn(a[j])
    elif len(others) == 1:
        for a, b in zip(rows, others[0]):
            for j in columns:
                a[j] = fn(a[j], b[j])
    elif len(others) == 2:
        for a, b, c in zip(rows, *others):
            for j in columns:
                a[j] = fn(a[j], b[j], c[j])
    else:
        for a, *rest in zip(rows, *others):
            for j in columns:
                a[j] = fn(a[j], *[row[j] for row in rest])


def _scale_add_loops(rows, alpha, other_rows, beta):
    """rows[i][j] = alpha * rows[i][j] + beta * other_rows[i][j], entry by entry, in place."""
    columns = range(len(rows[0]))
    for a, b in zip(rows, other_rows):
        for j in columns:
            a[j] = alpha * a[j] + beta * b[j]


# ================================================================ the choice

KERNELS = {
    "builtins": {"product": _product_builtins, "transpose": _transpose_builtins,
                 "column_sums": _column_sums_builtins, "combine": _combine_builtins, "update": _update_builtins,
                 "scale_add": _scale_add_builtins},
    "loops": {"product": _product_loops, "transpose": _transpose_loops,
              "column_sums": _column_sums_loops, "combine": _combine_loops, "update": _update_loops,
              "scale_add": _scale_add_loops},
}
KERNEL = "loops" if sys.implementation.name == "pypy" else "builtins"
