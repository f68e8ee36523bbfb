"""The tiny GPT's training step: this framework's layers against the scalar-autograd original.

    python bench/tiny_gpt.py                                  # our steps per CPU second
    python bench/tiny_gpt.py --scalar /tmp/microgpt/microgpt.py --rounds 3 --steps 30
    python bench/tiny_gpt.py --curve --scalar-log /tmp/microgpt/run.log    # the two loss curves

The model is demos/names_transformer.py's tiny-gpt (4,192 parameters), trained as
`python demos/names.py --model tiny-gpt` trains it: one name per step, Adam with
betas (0.85, 0.99), the learning rate falling linearly over 1,000 steps.

--scalar PATH times a copy of the dependency-free ~200-line GPT (Karpathy's microgpt,
which nothing in this repository contains: fetch a public copy and put it outside the
repo, with names.txt beside it as input.txt). It runs unchanged in a child process on
the same Python, and each of its steps is timed by the child's CPU time (from
/proc/<pid>/stat) between the lines it prints after each step. Both sides train on the
same names in the same order: the original shuffles all 32,033 names with
random.seed(42), and so does this script, so step k is the same name on both sides.
Rounds alternate the two sides; the figures are medians, and the ratio is the median
of the rounds' ratios. CPU time, not wall time: the machine is shared.

--curve trains the framework's tiny GPT for the whole 1,000 steps on that same order of
names and prints the mean loss of every 100 steps; --scalar-log FILE puts beside it the
same means of the losses the original printed in a full run (its "step k / 1000 | loss x"
lines, saved to FILE). Same model, names, order and schedule; only the random initial
weights differ (both drawn from N(0, 0.08^2)).
"""

import argparse
import os
import re
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

from harness import machine_description  # noqa: E402
from demos import names  # noqa: E402
from layers import seed as seed_layers  # noqa: E402
from losses import SequenceCrossEntropy  # noqa: E402
from network import Network  # noqa: E402
from optimizers import Adam  # noqa: E402


def original_order():
    """All the names in the order the original trains on: random.seed(42); random.shuffle(docs)."""
    with open(names.DATA_PATH, encoding="utf-8") as file:
        docs = [line.strip() for line in file.read().strip().split("\n") if line.strip()]
    random.Random(42).shuffle(docs)
    return docs


def time_ours(order, first, steps, losses=None):
    """CPU seconds of each of `steps` training steps, on the names order[first:first + steps];
    each step's loss is appended to `losses` when given."""
    settings = names.MODELS["tiny-gpt"].defaults
    seed_layers(0)
    network = Network(names.MODELS["tiny-gpt"].build(settings, len(names.VOCABULARY)))
    data = names.SequenceData(order, settings["context"])
    loss = SequenceCrossEntropy(ignore_index=names.IGNORE)
    optimizer = Adam(network.parameters(), lr=settings["lr"], betas=settings["betas"])
    clock, times = time.process_time, []
    for step in range(first, first + steps):
        started = clock()
        x, targets = data.batch([step])
        value = loss.forward(network.forward(x, training=True), targets)
        if losses is not None:
            losses.append(value)
        network.backward(loss.backward(), input_grad=False)
        optimizer.lr = names.learning_rate(settings, step)
        optimizer.step()
        times.append(clock() - started)
    return times


def time_scalar(path, steps):
    """CPU seconds of the original's steps 2 .. steps + 1 (between its 'step k' lines), per step."""
    child = subprocess.Popen([sys.executable, "-u", os.path.basename(path)], cwd=os.path.dirname(path) or ".",
                             stdout=subprocess.PIPE, text=True)
    tick = os.sysconf("SC_CLK_TCK")

    def cpu_seconds():
        with open(f"/proc/{child.pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    seen, started = 0, None
    try:
        for line in child.stdout:
            if not line.startswith("step"):
                continue
            seen += 1
            if seen == 1:
                started = cpu_seconds()
            elif seen == steps + 1:
                return (cpu_seconds() - started) / steps
        raise RuntimeError(f"{path} stopped after {seen} steps")
    finally:
        child.kill()
        child.wait()


def curve(args, order):
    """The mean loss of every 100 steps of a whole run, ours and (from its log) the original's."""
    losses = []
    seconds = sum(time_ours(order, 0, names.MODELS["tiny-gpt"].defaults["steps"], losses))
    theirs = []
    if args.scalar_log:
        with open(args.scalar_log, encoding="utf-8") as file:
            theirs = [float(value) for value in re.findall(r"step +\d+ / \d+ \| loss ([\d.]+)", file.read())]
    print(f"mean loss of each 100 steps (ours: {seconds:.1f} CPU seconds for {len(losses)} steps)")
    print("steps       framework  scalar autograd")
    for start in range(0, len(losses), 100):
        mine = statistics.fmean(losses[start:start + 100])
        other = f"{statistics.fmean(theirs[start:start + 100]):.4f}" if len(theirs) >= start + 100 else ""
        print(f"{start + 1:>4}-{start + 100:<4}  {mine:9.4f}  {other:>15}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scalar", help="a copy of the scalar-autograd GPT (outside this repository)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--steps", type=int, default=30, help="steps timed per round (default 30)")
    parser.add_argument("--curve", action="store_true", help="train 1,000 steps and print the loss curve")
    parser.add_argument("--scalar-log", help="the printed output of a full run of the scalar GPT")
    args = parser.parse_args()
    order = original_order()
    if args.curve:
        return curve(args, order)
    ours, theirs, ratios = [], [], []
    for round_number in range(args.rounds):
        sides = ["ours", "scalar"] if round_number % 2 == 0 else ["scalar", "ours"]
        figures = {}
        for side in sides:
            if side == "ours":
                # steps 2 .. steps + 1 (index 1 ..), the names the original's timed steps see
                figures[side] = statistics.fmean(time_ours(order, 1, args.steps))
            elif args.scalar:
                figures[side] = time_scalar(args.scalar, args.steps)
        ours.append(figures["ours"])
        if "scalar" in figures:
            theirs.append(figures["scalar"])
            ratios.append(figures["scalar"] / figures["ours"])
        print(f"round {round_number + 1}: ours {figures['ours'] * 1000:.2f} ms/step"
              + (f", scalar {figures['scalar'] * 1000:.1f} ms/step, ratio {ratios[-1]:.1f}x" if ratios else ""),
              flush=True)
    print(machine_description())
    print(f"tiny GPT, {args.steps} steps per round, {args.rounds} rounds, CPU time per step (medians):")
    print(f"  framework: {statistics.median(ours) * 1000:.2f} ms/step = {1 / statistics.median(ours):.1f} steps/s")
    if ratios:
        print(f"  scalar autograd: {statistics.median(theirs) * 1000:.1f} ms/step = "
              f"{1 / statistics.median(theirs):.2f} steps/s")
        print(f"  framework faster by {statistics.median(ratios):.1f}x (median of the rounds' ratios; "
              f"{', '.join(f'{r:.1f}' for r in ratios)})")


if __name__ == "__main__":
    main()
