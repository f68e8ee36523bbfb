"""One training step with 1 worker and with 2 (parallel.DataParallel), the optimizer's step taken
by the main process or shared out among the workers (sharded_step.py).

    python bench/workers_bench.py [--batch 64] [--batches 3] [--rounds 3]
    python bench/workers_bench.py --fashion mlp|cnn    # the demo's network on the committed slice

The network is 784-256-128-10 (ReLU, softmax, cross-entropy, Adam) on random inputs, so
no data set is needed (with --fashion, demos/fashion_mnist.py's MLP 784-256-128-100-10 or CNN
on the committed Fashion-MNIST slice); a step is forward, loss, backward and the optimizer's step, timed
as wall time (perf_counter: the workers' CPU time is not this process's) from one batch's
end to the next inside fit. The contenders alternate, round after round, and each
reports the median of its steps (the first of each fit left out: the workers' first step
takes the optimizer's state); the ratio is 1-worker time / 2-worker time (2.0 would
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
        return [b - a for a, b in zip(self.marks[1:], self.marks[2:])]


def network(fashion=None):
    if fashion:
        from demos import fashion_mnist
        return fashion_mnist.MODELS[fashion](random.Random(0))
    rng = random.Random(0)
    return Network([Dense(784, 256, rng=rng), ReLU(), Dense(256, 128, rng=rng), ReLU(), Dense(128, 10, rng=rng),
                    Softmax()])


CONTENDERS = {"1 worker": (1, False), "2 workers, main steps": (2, False), "2 workers, sharded step": (2, True)}


def run(contender, X, Y, batch, fashion):
    workers, sharded = CONTENDERS[contender]
    net = network(fashion)
    timer = StepTimes()
    trainer = net if workers == 1 else DataParallel(net, workers, shard_optimizer=sharded)
    trainer.fit(X, Y, CrossEntropy(), Adam(net.parameters(), lr=0.001), epochs=1, batch_size=batch,
                shuffle=False, callbacks=[timer])
    return timer.steps(), timer.marks[0] - timer.fit_started


def fashion_slice(rows):
    from demos import fashion_mnist
    data = fashion_mnist.load_part(fashion_mnist.DATA_DIR, fashion_mnist.SLICE_PREFIX, "train")
    return data.subset(range(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="rows per step (64; --fashion cnn: 32)")
    parser.add_argument("--batches", type=int, default=4, help="steps per fit (the first is left out)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fashion", choices=("mlp", "cnn"), help="the Fashion-MNIST demo's network and data")
    args = parser.parse_args()
    batch = args.batch or (32 if args.fashion == "cnn" else 64)
    n = batch * args.batches
    if args.fashion:
        X = fashion_slice(n)
        Y = X.targets
        what = {"mlp": "Fashion MLP 784-256-128-100-10", "cnn": "Fashion CNN"}[args.fashion]
    else:
        rng = random.Random(1)
        X = Matrix([[rng.random() for _ in range(784)] for _ in range(n)])
        Y = Matrix([[1.0 if c == rng.randrange(10) else 0.0 for c in range(10)] for _ in range(n)])
        what = "MLP 784-256-128-10, random data"
    steps = {name: [] for name in CONTENDERS}
    setup = {name: [] for name in CONTENDERS}
    order = list(CONTENDERS)
    for round_number in range(args.rounds):
        for name in (order if round_number % 2 == 0 else order[::-1]):
            times, before = run(name, X, Y, batch, args.fashion)
            steps[name] += times
            setup[name].append(before)
    print(f"{sys.implementation.name} {sys.version.split()[0]}, {os.cpu_count()} cores, {what}, batch {batch}, "
          f"{args.rounds} rounds x {args.batches - 1} steps, alternating; load average {os.getloadavg()[0]:.1f}")
    one = statistics.median(steps["1 worker"])
    for name in order:
        median = statistics.median(steps[name])
        print(f"{name:<24}: median step {median * 1000:8.1f} ms  (steps {min(steps[name]) * 1000:.0f}-"
              f"{max(steps[name]) * 1000:.0f} ms; before the first step {statistics.median(setup[name]) * 1000:.0f} ms)"
              f"  speed-up {one / median:.2f}x")


if __name__ == "__main__":
    main()
