"""What collecting the HTML report costs: one digits epoch of Network.fit with and without
the ReportCollector callback, alternating, medians of CPU time (python bench/report_overhead.py).

Off, the report costs nothing: the collector is simply not among the callbacks. On, it adds one
sum of squares per weight matrix per batch and copies the weights at a few epochs; the target
is at most 5% of an epoch.
"""

import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

import harness  # noqa: E402
import run  # noqa: E402
from app.report import ReportCollector  # noqa: E402
from matrix import Matrix  # noqa: E402


def epoch(callbacks):
    rng = random.Random(0)
    network = run.digits_network(rng)
    optimizer = run.Adam(network.parameters(), lr=0.001)
    network.fit(X, Y, run.CrossEntropy(), optimizer, epochs=1, batch_size=32, rng=rng, callbacks=callbacks())


X_rows, Y_rows = run.load_digits()
X, Y = Matrix(X_rows), Matrix(Y_rows)

if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    medians, times = harness.interleave([lambda: epoch(list), lambda: epoch(lambda: [ReportCollector()])],
                                        repeats, clock=time.process_time)
    print(f"Python {sys.version.split()[0]}, digits epoch (1,437 rows, 64-64-10, Adam, batch 32), {repeats} rounds")
    print(f"| without the report | {medians[0]:.3f} s |")
    print(f"| with ReportCollector | {medians[1]:.3f} s |")
    print(f"| with / without (median of neighbouring pairs) | {harness.paired_ratio(times[1], times[0]):.3f} |")
