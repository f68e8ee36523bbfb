"""How fast is the framework? One table against hand-written pure Python, written to bench/RESULTS.md.

    python bench/run.py              # 5 to 8 minutes: the table and the yardstick, written to bench/RESULTS.md
    python bench/run.py --quick      # a smoke run of every row with fewer repeats (under a minute)
    python bench/run.py --zeros      # where skipping zeros pays: the table behind matrix.py's break-even rule
    python bench/run.py --profile    # cProfile of one digits epoch of Network.fit, top functions
    python bench/run.py --autograd   # only the autograd rows (bench/autograd_speed.py), about 2 minutes
    python bench/run.py --conv       # only the Conv2D rows: im2col against nested loops and against Matrix @
    python bench/run.py --yardstick  # only the yardstick (bench/yardstick.py): every workload's effective
                                     # MFLOP/s as a fraction of the interpreter's ceiling, 1 and 2 workers
    python bench/run.py --fashion-data DIR   # the full Fashion-MNIST, for its peak-memory row
    python bench/run.py --fashion    # only the Fashion-MNIST MLP and CNN training rows (beside PyTorch, NumPy)
    pypy3 bench/run.py               # the same table on PyPy, as a section of bench/RESULTS.md
                                     # (bench/pypy.py: both interpreters side by side)

The two questions, and the bar for each:
  * is the framework as fast as hand-written pure Python doing the same
    arithmetic? Matrix @ against the best raw-list kernel (bench/kernels.py),
    Network.fit against a hand-fused raw-list training loop (bench/fused_mlp.py),
    elementwise layers against the comprehension a programmer would write;
  * how far is that from the interpreter's limits and from compiled code? the
    naive triple loop below, NumPy (BLAS) above, when it is installed.

Method. Every row times several runs after a warm-up and reports medians.
Times are CPU seconds of this process (time.process_time): on a shared machine
the time spent waiting while other programs run is not counted (--wall uses
the wall clock instead). The sides of a comparison run alternately (a, b, a,
b, ...), and a ratio is the median of the ratios of neighbouring runs, so that
a slow patch of the machine hits both sides. A fast callable is called
several times per timed run, so that each run lasts at least ~50 ms.

Standard library only; NumPy is imported if present, for one column.
"""
import argparse
import cProfile
import io
import math
import os
import pstats
import random
import sys
import time
from operator import add

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import autograd_speed  # noqa: E402
import conv_bench  # noqa: E402
import fashion_speed  # noqa: E402
import fused_mlp  # noqa: E402
from digits_fit import N_TRAIN, digits_network, fit_digits, load_digits  # noqa: E402,F401 (others import them from here)
import harness  # noqa: E402
import kernels  # noqa: E402
import memory  # noqa: E402
import yardstick  # noqa: E402
from activations import ReLU, softmax_rows  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from optimizers import Adam  # noqa: E402

numpy = None  # imported by main() if installed: one reference column, never a dependency


def import_numpy():
    """NumPy if installed, else None; not at import time, so that the memory child never loads it.

    BLAS is held to one thread, as pure Python is: the column compares one core
    with one core (and CPU time summed over BLAS's threads would mislead).
    """
    global numpy
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    try:
        import numpy as module
    except ImportError:
        return None
    numpy = module
    return numpy

TARGETS = {"matmul_vs_best": 1.10, "matmul_vs_naive_128": 1.8, "fit_vs_fused": 1.15}  # memory: bench/memory.py


class Bench:
    """Settings of one run: the clock, repeats, and the rows gathered so far."""

    def __init__(self, quick, wall, fashion_data=None):
        self.quick, self.fashion_data = quick, fashion_data
        self.clock = time.perf_counter if wall else time.process_time
        self.rows = []
        self.failures = []

    def repeats(self, full):
        return max(3, full // 3) if self.quick else full

    def interleave(self, fns, repeats, seconds=0.05):
        """Medians (seconds per call) and paired ratios of each fn to fns[0], run round-robin."""
        calls = [harness.calls_for(fn, seconds / (2 if self.quick else 1), self.clock) for fn in fns]
        result = harness.interleave(fns, self.repeats(repeats), warmup=1, calls=calls, clock=self.clock)
        ratios = [harness.paired_ratio(result.times[0], times) for times in result.times]
        return result.medians, ratios

    def add(self, benchmark, framework, bar="", ratio=None, naive="", numpy_cell="", target=""):
        self.rows.append([benchmark, framework, bar, ratio, naive, numpy_cell, target])

    def check(self, label, holds, text):
        """A target: 'text: yes' or 'text: NO', remembered for the summary line."""
        if not holds:
            self.failures.append(label)
        return "{}: {}".format(text, "yes" if holds else "NO")


# ---------------------------------------------------------------- matrix products

def random_rows(rng, n_rows, n_cols, zero_share=0.0):
    return [[0.0 if rng.random() < zero_share else rng.gauss(0.0, 1.0) for _ in range(n_cols)]
            for _ in range(n_rows)]


def numpy_seconds(bench, a, b, transpose_a=False, transpose_b=False):
    """Seconds per NumPy product of the same operands, or None without NumPy."""
    if numpy is None:
        return None
    array_a, array_b = numpy.array(a), numpy.array(b)
    if transpose_a:
        array_a = array_a.T
    if transpose_b:
        array_b = array_b.T
    medians, _ = bench.interleave([lambda: array_a @ array_b], 7)
    return medians[0]


def matmul_rows(bench):
    rng = random.Random(0)
    cases = [  # (label, n, k, m, form, zero share of A, repeats)
        ("A @ B, 32x32 @ 32x32", 32, 32, 32, "plain", 0.0, 21),
        ("A @ B, 64x64 @ 64x64", 64, 64, 64, "plain", 0.0, 15),
        ("A @ B, 128x128 @ 128x128", 128, 128, 128, "plain", 0.0, 11),
        ("A @ B, 256x256 @ 256x256", 256, 256, 256, "plain", 0.0, 9),
        ("X @ W, 32x64 @ 64x64 (Dense forward)", 32, 64, 64, "plain", 0.0, 15),
        ("X.T @ dY, (32x64).T @ 32x64 (dW)", 64, 32, 64, "transpose_a", 0.0, 15),
        ("dY @ W.T, 32x64 @ (64x64).T (dX)", 32, 64, 64, "transpose_b", 0.0, 15),
        ("A @ B, 128x128, half of A exact zeros", 128, 128, 128, "plain", 0.5, 7),
    ]
    for label, n, k, m, form, zero_share, repeats in cases:
        # the operands as stored: A.T @ B keeps A as (k, n); A @ B.T keeps B as (m, k)
        a = random_rows(rng, k, n) if form == "transpose_a" else random_rows(rng, n, k, zero_share)
        b = random_rows(rng, m, k) if form == "transpose_b" else random_rows(rng, k, m)
        matrix_a, matrix_b = Matrix(a), Matrix(b)
        if form == "plain":
            framework = lambda: matrix_a @ matrix_b  # noqa: E731
            best = lambda: kernels.matmul_best(a, b)  # noqa: E731
            naive = lambda: kernels.matmul_naive(a, b)  # noqa: E731
        elif form == "transpose_a":
            framework = lambda: matrix_a.T @ matrix_b  # noqa: E731
            best = lambda: kernels.matmul_transposed_a(a, b)  # noqa: E731
            naive = lambda: kernels.matmul_naive(list(zip(*a)), b)  # noqa: E731
        else:
            framework = lambda: matrix_a @ matrix_b.T  # noqa: E731
            best = lambda: kernels.matmul_transposed_b(a, b)  # noqa: E731
            naive = lambda: kernels.matmul_naive(a, list(zip(*b)))  # noqa: E731
        skip_naive = bench.quick and n >= 256
        medians, ratios = bench.interleave([framework, best], repeats)
        if not skip_naive:  # in an interleave of its own; at 256 the naive loop is slow: fewer runs
            naive_medians, naive_ratios = bench.interleave([framework, naive], repeats if n < 256 else 3)
            medians.append(naive_medians[1])
            ratios.append(naive_ratios[1])
        mflops = [harness.matmul_mflops(n, k, m, seconds) for seconds in medians]
        target = bench.check(label, ratios[1] <= TARGETS["matmul_vs_best"],
                             "<= {:.2f}x best".format(TARGETS["matmul_vs_best"]))
        naive_cell = "skipped (--quick)"
        if not skip_naive:
            speedup = 1.0 / ratios[2]
            naive_cell = "{:.1f} MFLOP/s (Matrix {:.2f}x faster)".format(mflops[2], speedup)
            if n == 128 and zero_share == 0.0:
                target += "; " + bench.check(label + " vs naive", speedup >= TARGETS["matmul_vs_naive_128"],
                                             ">= {:.1f}x naive".format(TARGETS["matmul_vs_naive_128"]))
        seconds = numpy_seconds(bench, a, b, form == "transpose_a", form == "transpose_b")
        numpy_cell = "" if seconds is None else "{:,.0f} MFLOP/s ({:,.0f}x Matrix)".format(
            harness.matmul_mflops(n, k, m, seconds), medians[0] / seconds)
        bar = "{:.1f} MFLOP/s".format(mflops[1])
        if zero_share:
            bar += " (dense kernel)"
        bench.add(label, "{:.1f} MFLOP/s".format(mflops[0]), bar, ratios[1], naive_cell, numpy_cell, target)


# ---------------------------------------------------------------- elementwise work

def elementwise_rows(bench):
    rng = random.Random(1)
    for n, m in ((32, 64), (256, 256)):
        x_rows, grad_rows = random_rows(rng, n, m), random_rows(rng, n, m)
        bias_row = random_rows(rng, 1, m)[0]
        x, grad, bias = Matrix(x_rows), Matrix(grad_rows), Matrix([bias_row])
        relu = ReLU()
        relu_output = relu.forward(x).rows

        def relu_backward(layer=relu):  # each call needs the forward's output in place
            return layer.backward(grad)

        def raw_softmax():
            out = []
            for row in x_rows:
                top = max(row)
                exps = [math.exp(v - top) for v in row]
                total = sum(exps)
                out.append([e / total for e in exps])
            return out

        cases = [
            ("bias add X + b", lambda: x + bias,
             lambda: [list(map(add, row, bias_row)) for row in x_rows]),
            ("ReLU forward", lambda: relu.forward(x),
             lambda: [[v if v > 0.0 else 0.0 for v in row] for row in x_rows]),
            ("ReLU backward", relu_backward,
             lambda: [[g if y > 0.0 else 0.0 for g, y in zip(g_row, y_row)]
                      for g_row, y_row in zip(grad_rows, relu_output)]),
            ("softmax", lambda: softmax_rows(x), raw_softmax),
        ]
        for label, framework, raw in cases:
            medians, ratios = bench.interleave([framework, raw], 15, seconds=0.03)
            bench.add("{}, {}x{}".format(label, n, m), "{:,.0f} us".format(medians[0] * 1e6),
                      "{:,.0f} us (comprehension)".format(medians[1] * 1e6), ratios[1])


# ---------------------------------------------------------------- training epochs

def same_training(X_rows, Y_rows, X, Y):
    """Largest difference between the weights after one epoch of Network.fit and of the fused loop."""
    network = fit_digits(X, Y)
    weights, _ = fused_mlp.train_epochs(X_rows, Y_rows)
    first, second = network.layers[0], network.layers[2]
    pairs = [(first.weight.value.rows, weights["W1"]), (first.bias.value.rows, [weights["b1"]]),
             (second.weight.value.rows, weights["W2"]), (second.bias.value.rows, [weights["b2"]])]
    return max(abs(p - q) for mine, theirs in pairs for row_a, row_b in zip(mine, theirs)
               for p, q in zip(row_a, row_b))


def digits_rows(bench):
    X_rows, Y_rows = load_digits()
    X, Y = Matrix(X_rows), Matrix(Y_rows)
    fit = lambda: fit_digits(X, Y)  # noqa: E731
    # the target's pair alone, for as many neighbouring runs as possible; then the variants, for information
    medians, ratios = bench.interleave([fit, lambda: fused_mlp.train_epochs(X_rows, Y_rows)], 21)
    variants = bench.interleave([fit, lambda: fused_mlp.train_epochs(X_rows, Y_rows, masked_hidden_gradient=True),
                                 lambda: fused_mlp.train_epochs(X_rows, Y_rows, skip_zeros=False)], 7)
    rate = ["{:,.0f} samples/s".format(N_TRAIN / seconds) for seconds in medians + variants[0][1:]]
    difference = same_training(X_rows, Y_rows, X, Y)
    target = bench.check("digits fit", ratios[1] <= TARGETS["fit_vs_fused"],
                         "<= {:.2f}x fused".format(TARGETS["fit_vs_fused"]))
    bench.add("digits epoch: Network.fit vs fused loop (64-64-10, Adam, batch 32, {} rows)".format(N_TRAIN),
              rate[0], rate[1] + " (fused, same arithmetic)", ratios[1], "", "",
              target + "; same weights after the epoch to {:.0e}".format(difference))
    bench.add("  fused loop with dH only where H > 0 (a cross-layer step a framework cannot take)",
              "", rate[2], variants[1][1])
    bench.add("  fused loop without skipping zeros (every product dense)", "", rate[3], variants[1][2])
    return X, Y


def autograd_rows(bench):
    """A training step through the computation graph (autograd.py) and through scalar autograd,
    each against the hand-written layers: bench/autograd_speed.py."""
    autograd_speed.autograd_rows(bench, *load_digits())


def predict_rows(bench, X, Y):
    network = fit_digits(X, Y)
    medians, _ = bench.interleave([lambda: network.predict(X)], 7)
    bench.add("digits predict, {} rows".format(len(X)), "{:,.0f} samples/s".format(len(X) / medians[0]))


def square_detector_rows(bench):
    from demos import square_detector
    from demos.square_shapes import generate_dataset
    n_images = 400 if bench.quick else 1000
    images, labels = generate_dataset(n_images, 16, square_detector.data_rng(0, "train"))
    network = square_detector.build_network(16, 32, 0)
    X = Matrix(square_detector.vectors_for(network, images))
    Y = Matrix([[1.0 if label == j else 0.0 for j in range(2)] for label in labels])
    zero_share = sum(row.count(0.0) for row in X.rows) / (X.shape[0] * X.shape[1])

    def epoch():
        model = square_detector.build_network(16, 32, 0)
        model.fit(X, Y, CrossEntropy(), Adam(model.parameters(), lr=0.003), epochs=1, batch_size=32,
                  rng=random.Random(0))

    medians, _ = bench.interleave([epoch, lambda: network.predict(X)], 5)
    shape = "256-32-2, LeakyReLU, {} images of 16x16, {:.0%} zero pixels".format(n_images, zero_share)
    bench.add("square detector epoch ({})".format(shape), "{:,.0f} samples/s".format(n_images / medians[0]))
    bench.add("square detector predict", "{:,.0f} samples/s".format(n_images / medians[1]))


def scaling_rows(bench):
    X_rows, Y_rows = load_digits()
    if bench.quick:
        X_rows, Y_rows = X_rows[:360], Y_rows[:360]
    base = len(X_rows)
    data = {factor: (Matrix(X_rows * factor), Matrix(Y_rows * factor)) for factor in (1, 2, 4)}
    fns = [lambda f=factor: fit_digits(*data[f]) for factor in (1, 2, 4)]
    medians, _ = bench.interleave(fns, 5)
    for factor, seconds in zip((1, 2, 4), medians):
        ideal = medians[0] * factor
        bench.add("growth: {}x rows ({:,}), hidden 64".format(factor, base * factor), "{:.3f} s".format(seconds),
                  "{:.3f} s (linear in rows)".format(ideal), seconds / ideal)
    X, Y = data[1]
    fns = [lambda h=hidden: fit_digits(X, Y, hidden=h) for hidden in (32, 64, 128)]
    medians, _ = bench.interleave(fns, 5)
    for hidden, seconds in zip((32, 64, 128), medians):
        # both layers cost in * out: 64 * h + h * 10, linear in h (a h x h layer would be quadratic)
        ideal = medians[0] * hidden / 32
        bench.add("growth: hidden width {}, {:,} rows".format(hidden, base), "{:.3f} s".format(seconds),
                  "{:.3f} s (linear in width)".format(ideal), seconds / ideal)


# ---------------------------------------------------------------- reports

HEADERS = ["benchmark", "framework", "bar", "framework time / bar time", "naive triple loop", "NumPy", "target"]


def run_all(bench):
    sections = [matmul_rows, elementwise_rows, digits_rows, autograd_rows, square_detector_rows, scaling_rows,
                conv_bench.conv_rows, fashion_speed.fashion_rows, memory.memory_rows]
    started = time.perf_counter()
    X = Y = None
    for section in sections:
        section_started = time.perf_counter()
        result = section(bench)
        if section is digits_rows:
            X, Y = result
            predict_rows(bench, X, Y)
        print("  {} done in {:.0f} s".format(section.__name__, time.perf_counter() - section_started),
              file=sys.stderr, flush=True)
    return time.perf_counter() - started


def report(bench, seconds):
    clock = "wall-clock" if bench.clock is time.perf_counter else "CPU (time.process_time)"
    lines = [
        "# Benchmark results",
        "",
        "`{} bench/run.py{}` on {}.".format("pypy3" if sys.implementation.name == "pypy" else "python",
                                            " --quick" if bench.quick else "", harness.machine_description()),
        "Medians of {} seconds; a ratio is framework time / bar time, the median over runs made one after "
        "the other (which side goes first alternates): below 1.00 the framework is faster.".format(clock),
        "NumPy: {}. Whole run: {:.0f} s.".format(numpy.__version__ if numpy else "not installed, column empty",
                                                  seconds),
        "",
        harness.markdown_table(HEADERS, bench.rows, "{:.2f}"),
        "",
        "All targets hold." if not bench.failures else "Targets missed: {}.".format(", ".join(bench.failures)),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- --zeros and --profile

def zeros_table(bench):
    """Dense kernel time / zero-skipping kernel time, by share of zeros in A and width m of B."""
    rng = random.Random(2)
    shares = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    rows = []
    for k in (64, 256):
        for m in (4, 10, 16, 32, 64, 256):
            b = random_rows(rng, k, m)
            n = max(8, 8192 // m)
            row = ["k={}, m={}".format(k, m)]
            for share in shares:
                a = random_rows(rng, n, k, share)
                _, ratios = bench.interleave([lambda: kernels.matmul_best(a, b),
                                              lambda: kernels.matmul_sparse_left(a, b)], 7, seconds=0.02)
                row.append(ratios[1])  # dense time / skipping time
            rule = kernels.SKIP_BASE + kernels.SKIP_PER_COLUMN / m
            row.append("{:.2f}{}".format(rule, "" if m >= kernels.SKIP_MIN_COLUMNS else " (not counted)"))
            rows.append(row)
    headers = ["A (n, k) @ B (k, m)"] + ["{:.0%} zeros".format(share) for share in shares] + ["rule: skip above"]
    return ("Zero skipping, {}: dense time / skipping time (above 1.00 skipping pays)\n\n".format(
        harness.machine_description()) + harness.markdown_table(headers, rows, "{:.2f}"))


def profile_digits(top=15):
    X_rows, Y_rows = load_digits()
    X, Y = Matrix(X_rows), Matrix(Y_rows)
    fit_digits(X, Y)  # warm-up
    profiler = cProfile.Profile()
    profiler.runcall(fit_digits, X, Y)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller data: a smoke run")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock, not this process's CPU time")
    parser.add_argument("--zeros", action="store_true", help="print the break-even table of zero skipping")
    parser.add_argument("--profile", action="store_true", help="cProfile one digits epoch of Network.fit")
    parser.add_argument("--autograd", action="store_true",
                        help="only the autograd rows: graph and scalar autograd against the layers")
    parser.add_argument("--conv", action="store_true", help="only the Conv2D rows (im2col vs loops and vs Matrix @)")
    parser.add_argument("--yardstick", action="store_true",
                        help="only the yardstick: each workload's effective MFLOP/s against the interpreter's ceiling")
    parser.add_argument("--fashion-data", metavar="DIR", help="the full Fashion-MNIST, for its memory row")
    parser.add_argument("--fashion", action="store_true", help="only the Fashion-MNIST training rows")
    parser.add_argument("--output", default=None,
                        help="where to write the table (default bench/RESULTS.md; --quick writes nothing)")
    args = parser.parse_args(argv)
    import_numpy()
    if args.yardstick:
        return yardstick.main(["--quick"] if args.quick else [])
    bench = Bench(args.quick, args.wall, args.fashion_data)
    if args.zeros:
        print(zeros_table(bench))
        return 0
    if args.profile:
        print(profile_digits())
        return 0
    if args.autograd:
        autograd_rows(bench)
        print(harness.machine_description())
        print(harness.markdown_table(HEADERS, bench.rows, "{:.2f}"))
        return 0 if not bench.failures else 1
    print(harness.machine_description(), file=sys.stderr)
    if args.conv or args.fashion:
        started = time.perf_counter()
        (conv_bench.conv_rows if args.conv else fashion_speed.fashion_rows)(bench)
        print(report(bench, time.perf_counter() - started))
        return 0 if not bench.failures else 1
    text = report(bench, run_all(bench))
    print(text)
    output = args.output or (None if args.quick else os.path.join(HERE, "RESULTS.md"))
    if output:
        if sys.implementation.name == "pypy":  # beside CPython's table, not over it
            harness.write_section(output, text.replace("# Benchmark results", "## The same table on PyPy", 1))
        else:
            harness.write_head(output, text)  # the sections other scripts write (bench/pypy.py) stay
    if not args.quick:  # the yardstick's own section, after the table (it prints the load average)
        yardstick.main([] if output is None else ["--output", output])
    return 0 if not bench.failures else 1


if __name__ == "__main__":
    sys.exit(main())
