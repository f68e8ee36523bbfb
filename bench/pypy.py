"""PyPy against CPython on the same machine, in one run: both interpreters, alternately.

    python bench/pypy.py                      # about 3 minutes; the table, also into bench/RESULTS.md
    python bench/pypy.py --quick              # fewer rounds, writes nothing
    python bench/pypy.py --pypy /opt/pypy3.10/bin/pypy3 --cpython python3.11

The framework is pure Python, so PyPy runs it unchanged, and its JIT compiles
the plain loops of matrix.py's "loops" kernel to machine code (matrix.py picks
that kernel on PyPy and the "builtins" one on CPython, at import). This script
starts one worker process per interpreter (this file with --worker), warms
each one up (PyPy's JIT compiles a loop after it has run a while), then asks
them for one timed run after the other, alternating which goes first, so that
a slow patch of a shared machine hits both. Each worker times its own CPU
seconds (time.process_time). A speed-up is the median over rounds of
CPython's time / PyPy's time in the same round.

Workloads: Matrix @ at 128x128 (and 64x64), one digits epoch of Network.fit
(64-64-10, Adam, batch 32, 1,437 rows, as bench/run.py), an Adam step on the
digits network's parameters; and each interpreter with the other's kernel, to
show that the kernel picked is the faster one there.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

TARGETS = {"digits epoch": 8.0, "A @ B, 128x128": 15.0}  # PyPy at least this many times faster (issue 16)


# ---------------------------------------------------------------- the worker

def worker_tasks():
    """name -> (callable, calls per timed run); built inside the worker, on its interpreter."""
    import matrix
    import run
    from layers import Parameter
    from matrix import Matrix
    from optimizers import Adam

    rng = random.Random(0)
    a128, b128 = Matrix.random(128, 128, rng), Matrix.random(128, 128, rng)
    a64, b64 = Matrix.random(64, 64, rng), Matrix.random(64, 64, rng)
    X_rows, Y_rows = run.load_digits()
    X, Y = Matrix(X_rows), Matrix(Y_rows)
    params = []
    for shape in ((64, 64), (1, 64), (64, 10), (1, 10)):
        param = Parameter(Matrix.random(*shape, rng), "p")
        param.grad = Matrix.random(*shape, rng, scale=0.1)
        params.append(param)
    adam = Adam(params, lr=1e-3)

    def with_kernel(name, fn):
        def call():
            chosen = matrix.use_kernels(name)
            try:
                return fn()
            finally:
                matrix.use_kernels(chosen)
        return call

    own, other = matrix.KERNEL, ("builtins" if matrix.KERNEL == "loops" else "loops")
    return {
        "A @ B, 128x128": (lambda: a128 @ b128, 0.2),
        "A @ B, 64x64": (lambda: a64 @ b64, 0.2),
        "digits epoch": (lambda: run.fit_digits(X, Y), 0.0),
        "Adam step, 4,810 parameters": (adam.step, 0.2),
        "A @ B, 128x128, other kernel": (with_kernel(other, lambda: a128 @ b128), 0.2),
        "digits epoch, other kernel": (with_kernel(other, lambda: run.fit_digits(X, Y)), 0.0),
        "_kernels": ((own, other), None),
    }


def worker():
    """Answer one JSON line per request: {"task": name} -> {"seconds": per call}; "warm" warms up."""
    tasks = worker_tasks()
    calls = {}
    for line in sys.stdin:
        request = json.loads(line)
        name = request["task"]
        if name == "describe":
            own, other = tasks["_kernels"][0]
            reply = {"version": sys.version.split()[0], "implementation": sys.implementation.name,
                     "kernel": own, "other": other}
        elif name == "warm":
            for task, (fn, _) in tasks.items():
                if task.startswith("_"):
                    continue
                started = time.process_time()
                while time.process_time() - started < request["seconds"]:
                    fn()
            reply = {}
        else:
            fn, seconds = tasks[name]
            if name not in calls:  # enough calls per timed run to last `seconds` (at least one)
                started = time.process_time()
                fn()
                elapsed = time.process_time() - started
                calls[name] = max(1, int(seconds / elapsed) + 1) if elapsed > 0 else 100
            started = time.process_time()
            for _ in range(calls[name]):
                fn()
            reply = {"seconds": (time.process_time() - started) / calls[name]}
        print(json.dumps(reply), flush=True)
    return 0


# ---------------------------------------------------------------- the parent

class Worker:
    def __init__(self, interpreter):
        self.process = subprocess.Popen([interpreter, os.path.abspath(__file__), "--worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def ask(self, task, **options):
        self.process.stdin.write(json.dumps(dict(options, task=task)) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the worker ended early (see its traceback above)")
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def measure(cpython, pypy, rounds, warm_seconds):
    workers = {"cpython": Worker(cpython), "pypy": Worker(pypy)}
    try:
        info = {side: w.ask("describe") for side, w in workers.items()}
        for side, w in workers.items():
            print("  warming up {} ...".format(side), file=sys.stderr, flush=True)
            w.ask("warm", seconds=warm_seconds)
        names = ["A @ B, 128x128", "A @ B, 64x64", "digits epoch", "Adam step, 4,810 parameters",
                 "A @ B, 128x128, other kernel", "digits epoch, other kernel"]
        times = {name: {"cpython": [], "pypy": []} for name in names}
        for round_number in range(rounds):
            order = ["cpython", "pypy"] if round_number % 2 == 0 else ["pypy", "cpython"]
            for name in names:
                for side in order:
                    times[name][side].append(workers[side].ask(name)["seconds"])
            print("  round {}/{}".format(round_number + 1, rounds), file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()
    return info, times


def report(info, times, rounds, command, seconds):
    import harness
    rows, failures = [], []
    for name, sides in times.items():
        c, p = statistics.median(sides["cpython"]), statistics.median(sides["pypy"])
        speedup = statistics.median(a / b for a, b in zip(sides["cpython"], sides["pypy"]))
        target = ""
        if name in TARGETS:
            holds = speedup >= TARGETS[name]
            target = ">= {:.0f}x: {}".format(TARGETS[name], "yes" if holds else "NO")
            if not holds:
                failures.append(name)
        label = name
        if name.endswith("other kernel"):
            label = name.replace("other kernel", "each with the other's kernel ({} on CPython, {} on PyPy)".format(
                info["cpython"]["other"], info["pypy"]["other"]))

        def cell(value):
            return "{:,.1f} ms".format(value * 1e3) if value >= 1e-3 else "{:,.0f} us".format(value * 1e6)
        rows.append([label, cell(c), cell(p), speedup, target])
    # each interpreter: its own kernel against the other's
    kernel_rows = []
    for side in ("cpython", "pypy"):
        for work in ("A @ B, 128x128", "digits epoch"):
            own, other = times[work][side], times[work + ", other kernel"][side]
            kernel_rows.append(["{} {}: {}".format(info[side]["implementation"], info[side]["version"], work),
                                info[side]["kernel"], info[side]["other"],
                                statistics.median(b / a for a, b in zip(own, other))])
    lines = [
        "## PyPy against CPython",
        "",
        "`{}` on {}: CPython {} ({} kernel) and PyPy {} ({} kernel), one worker process each, "
        "{} alternating rounds after a warm-up; medians of CPU seconds; speed-up = CPython time / PyPy time "
        "in the same round (median). Whole run: {:.0f} s.".format(
            command, harness.machine_description().split(" on ", 1)[-1], info["cpython"]["version"],
            info["cpython"]["kernel"], info["pypy"]["version"], info["pypy"]["kernel"], rounds, seconds),
        "",
        harness.markdown_table(["work", "CPython", "PyPy", "PyPy speed-up", "target"], rows, "{:.1f}x"),
        "",
        "The kernel matrix.py picks, against the other one, on each interpreter (other's time / own time: "
        "above 1.00 the pick is right):",
        "",
        harness.markdown_table(["interpreter: work", "kernel picked", "other kernel", "other / picked"],
                               kernel_rows, "{:.2f}"),
        "",
        "All targets hold." if not failures else "Targets missed: {}.".format(", ".join(failures)),
    ]
    return "\n".join(lines) + "\n", failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpython", default="python", help="the CPython to compare (default: python)")
    parser.add_argument("--pypy", default="pypy3", help="the PyPy to compare (default: pypy3)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 9, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 rounds and a short warm-up; writes nothing")
    parser.add_argument("--output", default=None, help="the results file (default bench/RESULTS.md)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker()
    for interpreter in (args.cpython, args.pypy):
        if shutil.which(interpreter) is None and not os.path.exists(interpreter):
            print("error: interpreter {!r} not found (PyPy on Debian: apt-get install pypy3)".format(interpreter),
                  file=sys.stderr)
            return 2
    rounds = args.rounds or (3 if args.quick else 9)
    started = time.perf_counter()
    info, times = measure(args.cpython, args.pypy, rounds, 2.0 if args.quick else 8.0)
    command = "python bench/pypy.py" + (" --quick" if args.quick else "")
    text, failures = report(info, times, rounds, command, time.perf_counter() - started)
    print(text)
    output = args.output or (None if args.quick else os.path.join(HERE, "RESULTS.md"))
    if output:
        import harness
        harness.write_section(output, text)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
