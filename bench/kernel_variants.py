"""Every matrix-product kernel tried for bench/kernels.py, and a script that re-measures them.

    python bench/kernel_variants.py            # 128x128, dense, then sparse left operands
    python bench/kernel_variants.py 64         # another size

Each variant takes A (n, k) and B (k, m) as lists of rows of floats and
returns A @ B as a list of rows. The winners are copied into kernels.py with
the measured ratios; this file keeps the losers so that the claim "X is the
fastest" can be checked again on another machine or Python version.
"""
import functools
import math
import operator
import random
import sys
from itertools import compress, repeat
from operator import add, itemgetter, mul

import harness
import kernels

HAS_SUMPROD = hasattr(math, "sumprod")  # Python 3.12+


# ---------------------------------------------------------------- dot-product form
# Transpose B once, then C[i][j] = dot(A row i, B column j). The variants
# differ only in how the dot product of two rows is pushed into C.

def sum_map_mul(a, b):
    """sum(map(mul, row, column)): two C loops, one float object per product."""
    columns = list(zip(*b))
    return [[sum(map(mul, row, column)) for column in columns] for row in a]


def sum_map_mul_locals(a, b):
    """As sum_map_mul with sum, map and mul bound to locals (saves a global lookup each)."""
    columns = list(zip(*b))
    local_sum, local_map, local_mul = sum, map, mul
    return [[local_sum(local_map(local_mul, row, column)) for column in columns] for row in a]


def sum_map_mul_nested_map(a, b):
    """The inner list built by map(sum, map(map, repeat(mul), repeat(row), columns)): no bytecode per element."""
    columns = list(zip(*b))
    return [list(map(sum, map(map, repeat(mul), repeat(row), columns))) for row in a]


def sum_list_comprehension(a, b):
    """sum([x * y for x, y in zip(row, column)]): the products made in bytecode."""
    columns = list(zip(*b))
    return [[sum([x * y for x, y in zip(row, column)]) for column in columns] for row in a]


def fsum_map_mul(a, b):
    """math.fsum(map(mul, ...)): exactly rounded sum, paid for with speed."""
    columns = list(zip(*b))
    fsum = math.fsum
    return [[fsum(map(mul, row, column)) for column in columns] for row in a]


def reduce_map_mul(a, b):
    """functools.reduce(add, map(mul, ...), 0.0): a C loop calling operator.add per element."""
    columns = list(zip(*b))
    reduce = functools.reduce
    return [[reduce(add, map(mul, row, column), 0.0) for column in columns] for row in a]


def sumprod_comprehension(a, b):
    """math.sumprod(row, column) (3.12+): one C loop, no float object per product."""
    columns = list(zip(*b))
    sumprod = math.sumprod
    return [[sumprod(row, column) for column in columns] for row in a]


def sumprod_map_repeat(a, b):
    """list(map(sumprod, repeat(row), columns)) (3.12+): the inner loop in C too."""
    columns = list(zip(*b))
    sumprod = math.sumprod
    return [list(map(sumprod, repeat(row), columns)) for row in a]


# ---------------------------------------------------------------- skipping zeros of A
# Useful when A is sparse: ReLU outputs (about half zero), blank pixels.

def axpy_comprehension(a, b):
    """C row i = sum over k of A[i][k] * B row k, skipping A[i][k] == 0 (one list per term)."""
    width = len(b[0])
    result = []
    for row in a:
        accumulator = [0.0] * width
        for x, b_row in zip(row, b):
            if x:
                accumulator = [total + x * y for total, y in zip(accumulator, b_row)]
        result.append(accumulator)
    return result


def axpy_map(a, b):
    """As axpy_comprehension with the update done by map(add, acc, map(mul, repeat(x), b_row))."""
    width = len(b[0])
    result = []
    for row in a:
        accumulator = [0.0] * width
        for x, b_row in zip(row, b):
            if x:
                accumulator = list(map(add, accumulator, map(mul, repeat(x), b_row)))
        result.append(accumulator)
    return result


def _dot_function():
    if HAS_SUMPROD:
        return math.sumprod
    return lambda row, column: sum(map(mul, row, column))


def gather_columns(a, b):
    """Dot products over the nonzero positions only, B's columns gathered with itemgetter."""
    dot = _dot_function()
    columns = list(zip(*b))
    width = len(columns)
    result = []
    for row in a:
        nonzero = [k for k, x in enumerate(row) if x]
        if len(nonzero) > 1:
            gather = itemgetter(*nonzero)
            values = gather(row)
            result.append([dot(values, gather(column)) for column in columns])
        elif nonzero:  # itemgetter of one index returns the item, not a tuple
            x = row[nonzero[0]]
            result.append([x * y for y in b[nonzero[0]]])
        else:
            result.append([0.0] * width)
    return result


def gather_rows_by_index(a, b):
    """As kernels.matmul_sparse_left, with the nonzero positions found in a comprehension."""
    dot = _dot_function()
    width = len(b[0])
    result = []
    for row in a:
        nonzero = [k for k, x in enumerate(row) if x]
        if nonzero:
            values = [row[k] for k in nonzero]
            result.append([dot(values, column) for column in zip(*[b[k] for k in nonzero])])
        else:
            result.append([0.0] * width)
    return result


DENSE_VARIANTS = [
    kernels.matmul_naive,
    sum_map_mul,
    sum_map_mul_locals,
    sum_map_mul_nested_map,
    sum_list_comprehension,
    fsum_map_mul,
    reduce_map_mul,
] + ([sumprod_comprehension, sumprod_map_repeat] if HAS_SUMPROD else [])

SPARSE_VARIANTS = [
    kernels.matmul_best,
    axpy_comprehension,
    axpy_map,
    gather_columns,
    gather_rows_by_index,
    kernels.matmul_sparse_left,
]


def random_matrix(rng, rows, columns, zero_fraction=0.0):
    return [[0.0 if rng.random() < zero_fraction else rng.gauss(0.0, 1.0) for _ in range(columns)]
            for _ in range(rows)]


def max_abs_difference(x, y):
    return max(abs(p - q) for row_x, row_y in zip(x, y) for p, q in zip(row_x, row_y))


def measure(variants, a, b, repeats):
    """Median seconds per variant, runs interleaved round-robin so that drift hits all alike."""
    reference = kernels.matmul_naive(a, b)
    for variant in variants:
        error = max_abs_difference(variant(a, b), reference)
        if error > 1e-9 * len(b):
            raise AssertionError("{} differs from matmul_naive by {:.3g}".format(variant.__name__, error))
    times = {variant.__name__: [] for variant in variants}
    for _ in range(repeats):
        for variant in variants:
            times[variant.__name__] += harness.time_runs(lambda: variant(a, b), repeats=1, warmup=0)
    return {name: sorted(runs)[len(runs) // 2] for name, runs in times.items()}


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    repeats = 7
    rng = random.Random(0)
    b = random_matrix(rng, size, size)
    print(harness.machine_description())
    print("\nDense {0}x{0} @ {0}x{0}, median of {1} (ratio = matmul_naive time / this time)\n".format(size, repeats))
    medians = measure(DENSE_VARIANTS, random_matrix(rng, size, size), b, repeats)
    naive = medians["matmul_naive"]
    rows = [[name, seconds * 1e3, naive / seconds, harness.matmul_mflops(size, size, size, seconds)]
            for name, seconds in sorted(medians.items(), key=lambda item: item[1])]
    print(harness.markdown_table(["variant", "ms", "vs naive", "MFLOP/s"], rows, "{:.2f}"))

    print("\nSparse left operand, {0}x{0} (ratio = matmul_best time / this time)\n".format(size))
    names = [variant.__name__ for variant in SPARSE_VARIANTS]
    rows = []
    for zero_fraction in (0.0, 0.2, 0.3, 0.4, 0.5, 0.75, 0.9):
        a = random_matrix(rng, size, size, zero_fraction)
        medians = measure(SPARSE_VARIANTS, a, b, repeats)
        best = medians["matmul_best"]
        rows.append([zero_fraction] + [best / medians[name] for name in names])
    print(harness.markdown_table(["zeros"] + names, rows, "{:.2f}"))


if __name__ == "__main__":
    main()
