"""The scaling table of `python bench/yardstick.py --scaling` (issue 16): the wall time of one epoch
of Network.fit on the committed Fashion-MNIST slice with 1 worker and with 2 (parallel.DataParallel,
forking included), the two alternating round by round, as the rows grow and as the hidden width
grows, each beside "linear": the group's first row scaled by the rows, or by the width (784 h + 10 h
multiply-adds a row, proportional to h).
"""

import os
import random
import statistics
import time

import harness
from yardstick import fashion_slice


def epoch_seconds(hidden, data, workers, batch=64):
    """Wall seconds of one epoch of Network.fit (workers forked and ended inside) over `data`."""
    from activations import ReLU, Softmax
    from layers import Dense
    from losses import CrossEntropy
    from network import Network
    from optimizers import Adam
    from parallel import DataParallel
    rng = random.Random(0)
    layers, width = [], 784
    for units in hidden:
        layers += [Dense(width, units, rng=rng), ReLU()]
        width = units
    network = Network(layers + [Dense(width, 10, rng=rng), Softmax()])
    trainer = network if workers == 1 else DataParallel(network, workers, seed=0)
    started = time.perf_counter()
    trainer.fit(data, data.targets, CrossEntropy(), Adam(network.parameters(), lr=0.001), epochs=1,
                batch_size=batch, shuffle=False)
    return time.perf_counter() - started


def scaling(rounds, sizes=(384, 768, 1536)):
    """Markdown: epoch time (wall) with 1 and 2 workers as rows grow (`sizes`) and as the hidden
    width grows (on sizes[1] rows)."""
    cases = [("rows", n, (256, 128, 100)) for n in sizes] + [("width", sizes[1], (h,)) for h in (64, 128, 256)]
    slices = {n: fashion_slice(n) for n in sizes}
    times = {(case, workers): [] for case in cases for workers in (1, 2)}
    loads = [os.getloadavg()[0]]
    for round_number in range(rounds):
        for workers in ((1, 2) if round_number % 2 == 0 else (2, 1)):
            for case in cases:
                times[case, workers].append(epoch_seconds(case[2], slices[case[1]], workers))
        loads.append(os.getloadavg()[0])
    median = {key: statistics.median(values) for key, values in times.items()}
    rows = []
    for kind in ("rows", "width"):
        group = [case for case in cases if case[0] == kind]
        base = group[0]
        for case in group:
            # linear: in rows, the epoch does proportionally more batches; in width, both layers
            # cost 784 * h + h * 10 multiply-adds per row, proportional to h
            factor = case[1] / base[1] if kind == "rows" else case[2][0] / base[2][0]
            one, two = median[case, 1], median[case, 2]
            rows.append(["784-{}-10, {:,} rows".format("-".join(map(str, case[2])), case[1]),
                         "{:.2f} s".format(one), "{:.2f} s".format(median[base, 1] * factor),
                         one / (median[base, 1] * factor), "{:.2f} s".format(two),
                         "{:.2f} s".format(median[base, 2] * factor), two / (median[base, 2] * factor), one / two])
    headers = ["Fashion-MNIST slice, batch 64, Adam", "1 worker", "linear", "1 worker / linear", "2 workers",
               "linear", "2 workers / linear", "speed-up, 2 over 1"]
    return ("{}; wall time of one epoch (forking included), medians of {} alternating rounds; load average "
            "{:.1f}-{:.1f}\n\n".format(harness.machine_description(), rounds, min(loads), max(loads))
            + harness.markdown_table(headers, rows, "{:.2f}"))
