"""One training step of a Fashion-MNIST-sized MLP with 1 worker and with 2 (parallel.DataParallel).

    python bench/workers_bench.py [--batch 64] [--batches 3] [--rounds 3]

The network is 784-256-128-10 (ReLU, softmax, cross-entropy, Adam) on random inputs, so
no data set is needed; a step is forward, loss, backward and the optimizer's step, timed
as wall time (perf_counter: the workers' CPU time is not this process's) from one batch's
end to the next inside fit. The contenders alternate, round after round, and each
reports the median of its steps; the ratio is 1-worker time / 2-worker time (2.0 would
be perfect scaling on two free cores). Forking the workers happens before the first
batch and is not in the step times; it is printed apart.
"""

import argparse
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from activations import ReLU, Softmax  # noqa: E402
from callbacks import Callback  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from parallel import DataParallel  # noqa: E402


class StepTimes(Callback):
    def __init__(self):
        self.marks, self.fit_started = [], time.perf_counter()

    def on_epoch_begin(self, run):
        self.marks.append(time.perf_counter())

    def on_batch_end(self, run):
        self.marks.append(time.perf_counter())

    def steps(self):
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


def network():
    rng = random.Random(0)
    return Network([Dense(784, 256, rng=rng), ReLU(), Dense(256, 128, rng=rng), ReLU(), Dense(128, 10, rng=rng),
                    Softmax()])


def run(workers, X, Y, batch):
    net = network()
    timer = StepTimes()
    trainer = net if workers == 1 else DataParallel(net, workers)
    trainer.fit(X, Y, CrossEntropy(), Adam(net.parameters(), lr=0.001), epochs=1, batch_size=batch,
                shuffle=False, callbacks=[timer])
    return timer.steps(), timer.marks[0] - timer.fit_started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=3, help="steps per fit")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(1)
    n = args.batch * args.batches
    X = Matrix([[rng.random() for _ in range(784)] for _ in range(n)])
    Y = Matrix([[1.0 if c == rng.randrange(10) else 0.0 for c in range(10)] for _ in range(n)])
    steps, setup = {1: [], 2: []}, {1: [], 2: []}
    for _ in range(args.rounds):
        for workers in (1, 2):
            times, before = run(workers, X, Y, args.batch)
            steps[workers] += times
            setup[workers].append(before)
    one, two = statistics.median(steps[1]), statistics.median(steps[2])
    print(f"{sys.implementation.name} {sys.version.split()[0]}, {os.cpu_count()} cores, MLP 784-256-128-10, "
          f"batch {args.batch}, {args.rounds} rounds x {args.batches} steps, alternating")
    print(f"1 worker : median step {one * 1000:8.1f} ms  (steps {min(steps[1]) * 1000:.0f}-{max(steps[1]) * 1000:.0f} ms)")
    print(f"2 workers: median step {two * 1000:8.1f} ms  (steps {min(steps[2]) * 1000:.0f}-{max(steps[2]) * 1000:.0f} ms; "
          f"forking and shared memory before the first step: median {statistics.median(setup[2]) * 1000:.0f} ms)")
    print(f"speed-up, 2 workers over 1: {one / two:.2f}x")


if __name__ == "__main__":
    main()
