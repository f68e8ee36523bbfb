"""Measuring tools for the benchmarks: timing, throughput, memory, machine, tables.

Standard library only, so that a benchmark runs wherever the framework runs.

    from harness import time_median, compare, markdown_table

    seconds = time_median(lambda: matmul_best(a, b), repeats=7)
    result = compare(lambda: framework_step(), lambda: fused_step(), repeats=7)
    print(result.ratio)            # > 1 means the first callable is slower

Timings use time.perf_counter (wall clock, highest resolution available) by
default and report medians: a single slow run (another process waking up, a
garbage collection) moves a mean a lot but a median hardly at all. On a
shared machine pass clock=time.process_time, the CPU time of this process:
time spent waiting while other programs run is then not counted (bench/run.py
does so). interleave() times several callables round-robin and gives, beside
the medians, the median of the ratios of neighbouring runs, which a slow patch
moves least of all.

Run `python bench/harness.py` to print the machine description.
"""
import collections
import contextlib
import gc
import os
import platform
import statistics
import sys
import time

try:
    import tracemalloc  # absent on PyPy
except ImportError:
    tracemalloc = None

try:
    import resource  # POSIX only; absent on Windows
except ImportError:
    resource = None


# ---------------------------------------------------------------- timing

@contextlib.contextmanager
def _gc_paused(pause):
    """Switch the cyclic garbage collector off inside the block when `pause` (as timeit does)."""
    was_enabled = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_runs(fn, repeats=5, warmup=1, disable_gc=False, clock=time.perf_counter):
    """Call fn() warmup times untimed, then repeats times timed; return the list of seconds.

    Warm-up runs fill caches, free lists and lazily built tables so that the
    first timed run is not an outlier. With disable_gc=True the cyclic garbage
    collector is switched off while timing (as timeit does); leave it on when
    comparing whole training loops, since real programs run with it.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1, got {}".format(repeats))
    for _ in range(warmup):
        fn()
    times = []
    with _gc_paused(disable_gc):
        for _ in range(repeats):
            start = clock()
            fn()
            times.append(clock() - start)
    return times


def time_median(fn, repeats=5, warmup=1, disable_gc=False, clock=time.perf_counter):
    """Median seconds (of `clock`) of repeats calls of fn(), after warmup untimed calls."""
    return statistics.median(time_runs(fn, repeats, warmup, disable_gc, clock))


Comparison = collections.namedtuple(
    "Comparison", ["median_a", "median_b", "ratio", "times_a", "times_b"])
Comparison.__doc__ = """Result of compare(): medians in seconds, ratio = median_a / median_b."""


def compare(fn_a, fn_b, repeats=5, warmup=1, disable_gc=False, clock=time.perf_counter):
    """Time fn_a and fn_b alternately (a, b, a, b, ...) and return a Comparison.

    Alternating matters on a shared or thermally throttled machine: a slow
    patch of a few seconds then hits both sides instead of only the one that
    happened to run during it. ratio = median_a / median_b, so ratio 1.15
    means fn_a takes 15% longer than fn_b.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1, got {}".format(repeats))
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    with _gc_paused(disable_gc):
        for _ in range(repeats):
            for fn, times in ((fn_a, times_a), (fn_b, times_b)):
                start = clock()
                fn()
                times.append(clock() - start)
    median_a = statistics.median(times_a)
    median_b = statistics.median(times_b)
    return Comparison(median_a, median_b, median_a / median_b, times_a, times_b)


Interleaved = collections.namedtuple("Interleaved", ["medians", "times"])
Interleaved.__doc__ = """Result of interleave(): median seconds per call of each callable, and every run's seconds."""


def interleave(fns, repeats=5, warmup=1, calls=None, clock=time.perf_counter):
    """Time the callables fns round-robin, forwards then backwards (a, b, c, c, b, a, a, ...).

    Reversing the order every other round means no callable always runs right
    after the same other one (whose garbage it might otherwise pay to collect).
    calls[i] (default 1) is how many times fns[i] is called in one timed run,
    so that a fast callable runs long enough to time well; times are per call.
    Returns an Interleaved.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1, got {}".format(repeats))
    calls = calls or [1] * len(fns)
    for fn, count in zip(fns, calls):
        for _ in range(warmup * count):
            fn()
    times = [[] for _ in fns]
    jobs = list(zip(fns, calls, times))
    for round_number in range(repeats):
        for fn, count, runs in jobs if round_number % 2 == 0 else reversed(jobs):
            start = clock()
            for _ in range(count):
                fn()
            runs.append((clock() - start) / count)
    return Interleaved([statistics.median(runs) for runs in times], times)


def paired_ratio(times_a, times_b):
    """Median of times_a[i] / times_b[i]: the ratio of runs made one after the other.

    Neighbouring runs share the machine's state (its load, its clock speed), so
    their ratio is steadier than the ratio of two medians taken over a whole
    noisy minute.
    """
    return statistics.median(a / b for a, b in zip(times_a, times_b))


def calls_for(fn, seconds=0.05, clock=time.perf_counter):
    """How many calls of fn() take at least `seconds` (at least 1), from one timed call."""
    start = clock()
    fn()
    elapsed = clock() - start
    return max(1, int(seconds / elapsed) + 1) if elapsed > 0 else 1000


def matmul_mflops(n, k, m, seconds):
    """MFLOP/s of an (n, k) @ (k, m) product that took `seconds`.

    The product does n*m dot products of length k: k multiplications and
    k additions each (counting the first addition to zero), so 2*n*k*m flops.
    """
    if seconds <= 0:
        raise ValueError("seconds must be positive, got {}".format(seconds))
    return 2.0 * n * k * m / seconds / 1e6


# ---------------------------------------------------------------- memory

def traced_peak(fn):
    """Call fn() under tracemalloc; return (result, peak bytes allocated by Python during the call).

    tracemalloc counts only allocations made through Python's allocator, and
    tracing slows the call down several times: use it for memory, never
    together with timing.
    """
    if tracemalloc is None:
        raise RuntimeError("tracemalloc is not available on {}".format(platform.python_implementation()))
    already_tracing = tracemalloc.is_tracing()
    if not already_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()  # so that an outer trace's earlier peak is not counted
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not already_tracing:
            tracemalloc.stop()
    return result, max(0, peak - baseline)


def max_rss_bytes():
    """Peak resident set size of this process so far, in bytes, or None where unknown.

    On Linux from VmHWM in /proc/self/status, the high-water mark of this
    program's memory. Not from resource.getrusage there: its ru_maxrss
    survives exec, so a child started by a big parent would report the
    parent's size. Elsewhere from ru_maxrss (kilobytes, but bytes on macOS).
    The value only grows: measure in a fresh process to attribute it to one workload.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ---------------------------------------------------------------- machine

def cpu_model():
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor(), else 'unknown'."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info():
    """Dict describing where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "system": "{} {}".format(platform.system(), platform.machine()),
    }


def machine_description():
    """One line, e.g. 'CPython 3.11.7 on AMD EPYC (2 cores), Linux x86_64'."""
    info = machine_info()
    return "{implementation} {python} on {cpu} ({cores} cores), {system}".format(**info)


# ---------------------------------------------------------------- tables

def markdown_table(headers, rows, float_format="{:.3g}"):
    """Format rows (sequences of cells) as a GitHub Markdown table with aligned columns.

    Floats are written with float_format, other cells with str(); None
    becomes an empty cell. A column whose cells are all numbers (or empty)
    is right-aligned so that digits line up.
    """
    def cell_text(value):
        if value is None:
            return ""
        if isinstance(value, float):
            return float_format.format(value)
        return str(value)

    rows = [list(row) for row in rows]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError("row {!r} has {} cells but there are {} headers".format(
                row, len(row), len(headers)))
    texts = [[cell_text(value) for value in row] for row in rows]
    numeric = [all(row[j] is None or (isinstance(row[j], (int, float)) and not isinstance(row[j], bool))
                   for row in rows) and bool(rows)
               for j in range(len(headers))]
    widths = [max([len(str(header))] + [len(row[j]) for row in texts] + [3])
              for j, header in enumerate(headers)]

    def line(cells):
        padded = [text.rjust(width) if right else text.ljust(width)
                  for text, width, right in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 1) + ":" if right else "-" * (width + 2)
                          for width, right in zip(widths, numeric)) + "|"
    return "\n".join([line([str(header) for header in headers]), rule] + [line(row) for row in texts])


# ---------------------------------------------------------------- results file

def _sections(text):
    """Split a Markdown text at its '## ' headings: [text before the first, section, section, ...]."""
    parts, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("## ") and (current or parts):
            parts.append("".join(current))
            current = []
        current.append(line)
    parts.append("".join(current))
    if not text.startswith("## "):
        return parts
    return [""] + parts


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _write(path, text):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from utils import write_atomic  # the framework's own: a temporary file renamed over the old one
    write_atomic(path, text)


def write_section(path, section):
    """Put `section` (text starting with a '## ' heading) into the Markdown file at path, in
    place of the section with the same heading, or at the end: each script owns its section."""
    heading = section.splitlines()[0]
    parts = _sections(_read(path))
    for index, part in enumerate(parts[1:], 1):
        if part.splitlines()[0] == heading:
            parts[index] = section.rstrip("\n") + "\n\n"
            break
    else:
        if parts[-1] and not parts[-1].endswith("\n\n"):
            parts[-1] = parts[-1].rstrip("\n") + "\n\n"
        parts.append(section.rstrip("\n") + "\n\n")
    _write(path, "".join(parts).rstrip("\n") + "\n")


def write_head(path, head):
    """Replace what comes before the first '## ' heading of the file at path, keeping the sections."""
    parts = _sections(_read(path))
    sections = "".join(parts[1:])
    _write(path, head.rstrip("\n") + "\n" + ("\n" + sections.rstrip("\n") + "\n" if sections else ""))


if __name__ == "__main__":
    print(machine_description())
    print("max RSS so far: {} bytes".format(max_rss_bytes()))
