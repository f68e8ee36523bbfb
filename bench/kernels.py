"""Hand-written pure-Python matrix products: the bar that Matrix @ is measured against.

Each takes A (n, k) and B (k, m) as lists of rows of floats (the transposed forms say
how theirs are stored) and returns C = A @ B, (n, m), as a new list of lists:
C[i][j] = sum over p of A[i][p] * B[p][j].

    matmul_naive        the textbook triple loop, every step in bytecode
    matmul_best         fastest dense kernel: transpose B once, dot products in C
    matmul_sparse_left  skips zero entries of A; wins when A is mostly zeros
    matmul_skip_zeros   each row of A dense or sparse, whichever pays (Matrix @'s rule)
    matmul_transposed_a, matmul_transposed_b   A.T @ B and A @ B.T, the gradient products

Why the fast kernels are shaped this way: a CPython bytecode step costs tens
of nanoseconds, so the product is fast only when the innermost loop (length k)
runs inside a builtin written in C. Transposing B once with zip(*b) (cheap,
also in C) turns each C[i][j] into the dot product of two rows, which
math.sumprod (3.12+) or sum(map(operator.mul, row, column)) computes without
returning to the interpreter. math.sumprod is about 2x faster again than
sum(map(mul, ...)) because it makes no float object per product.

Measured with `python bench/kernel_variants.py` (all variants, interleaved,
median of 7) on AMD EPYC, 2 cores, 128x128 @ 128x128, ms (speed-up over naive):

    variant                            3.9.18       3.11.7       3.12.1       3.13.0
    matmul_naive (triple loop)      164.9 (1.00)  91.4 (1.00)  86.6 (1.00)  87.7 (1.00)
    sum(map(mul, row, column))       55.1 (2.99)  46.5 (1.97)  69.9 (1.24)  69.9 (1.25)
      ... with names bound locally   54.3 (3.04)  46.7 (1.96)  69.6 (1.24)  68.5 (1.28)
      ... inner loop as nested map   54.5 (3.03)  47.4 (1.93)  72.5 (1.19)  69.3 (1.27)
    sum([x * y for x, y in zip])     93.9 (1.76)  79.9 (1.14) 100.7 (0.86) 103.2 (0.85)
    math.fsum(map(mul, ...))         99.5 (1.66)  97.4 (0.94)  92.4 (0.94)  95.8 (0.92)
    reduce(add, map(mul, ...))       90.1 (1.83)  85.9 (1.06) 119.9 (0.72) 122.2 (0.72)
    math.sumprod(row, column)            -            -        22.4 (3.87)  22.7 (3.87)
    map(sumprod, repeat(row), ...)       -            -        22.5 (3.86)  22.6 (3.89)

matmul_best uses sum(map(mul, ...)) before 3.12 and sumprod from 3.12 on,
both in a list comprehension (the plainest of the equally fast spellings).

Notes on the table. Binding builtins to locals and pushing the per-element
loop into nested map() calls change nothing measurable: the time is in the
length-k loop, which is already in C. Since 3.12, sum() of floats uses
compensated (Neumaier) summation, so sum(map(mul, ...)) got slower there just
as sumprod arrived. fsum is exact but slower; reduce calls operator.add
through the generic call path for every element.
"""
import math
from itertools import compress
from operator import mul


def _check_shapes(a, b):
    if a and b and len(a[0]) != len(b):
        raise ValueError("cannot multiply ({}, {}) by ({}, {}): A's columns must equal B's rows".format(
            len(a), len(a[0]), len(b), len(b[0])))


def matmul_naive(a, b):
    """The obvious triple loop over indices, accumulating each entry in a local."""
    _check_shapes(a, b)
    n, k, m = len(a), len(b), len(b[0])
    result = []
    for i in range(n):
        a_row = a[i]
        result_row = []
        for j in range(m):
            total = 0.0
            for p in range(k):
                total += a_row[p] * b[p][j]
            result_row.append(total)
        result.append(result_row)
    return result


if hasattr(math, "sumprod"):  # Python 3.12+

    def row_dot_columns(row, columns):
        """[dot(row, column) for column in columns], the length-k loop inside math.sumprod."""
        sumprod = math.sumprod
        return [sumprod(row, column) for column in columns]

else:

    def row_dot_columns(row, columns):
        """[dot(row, column) for column in columns]: map makes the products, sum adds them, both in C."""
        return [sum(map(mul, row, column)) for column in columns]


# When skipping the zeros of a row of A pays: its share of zeros must be above
# SKIP_BASE + SKIP_PER_COLUMN / m (m = columns of B), and m at least
# SKIP_MIN_COLUMNS, below which counting the zeros costs more than skipping
# saves. The same numbers as matrix.py (bench/check_kernels.py checks that they
# agree); `python bench/run.py --zeros` measures the break-even points.
if hasattr(math, "sumprod"):
    SKIP_BASE, SKIP_PER_COLUMN, SKIP_MIN_COLUMNS = 0.37, 3.1, 16
else:
    SKIP_BASE, SKIP_PER_COLUMN, SKIP_MIN_COLUMNS = 0.2, 1.5, 8


def matmul_best(a, b):
    """Fastest dense pure-Python kernel: C[i][j] = dot(A row i, B column j), B transposed once."""
    _check_shapes(a, b)
    columns = list(zip(*b))
    return [row_dot_columns(row, columns) for row in a]


def matmul_transposed_a(a, b):
    """A.T @ B for A (k, n) and B (k, m): the rows of A.T are A's columns, read once with zip."""
    if a and b and len(a) != len(b):
        raise ValueError("cannot multiply A.T @ B: A has {} rows, B {}".format(len(a), len(b)))
    columns = list(zip(*b))
    return [row_dot_columns(row, columns) for row in zip(*a)]


def matmul_transposed_b(a, b):
    """A @ B.T for A (n, k) and B (m, k): the columns of B.T are B's rows, so nothing is transposed."""
    if a and b and len(a[0]) != len(b[0]):
        raise ValueError("cannot multiply A @ B.T: rows of length {} and {}".format(len(a[0]), len(b[0])))
    return [row_dot_columns(row, b) for row in a]


def matmul_sparse_left(a, b):
    """A @ B computed from the nonzero entries of each row of A only.

    For each row of A, itertools.compress(b, row) keeps the rows of B facing
    a nonzero entry, zip(*...) turns them into shortened columns, and the dot
    products run over the nonzero values alone, all in C. The result equals
    A @ B except that 0 * inf and 0 * nan terms are skipped instead of giving nan.

    When it wins over matmul_best (bench/kernel_variants.py, random zeros in A,
    speed-up over matmul_best at 128x128):

        fraction of zeros in A     0.0   0.2   0.3   0.4   0.5   0.75  0.9
        3.9  and 3.11              0.83  1.00  1.12  1.32  1.52  2.80  5.6
        3.12 and 3.13              0.66  0.80  0.90  1.05  1.20  2.20  4.1

    So it pays from about 20% zeros before 3.12 and 40% from 3.12 on, where
    sumprod makes the dense kernel harder to beat. With a narrow B (m = 10,
    as for a 10-class output layer) the per-row cost of compress and zip
    weighs more: break-even near 35% zeros on 3.11 and 70% on 3.12.
    Tried and slower (kept in kernel_variants.py): the "axpy" form, C row i =
    sum of A[i][p] * B row p over nonzero A[i][p], which builds one list per
    term (0.5x dense, 1.0x at 50% zeros on 3.11; 0.25x / 0.5x on 3.12), and
    gathering B's columns with operator.itemgetter.
    The zeros must be exact 0.0 (ReLU outputs, blank pixels), not merely small.
    """
    _check_shapes(a, b)
    width = len(b[0]) if b else 0
    result = []
    for row in a:
        values = list(filter(None, row))  # the nonzero entries, in order
        if values:
            result.append(row_dot_columns(values, zip(*compress(b, row))))
        else:
            result.append([0.0] * width)
    return result



def matmul_skip_zeros(a, b, columns=None):
    """A @ B, each row of A dense or with its zeros skipped, whichever the rule above says is faster.

    The decision Matrix @ makes (matrix._product), written for raw lists:
    rows of A below the break-even share of zeros go through the dense kernel
    (matmul_best), the others through matmul_sparse_left's; when A's first row
    has no zero at all, A is taken to be dense and no row is counted. `columns`
    (B's columns, tuples) may be given when the caller has them already.
    """
    _check_shapes(a, b)
    if columns is None:
        columns = list(zip(*b))
    width = len(columns)
    if width < SKIP_MIN_COLUMNS or 0.0 not in a[0]:
        return [row_dot_columns(row, columns) for row in a]
    zero_limit = len(b) * (SKIP_BASE + SKIP_PER_COLUMN / width)
    result = []
    for row in a:
        if row.count(0.0) <= zero_limit:
            result.append(row_dot_columns(row, columns))
            continue
        values = list(filter(None, row))
        if values:
            result.append(row_dot_columns(values, zip(*compress(b, row))))
        else:
            result.append([0.0] * width)
    return result
