"""The interpreter's own limit as the yardstick: each workload's effective MFLOP/s against it.

    python bench/yardstick.py            # the table (2 to 4 minutes), also a section of bench/RESULTS.md
    python bench/yardstick.py --quick    # fewer steps and rounds, nothing written
    python bench/yardstick.py --profile gru|gpt|mlp   # cProfile of a few training steps, top functions
    python bench/yardstick.py --amdahl   # per step, forward + backward against Adam's step: the workers' bound
    python bench/yardstick.py --scaling  # epoch time with 1 and 2 workers as rows and width grow (--quick: fewer rows)
    python bench/run.py --yardstick      # the same table
    pypy3 bench/yardstick.py             # PyPy's own section

The ceiling. The fastest a CPython core multiplies is the dot product builtin,
math.sumprod on 3.12+ and sum(map(operator.mul, a, b)) before; on PyPy, whose JIT
compiles loops, the best plain loop (a dot-product loop or the row-accumulating
"axpy" loop c[j] += x * b[j], whichever is faster here). The ceiling is its best
MFLOP/s over vector lengths 64 to 1024, 2 flops a multiply-add, measured in this run.

The workloads, each as it trains in its demo (demos/): the digits epoch of bench/run.py
(64-64-10, Adam, batch 32), the Fashion-MNIST MLP (784-256-128-100-10, batch 64) and CNN
(two 3x3 convolutions with pooling, batch 32) on the committed 3,000-image slice with 1 and
with 2 worker processes (parallel.DataParallel), the names GRU (Embedding 27x24, GRU 24->64,
a Dense per step, batch 32 names of one length, clipping, Adam) and the tiny GPT (one block,
16 wide, 4 heads, one name a step).

Counting, honestly. Effective MFLOP/s = 2 x (the model's multiply-adds per sample) x samples
per second. The multiply-adds are counted, not estimated: one untimed pass over the same
steps with Matrix.__matmul__ wrapped, adding n*k*m for each (n, k) @ (k, m). Every product of
forward and backward goes through it (Dense's X @ W, X.T @ dY, dY @ W.T; the GRU's products
per time step; attention's per-head products), and only those; Conv2D, whose products run image
by image in conv_kernels.py, counts its own as im2col's would be (count_macs says how):
  * counted densely: a product whose exact zeros Matrix skips (ReLU outputs, blank pixels)
    counts all of n*k*m, the model's arithmetic, so skipping shows as speed;
  * not counted: elementwise work (activations, softmax, norms, bias adds, the loss, gradient
    clipping), the optimizer step, copies, im2col itself: the overheads the fraction measures;
  * backward is what fit runs: dW and dX of every layer but the first, whose dX is not
    computed (input_grad=False). Causal attention computes all T x T scores (half are masked
    afterwards) and those are counted as computed.
Fraction = effective MFLOP/s / (ceiling x cores used): 1 core, or 2 with 2 workers.

Clocks. The one-process rows use this process's CPU time (time.process_time): the machine is
shared. The worker rows must use wall time (the workers' CPU is not this process's), so they
mean something only on an idle machine: the load average is printed beside them. 1 and 2
workers alternate round by round; each figure is the median of the steps of all its rounds
(the first step of each fit left out: the workers' first batch, and PyPy's JIT warming up).
"""

import argparse
import cProfile
import io
import math
import os
import pstats
import random
import statistics
import sys
import time
from operator import mul

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

import harness  # noqa: E402
from callbacks import Callback  # noqa: E402
from matrix import Matrix  # noqa: E402

PYPY = sys.implementation.name == "pypy"
TARGETS = {"workers_speedup": 1.7, "workers_fraction": 0.5, "sequence_fraction": 0.4}


# ---------------------------------------------------------------- the ceiling

def _dot_loop(a, b):
    total = 0.0
    for j in range(len(a)):
        total += a[j] * b[j]
    return total


def _axpy_loop(c, x, b):
    for j in range(len(c)):
        c[j] += x * b[j]


def ceiling(quick=False):
    """(best MFLOP/s, how) of one core's fastest multiply-add on this interpreter."""
    rng = random.Random(0)
    best = (0.0, "")
    for length in (64, 256, 1024):
        a = [rng.gauss(0.0, 1.0) for _ in range(length)]
        b = [rng.gauss(0.0, 1.0) for _ in range(length)]
        calls = max(50, 400000 // length) // (4 if quick else 1)
        if PYPY:
            c = [0.0] * length

            def dots():
                for _ in range(calls):
                    _dot_loop(a, b)

            def axpys():
                for _ in range(calls):
                    _axpy_loop(c, 0.5, b)
            contenders = [(dots, "dot-product loop"), (axpys, "axpy loop c[j] += x * b[j]")]
        elif hasattr(math, "sumprod"):
            sumprod = math.sumprod

            def sumprods():
                for _ in range(calls):
                    sumprod(a, b)
            contenders = [(sumprods, "math.sumprod")]
        else:
            def sum_maps():
                for _ in range(calls):
                    sum(map(mul, a, b))
            contenders = [(sum_maps, "sum(map(mul, a, b))")]
        result = harness.interleave([fn for fn, _ in contenders], 5 if quick else 9, warmup=2,
                                    clock=time.process_time)
        for seconds, (_, how) in zip(result.medians, contenders):
            mflops = 2.0 * length * calls / seconds / 1e6
            if mflops > best[0]:
                best = (mflops, f"{how}, length {length}")
    return best


# ---------------------------------------------------------------- counting

def count_macs(fn):
    """fn() run once with every product counted: the multiply-adds n*k*m each did.

    A Matrix product (n, k) @ (k, m) counts n*k*m. Conv2D (and Conv1D) run their products image
    by image outside Matrix @ (conv_kernels.py), so each counts its own, as the products im2col
    would make: forward P @ W, K*O*positions an image (K = C*kh*kw), the same again for
    dW = P.T @ dZ, and again for dX when asked for; products inside a convolution are not counted
    twice."""
    from conv import Conv2D
    matmul, conv_forward, conv_backward = Matrix.__matmul__, Conv2D.forward, Conv2D.backward
    total, inside = [0], [0]

    def counting(self, other):
        result = matmul(self, other)
        if result is not NotImplemented and not inside[0]:
            total[0] += self.shape[0] * self.shape[1] * other.shape[1]
        return result

    def per_image(layer):
        return layer.geometry.patch_size * layer.out_channels * layer.geometry.positions

    def forward(self, x, training=False):
        inside[0] += 1
        try:
            return conv_forward(self, x, training)
        finally:
            inside[0] -= 1
            total[0] += x.shape[0] * per_image(self)

    def backward(self, grad, input_grad=True):
        inside[0] += 1
        try:
            return conv_backward(self, grad, input_grad)
        finally:
            inside[0] -= 1
            total[0] += grad.shape[0] * per_image(self) * (2 if input_grad else 1)

    Matrix.__matmul__, Conv2D.forward, Conv2D.backward = counting, forward, backward
    try:
        fn()
    finally:
        Matrix.__matmul__, Conv2D.forward, Conv2D.backward = matmul, conv_forward, conv_backward
    return total[0]


# ---------------------------------------------------------------- workloads in one process

def digits_workload():
    """(label, one pass, samples in it): one epoch of bench/run.py's digits training."""
    import run
    X_rows, Y_rows = run.load_digits()
    X, Y = Matrix(X_rows), Matrix(Y_rows)
    return "digits epoch (64-64-10, Adam, batch 32)", lambda: run.fit_digits(X, Y), len(X_rows), None


class SequenceTraining:
    """A names model (demos/names.py's MODELS[name]) and its fixed batches, trained as the demo
    trains it: forward, loss, backward, clipping when the model's settings ask for it, Adam."""

    def __init__(self, name, batches_of):
        from demos import names
        from layers import seed as seed_layers
        from losses import SequenceCrossEntropy
        from network import Network
        from optimizers import Adam
        self.names, self.settings = names, names.MODELS[name].defaults
        self.batches = batches_of(names, self.settings)
        seed_layers(0)
        self.network = Network(names.MODELS[name].build(self.settings, len(names.VOCABULARY)))
        self.loss = SequenceCrossEntropy(ignore_index=names.IGNORE)
        self.optimizer = Adam(self.network.parameters(), lr=self.settings["lr"],
                              betas=tuple(self.settings.get("betas", (0.9, 0.999))))

    def one_pass(self, phases=None):
        """Every batch once; with a dict `phases`, the CPU seconds of each phase are added to it."""
        clock = time.process_time
        for x, targets in self.batches:
            marks = [clock()]
            self.loss.forward(self.network.forward(x, training=True), targets)
            marks.append(clock())
            self.network.backward(self.loss.backward(), input_grad=False)
            marks.append(clock())
            if self.settings.get("clip"):
                self.names.clip_gradients(self.network.parameters(), self.settings["clip"])
            marks.append(clock())
            self.optimizer.step()
            marks.append(clock())
            if phases is not None:
                for phase, start, stop in zip(PHASES, marks, marks[1:]):
                    phases[phase] = phases.get(phase, 0.0) + stop - start


PHASES = ("forward and loss", "backward", "gradient clipping", "Adam step")


def gru_workload(steps):
    """`steps` training steps of the names GRU as demos/names.py runs them (batch 32 of one length)."""
    def batches(names, settings):
        train_names, _ = names.split_names(names.load_names())
        data = names.SequenceData(train_names, settings["context"])
        rng = random.Random(0)
        return [data.random_batch(rng, settings["batch_size"]) for _ in range(steps)]
    training = SequenceTraining("gru", batches)
    label = "names GRU (Embedding 27x24, GRU 24->64, Dense 64->27 per step; batch 32)"
    return label, training.one_pass, steps * training.settings["batch_size"], training


def gpt_workload(steps):
    """`steps` training steps of the tiny GPT, one name each, as bench/tiny_gpt.py times them."""
    import tiny_gpt

    def batches(names, settings):
        data = names.SequenceData(tiny_gpt.original_order(), settings["context"])
        return [data.batch([step]) for step in range(1, 1 + steps)]
    training = SequenceTraining("tiny-gpt", batches)
    return "tiny GPT (1 block, 16 wide, 4 heads, MLP 64; one name a step)", training.one_pass, steps, training


# ---------------------------------------------------------------- workloads with workers

class _StepTimes(Callback):
    def __init__(self, clock=time.perf_counter):
        self.marks, self.clock = [], clock

    def on_epoch_begin(self, run):
        self.marks.append(self.clock())

    def on_batch_end(self, run):
        self.marks.append(self.clock())

    def steps(self):
        return [b - a for a, b in zip(self.marks[1:], self.marks[2:])]  # the first step left out


def fashion_slice(rows):
    from demos import fashion_mnist
    data = fashion_mnist.load_part(fashion_mnist.DATA_DIR, fashion_mnist.SLICE_PREFIX, "train")
    return data.subset(range(rows))


def fit_steps(model, data, batch, workers, clock=time.perf_counter):
    """Seconds (wall, or `clock`) of each step after the first of one epoch over `data` with
    `workers` processes."""
    from demos import fashion_mnist
    from losses import CrossEntropy
    from optimizers import Adam
    from parallel import DataParallel
    network = fashion_mnist.MODELS[model](random.Random(0))
    timer = _StepTimes(clock)
    trainer = network if workers == 1 else DataParallel(network, workers, seed=0)
    trainer.fit(data, data.targets, CrossEntropy(), Adam(network.parameters(), lr=0.001), epochs=1,
                batch_size=batch, shuffle=False, callbacks=[timer])
    return timer.steps()


def workers_rows(bench, model, label, batch, steps):
    data = fashion_slice(batch * (steps + 1))
    one_batch = fashion_slice(batch)
    macs = count_macs(lambda: fit_steps(model, one_batch, batch, 1))
    cpu = statistics.median(fit_steps(model, data, batch, 1, time.process_time))
    bench.row(f"{label}, one process", macs / batch, batch / cpu, 1, note="CPU time")
    times = {1: [], 2: []}
    loads = [os.getloadavg()[0]]
    for round_number in range(bench.rounds):
        for workers in ((1, 2) if round_number % 2 == 0 else (2, 1)):
            times[workers] += fit_steps(model, data, batch, workers)
        loads.append(os.getloadavg()[0])
    one, two = statistics.median(times[1]), statistics.median(times[2])
    load = "load average {:.1f}-{:.1f}".format(min(loads), max(loads))
    bench.row(f"{label}, 1 worker", macs / batch, batch / one, 1, note=load + ", wall time")
    speedup = one / two
    target = bench.check(f"{model} workers speed-up", speedup >= TARGETS["workers_speedup"],
                         ">= {:.1f}x 1 worker".format(TARGETS["workers_speedup"]))
    bench.row(f"{label}, 2 workers", macs / batch, batch / two, 2,
              note="{}; {:.2f}x 1 worker: {}".format(load, speedup, target),
              fraction_target=TARGETS["workers_fraction"])


# ---------------------------------------------------------------- --amdahl

def amdahl(steps=3):
    """Markdown: per step, forward + backward (C) and Adam's step (A) in one process, CPU time, and
    (C + A) / (C / 2 + A), the most 2 workers can gain while the step stays in the main process;
    then the same with C_half, forward + backward of half the batch measured (a worker's share,
    whose weight-gradient products have dot products half as long, so it costs more than C / 2);
    and (C + A) / (C_half + A / 2), the bound when each worker steps half the parameters
    (DataParallel's sharded step, sharded_step.py)."""
    from demos import fashion_mnist
    from losses import CrossEntropy
    from optimizers import Adam
    rows = []
    for model, batch in (("mlp", 64), ("cnn", 32)):
        data = fashion_slice(batch * (steps + 1))
        network = fashion_mnist.MODELS[model](random.Random(0))
        optimizer, loss = Adam(network.parameters(), lr=0.001), CrossEntropy()
        passes, halves, updates = [], [], []
        for step in range(steps + 1):  # the first step is a warm-up
            indices = list(range(step * batch, (step + 1) * batch))
            for part, times in ((indices, passes), (indices[:batch // 2], halves)):
                x, targets = data.take(part), data.targets.take(part)
                started = time.process_time()
                loss.forward(network.forward(x, training=True), targets)
                network.backward(loss.backward(), input_grad=False)
                if step:
                    times.append(time.process_time() - started)
            started = time.process_time()
            optimizer.step()
            if step:
                updates.append(time.process_time() - started)
        c, half, a = statistics.median(passes), statistics.median(halves), statistics.median(updates)
        size = sum(p.value.shape[0] * p.value.shape[1] for p in network.parameters())
        rows.append([f"Fashion-MNIST {model.upper()}, batch {batch}, {size:,} parameters",
                     "{:.0f} ms".format(c * 1000), "{:.0f} ms ({:.2f} C)".format(half * 1000, half / c),
                     "{:.1f} ms".format(a * 1000), (c + a) / (c / 2 + a), (c + a) / (half + a),
                     (c + a) / (half + a / 2)])
    headers = ["one step", "forward + backward (C)", "of half the batch (C_half)", "Adam step (A)",
               "bound (C + A) / (C/2 + A)", "bound (C + A) / (C_half + A)", "sharded: (C + A) / (C_half + A/2)"]
    return "{}, CPU time, medians of {} steps; load average {:.1f}\n\n{}".format(
        harness.machine_description(), steps, os.getloadavg()[0], harness.markdown_table(headers, rows, "{:.2f}x"))


# ---------------------------------------------------------------- the table

class Yardstick:
    def __init__(self, quick):
        self.quick = quick
        self.rounds = 3 if quick else 5
        self.rows, self.failures = [], []
        self.ceiling, self.ceiling_how = ceiling(quick)

    def check(self, label, holds, text):
        if not holds:
            self.failures.append(label)
        return "{}: {}".format(text, "yes" if holds else "NO")

    def row(self, label, macs_per_sample, samples_per_second, cores, note="", fraction_target=None):
        mflops = 2.0 * macs_per_sample * samples_per_second / 1e6
        fraction = mflops / (self.ceiling * cores)
        if fraction_target is not None:
            note += ("; " if note else "") + self.check(
                label + " fraction", fraction >= fraction_target,
                ">= {:.1f} of ceiling x {}".format(fraction_target, cores))
        self.rows.append([label, "{:,.0f}".format(macs_per_sample), "{:,.1f}".format(samples_per_second),
                          "{:,.1f}".format(mflops), cores, fraction, note])
        print("  " + " | ".join(str(cell) for cell in self.rows[-1]), file=sys.stderr, flush=True)


HEADERS = ["workload", "multiply-adds per sample (forward + backward)", "samples/s", "effective MFLOP/s",
           "cores", "fraction of ceiling x cores", "notes"]


def measure(bench):
    started = time.perf_counter()
    steps = 4 if bench.quick else 8
    for make in (digits_workload, lambda: gru_workload(steps), lambda: gpt_workload(4 * steps)):
        label, one_pass, samples, _ = make()
        target = None
        if "GRU" in label or "GPT" in label:
            target = TARGETS["sequence_fraction"]
        macs = count_macs(one_pass)
        result = harness.interleave([one_pass], bench.rounds, warmup=1, clock=time.process_time)
        bench.row(label, macs / samples, samples / result.medians[0], 1, note="CPU time", fraction_target=target)
    worker_steps = 2 if bench.quick else 3
    workers_rows(bench, "mlp", "Fashion-MNIST MLP (784-256-128-100-10, batch 64)", 64, worker_steps)
    workers_rows(bench, "cnn", "Fashion-MNIST CNN (conv 8, conv 16, 3x3, pool; Dense 64; batch 32)", 32,
                 worker_steps)
    return time.perf_counter() - started


def report(bench, seconds):
    name = "PyPy {}".format(sys.version.split()[0]) if PYPY else "CPython {}".format(sys.version.split()[0])
    lines = [
        f"## The yardstick: {name}",
        "",
        "`{} bench/yardstick.py{}` on {}; load average at the start {:.1f}; whole run {:.0f} s.".format(
            "pypy3" if PYPY else "python", " --quick" if bench.quick else "", harness.machine_description(),
            bench.load_at_start, seconds),
        "Ceiling, one core: {:,.0f} MFLOP/s ({}). Effective MFLOP/s = 2 x multiply-adds per sample x "
        "samples/s (bench/yardstick.py's docstring says what is counted).".format(bench.ceiling,
                                                                                  bench.ceiling_how),
        "",
        harness.markdown_table(HEADERS, bench.rows, "{:.2f}"),
        "",
        "All targets hold." if not bench.failures else "Targets missed: {}.".format(", ".join(bench.failures)),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- --profile

def profile(which, top=18):
    """cProfile of a few training steps (CPU time), and for gru and gpt the split of the steps'
    CPU time by phase measured without the profiler (which inflates small calls)."""
    text = ""
    if which == "mlp":
        batch = 64
        data = fashion_slice(batch * 3)
        fn = lambda: fit_steps("mlp", data, batch, 1)  # noqa: E731
    else:
        _, fn, _, training = gru_workload(8) if which == "gru" else gpt_workload(32)
        training.one_pass()  # warm-up
        phases = {}
        for _ in range(3):
            training.one_pass(phases)
        total = sum(phases.values())
        text = "CPU time by phase, without the profiler (3 passes):\n" + "".join(
            "  {:<18} {:6.1%}\n".format(phase, phases[phase] / total) for phase in PHASES) + "\n"
    fn()  # warm-up
    profiler = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
    profiler.runcall(fn)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return text + out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds; nothing written")
    parser.add_argument("--profile", choices=("gru", "gpt", "mlp"), help="cProfile a few training steps")
    parser.add_argument("--amdahl", action="store_true",
                        help="forward + backward against the optimizer's step: what 2 workers can gain at most")
    parser.add_argument("--scaling", action="store_true",
                        help="only the scaling table: epoch time with 1 and 2 workers as rows and width grow")
    parser.add_argument("--output", default=None, help="where to write the section (default bench/RESULTS.md)")
    args = parser.parse_args(argv)
    if args.amdahl:
        print(amdahl())
        return 0
    if args.scaling:
        from scaling import scaling  # bench/scaling.py
        print(scaling(2, (192, 384, 768)) if args.quick else scaling(3))
        return 0
    if args.profile:
        print(profile(args.profile))
        return 0
    load = os.getloadavg()[0]
    print(f"{harness.machine_description()}; load average {load:.1f}", file=sys.stderr)
    bench = Yardstick(args.quick)
    bench.load_at_start = load
    print(f"  ceiling: {bench.ceiling:,.0f} MFLOP/s ({bench.ceiling_how})", file=sys.stderr)
    text = report(bench, measure(bench))
    print(text)
    output = args.output or (None if args.quick else os.path.join(HERE, "RESULTS.md"))
    if output:
        harness.write_section(output, text)
    return 0 if not bench.failures else 1


if __name__ == "__main__":
    sys.exit(main())
