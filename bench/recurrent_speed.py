"""Speed of the recurrent layers: training steps per second of the names demo's GRU and LSTM.

    python bench/recurrent_speed.py            (about a minute of CPU)

One training step is what demos/names.py does per batch: 32 names of 7 letters (T = 8
steps, the mean name length of the data plus the start token), Embedding(27, 24) ->
GRU(24, 64) (or LSTM, RNN) -> PositionwiseDense(64, 27), the sequence loss, the
backward pass through time and an Adam step. Times are medians of CPU seconds
(time.process_time: the machine is shared), and each ratio is the median of the ratios
of runs made one after the other, alternating which goes first (harness.interleave).

The ratio compares the layer as written (each time step one (n, H) @ (H, G*H) product
over the whole batch; the input projections and the weight gradients of all steps one
product each) with the same layer fed one sequence at a time (n = 1), which has the same
arithmetic but pays every Python-level step of the time loop 32 times over.
"""

import os
import random
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))
sys.path.insert(0, BENCH)

from harness import interleave, machine_description, paired_ratio  # noqa: E402
from losses import SequenceCrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402
from recurrent import GRU, LSTM, RNN  # noqa: E402
from sequence import Embedding, PositionwiseDense  # noqa: E402

BATCH, LENGTH, EMBEDDING, HIDDEN, VOCABULARY = 32, 7, 24, 64, 27


def make_step(cell, rows):
    """A function doing one training step on `rows` (the whole batch, or slices of one row)."""
    rng = random.Random(0)
    network = Network([Embedding(VOCABULARY, EMBEDDING, rng=rng), cell(EMBEDDING, HIDDEN, rng=rng),
                       PositionwiseDense(HIDDEN, VOCABULARY, rng=rng)])
    optimizer = Adam(network.parameters(), lr=0.001)
    loss = SequenceCrossEntropy()
    data = random.Random(1)
    names = [[data.randrange(1, VOCABULARY) for _ in range(LENGTH)] for _ in range(BATCH)]
    inputs = [[0] + name for name in names]
    targets = [name + [0] for name in names]

    def step():
        for start in range(0, BATCH, rows):
            x = Matrix.from_rows(inputs[start:start + rows], LENGTH + 1)
            loss.forward(network.forward(x, training=True), targets[start:start + rows])
            network.backward(loss.backward(), input_grad=False)
        optimizer.step()
    return step


def main():
    print(machine_description())
    print(f"one training step: {BATCH} names of {LENGTH} letters, Embedding({VOCABULARY}, {EMBEDDING}) -> "
          f"cell({EMBEDDING}, {HIDDEN}) -> PositionwiseDense({HIDDEN}, {VOCABULARY}), loss, BPTT, Adam")
    print("| layer | steps/s (CPU), batched over the time step | one sequence at a time | "
          "one-at-a-time time / batched time |")
    print("|---|---:|---:|---:|")
    for cell in (GRU, LSTM, RNN):
        batched, single = make_step(cell, BATCH), make_step(cell, 1)
        result = interleave([batched, single], repeats=7, clock=time.process_time)
        batched_time, single_time = result.medians
        ratio = paired_ratio(result.times[1], result.times[0])
        print(f"| {cell.__name__}({EMBEDDING}, {HIDDEN}) | {1 / batched_time:.2f} | {1 / single_time:.2f} | "
              f"{ratio:.2f} |")


if __name__ == "__main__":
    main()
