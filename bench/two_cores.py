"""Do two processes run as fast side by side as one alone? The most any workers can gain.

    python bench/two_cores.py [--rounds 3]

Two loops, each timed alone and then as two processes started together (wall time of each):
a plain Python loop (integer additions: the interpreter's own dispatch, as in activations and
Adam's updates) and math.sumprod / sum(map(mul)) over 784-long rows (the products' C loop). The
ratio is the side-by-side time over the time alone: 1.0 means the second core is a whole core.
"""

import argparse
import math
import os
import random
import statistics
import sys
import time
from multiprocessing import Process, Queue
from operator import mul

DOT = getattr(math, "sumprod", None) or (lambda a, b: sum(map(mul, a, b)))


def plain_loop():
    total = 0
    for i in range(5_000_000):
        total += i
    return total


def dot_products():
    rng = random.Random(0)
    x = [rng.random() for _ in range(784)]
    rows = [[rng.random() for _ in range(784)] for _ in range(256)]
    for _ in range(100):
        [DOT(x, row) for row in rows]


def timed(work, queue=None):
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    if queue is not None:
        queue.put(seconds)
    return seconds


def side_by_side(work):
    queue = Queue()
    processes = [Process(target=timed, args=(work, queue)) for _ in range(2)]
    for process in processes:
        process.start()
    times = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    return max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{sys.implementation.name} {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; medians of {args.rounds} rounds, alone and side by side alternating")
    for name, work in (("plain loop", plain_loop), ("dot products", dot_products)):
        alone, together = [], []
        for _ in range(args.rounds):
            alone.append(timed(work))
            together.append(side_by_side(work))
        a, b = statistics.median(alone), statistics.median(together)
        print(f"{name:<13} alone {a:.3f} s   two side by side {b:.3f} s (the slower)   ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
