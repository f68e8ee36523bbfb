"""Self-check of bench/kernels.py: the kernels agree, and how much faster the best one is.

    python bench/check_kernels.py          # 2-3 s; exits non-zero on a failed check

1. Every kernel (and every variant in kernel_variants.py) is compared with
   matmul_naive on random shapes, dense and with many exact zeros, to a
   tolerance relative to the size of the sums: the kernels add in different
   orders (and sum/sumprod round differently from +=), so results differ in
   the last bits but never by more than a few units of rounding error.
2. Timing ratios naive / best at 32, 64 and 128 (square), measured
   alternately with harness.compare, and matmul_sparse_left against
   matmul_best on a left operand that is half zeros (like ReLU outputs),
   and, only where NumPy is installed, against NumPy's (BLAS) product.
"""
import os
import random
import sys

import harness
import kernel_variants
import kernels

try:
    import numpy as np  # optional: only for a reference column, never for a check
except ImportError:
    np = None

SHAPES = [(1, 1, 1), (1, 5, 1), (5, 1, 4), (3, 7, 2), (8, 8, 8), (17, 13, 9), (2, 64, 10), (33, 20, 31)]


def assert_close(result, expected, k, label):
    if len(result) != len(expected) or any(len(r) != len(e) for r, e in zip(result, expected)):
        raise AssertionError("{}: shape {}x{} differs from expected {}x{}".format(
            label, len(result), len(result[0]) if result else 0,
            len(expected), len(expected[0]) if expected else 0))
    for i, (row, expected_row) in enumerate(zip(result, expected)):
        for j, (value, expected_value) in enumerate(zip(row, expected_row)):
            # each entry sums k products of N(0, 1) values: rounding error grows like k * eps
            tolerance = 1e-13 * k * max(1.0, abs(expected_value))
            if abs(value - expected_value) > tolerance:
                raise AssertionError("{}: entry [{}][{}] is {!r}, matmul_naive gives {!r}".format(
                    label, i, j, value, expected_value))


def check_agreement():
    rng = random.Random(1234)
    kernel_functions = [kernels.matmul_best, kernels.matmul_sparse_left, kernels.matmul_skip_zeros]
    variant_functions = [v for v in kernel_variants.DENSE_VARIANTS + kernel_variants.SPARSE_VARIANTS
                         if v not in kernel_functions and v is not kernels.matmul_naive]
    checks = 0
    for n, k, m in SHAPES:
        for zero_fraction in (0.0, 0.6, 1.0):
            a = kernel_variants.random_matrix(rng, n, k, zero_fraction)
            b = kernel_variants.random_matrix(rng, k, m)
            expected = kernels.matmul_naive(a, b)
            for function in kernel_functions + variant_functions:
                label = "{} on ({}, {}) @ ({}, {}), {:.0%} zeros in A".format(
                    function.__name__, n, k, k, m, zero_fraction)
                assert_close(function(a, b), expected, k, label)
                checks += 1
    for n, k, m in SHAPES:  # the transposed forms, on operands stored as A (k, n) and B (m, k)
        a_stored = kernel_variants.random_matrix(rng, k, n)
        b = kernel_variants.random_matrix(rng, k, m)
        assert_close(kernels.matmul_transposed_a(a_stored, b), kernels.matmul_naive(list(zip(*a_stored)), b), k,
                     "matmul_transposed_a on ({}, {})".format(k, n))
        a = kernel_variants.random_matrix(rng, n, k)
        b_stored = kernel_variants.random_matrix(rng, m, k)
        assert_close(kernels.matmul_transposed_b(a, b_stored), kernels.matmul_naive(a, list(zip(*b_stored))), k,
                     "matmul_transposed_b on ({}, {})".format(m, k))
        checks += 2
    # a known product, computed by hand: [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
    for function in [kernels.matmul_naive] + kernel_functions:
        assert function([[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]) == [[19.0, 22.0], [43.0, 50.0]], \
            function.__name__
        try:
            function([[1.0, 2.0]], [[1.0], [2.0], [3.0]])
        except ValueError:
            pass
        else:
            raise AssertionError("{} accepted a (1, 2) @ (3, 1) product".format(function.__name__))
        checks += 2
    return checks


def check_same_rule_as_matrix():
    """kernels.matmul_skip_zeros must decide as Matrix @ does, or the fused loop would not be its bar."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import matrix_kernels as matrix
    mine = (kernels.SKIP_BASE, kernels.SKIP_PER_COLUMN, kernels.SKIP_MIN_COLUMNS)
    theirs = (matrix._SKIP_BASE, matrix._SKIP_PER_COLUMN, matrix._SKIP_MIN_COLUMNS)
    if mine != theirs:
        raise AssertionError("bench/kernels.py skips zeros by {}, matrix_kernels.py by {}".format(mine, theirs))
    return 1


def timing_table():
    rng = random.Random(0)
    rows = []
    for size, repeats in ((32, 21), (64, 9), (128, 5)):
        a = kernel_variants.random_matrix(rng, size, size)
        half_zeros = kernel_variants.random_matrix(rng, size, size, 0.5)
        b = kernel_variants.random_matrix(rng, size, size)
        dense = harness.compare(lambda: kernels.matmul_naive(a, b), lambda: kernels.matmul_best(a, b), repeats)
        sparse = harness.compare(lambda: kernels.matmul_best(half_zeros, b),
                                 lambda: kernels.matmul_sparse_left(half_zeros, b), repeats)
        row = [size, dense.median_a * 1e3, dense.median_b * 1e3, dense.ratio,
               harness.matmul_mflops(size, size, size, dense.median_b), sparse.ratio]
        if np is not None:
            array_a, array_b = np.array(a), np.array(b)
            row.append(dense.median_b / harness.time_median(lambda: array_a @ array_b, 101))
        rows.append(row)
    headers = ["n", "naive ms", "best ms", "naive / best", "best MFLOP/s", "best / sparse_left (50% zeros)"]
    if np is not None:
        headers.append("best / NumPy")
    return harness.markdown_table(headers, rows, "{:.2f}")


def main():
    print(harness.machine_description())
    checks = check_agreement() + check_same_rule_as_matrix()
    print("agreement: {} checks passed (kernels and variants against matmul_naive)\n".format(checks))
    print(timing_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
