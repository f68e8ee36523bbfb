"""Before and after of each speed-up: undo one optimization at a time and time a digits epoch.

    python bench/ablation.py          # about a minute; --repeats N for more runs

Each optimization of issue 6 is undone by putting the code it replaced back
in place (the old versions are kept below, word for word) for the length of
one measurement, and one epoch of Network.fit on the digits (64-64-10, Adam,
batch 32, 1437 rows, as bench/run.py) is timed with and without it,
alternately. "speed-up" = epoch time with it undone / epoch time as shipped;
"all undone" puts every old version back at once, which is the framework as
it was before the issue.
"""
import argparse
import contextlib
import math
import operator
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.dirname(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import harness  # noqa: E402
import matrix_kernels  # noqa: E402
from matrix_api import old_decayed_grad_rows  # noqa: E402
import run  # noqa: E402
from activations import softmax_rows  # noqa: E402
from layers import Dense  # noqa: E402
from losses import CrossEntropy, _as_target_matrix  # noqa: E402
from matrix import Matrix  # noqa: E402
from optimizers import Adam  # noqa: E402


# ---------------------------------------------------------------- the old versions

def dense_backward_always_input_grad(self, grad, input_grad=True):
    """Dense.backward as shipped, but computing dX even when the caller does not need it."""
    return shipped_dense_backward(self, grad, True)


def old_cross_entropy_forward(self, logits, target):
    """CrossEntropy.forward before: exp() of every logit in a generator, nothing kept."""
    target = _as_target_matrix(logits, target, "CrossEntropy")
    total = 0.0
    for z, t in zip(logits.rows, target.rows):
        top = max(z)
        log_sum_exp = top + math.log(sum(math.exp(v - top) for v in z))
        total += sum(tj * (log_sum_exp - zj) for zj, tj in zip(z, t) if tj)
    self.logits, self.target = logits, target
    return total / logits.shape[0]


def old_cross_entropy_backward(self):
    """CrossEntropy.backward before: softmax (and so every exp()) computed a second time."""
    n = self.logits.shape[0]
    probs = softmax_rows(self.logits)
    out = []
    for p, t in zip(probs.rows, self.target.rows):
        mass = sum(t)
        out.append([(pj * mass - tj) / n for pj, tj in zip(p, t)])
    return Matrix.from_rows(out, self.logits.shape[1])


def old_adam_update(self, param, state):
    """Adam._update before: (1 - beta1) and (1 - beta2) computed once per entry."""
    lr, eps, (beta1, beta2) = self.lr, self.eps, self.betas
    rows = param.value.rows
    if self.decoupled:
        shrink = 1.0 - lr * self.weight_decay
        rows[:] = [[p * shrink for p in prow] for prow in rows]
        grads = param.grad.rows
    else:
        grads = old_decayed_grad_rows(self, param)
    if "exp_avg" not in state:
        state["exp_avg"] = Matrix.zeros(*param.value.shape)
        state["exp_avg_sq"] = Matrix.zeros(*param.value.shape)
    m, v = state["exp_avg"].rows, state["exp_avg_sq"].rows
    m[:] = [[beta1 * a + (1.0 - beta1) * g for a, g in zip(arow, grow)] for arow, grow in zip(m, grads)]
    v[:] = [[beta2 * b + (1.0 - beta2) * g * g for b, g in zip(brow, grow)] for brow, grow in zip(v, grads)]
    step_size = lr / (1.0 - beta1 ** self.t)
    root_correction = math.sqrt(1.0 - beta2 ** self.t)
    sqrt = math.sqrt
    rows[:] = [
        [p - step_size * a / (sqrt(b) / root_correction + eps) for p, a, b in zip(prow, arow, brow)]
        for prow, arow, brow in zip(rows, m, v)
    ]


def _old_dot(row, column, _mul=operator.mul):
    return sum(map(_mul, row, column))


def old_dots(row, columns):
    """Before 3.12 the product called a Python helper for every dot product (3.12+ used sumprod directly)."""
    dot = getattr(math, "sumprod", _old_dot)
    return [dot(row, column) for column in columns]


shipped_dense_backward = Dense.backward

UNDO = [  # (what the optimization is, [(object, attribute, old value), ...])
    ("Matrix @ skips exact zeros of sparse rows", [(matrix_kernels, "_SKIP_MIN_COLUMNS", 10 ** 9)]),
    ("first layer's dX not computed", [(Dense, "backward", dense_backward_always_input_grad)]),
    ("softmax kept from CrossEntropy.forward", [(CrossEntropy, "forward", old_cross_entropy_forward),
                                                (CrossEntropy, "backward", old_cross_entropy_backward)]),
    ("Adam: 1 - beta out of the comprehensions", [(Adam, "_update", old_adam_update)]),
    ("dot products inline, not through a helper (before 3.12)", [(matrix_kernels, "_dots", old_dots)]),
]


@contextlib.contextmanager
def undone(changes):
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in changes]
    try:
        for owner, name, old in changes:
            setattr(owner, name, old)
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--wall", action="store_true", help="wall clock instead of this process's CPU time")
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.wall else time.process_time
    X_rows, Y_rows = run.load_digits()
    X, Y = Matrix(X_rows), Matrix(Y_rows)
    reference = run.fit_digits(X, Y)

    def epoch():
        return run.fit_digits(X, Y)

    def epoch_with(changes):
        def undone_epoch():
            with undone(changes):
                network = run.fit_digits(X, Y)
            return network
        return undone_epoch

    print(harness.machine_description())
    rows = []
    everything = [change for _, changes in UNDO for change in changes]
    for label, changes in UNDO + [("all of the above undone (the framework before issue 6)", everything)]:
        network = epoch_with(changes)()
        same = max(abs(p - q) for a, b in zip(network.parameters(), reference.parameters())
                   for ra, rb in zip(a.value.rows, b.value.rows) for p, q in zip(ra, rb))
        result = harness.interleave([epoch_with(changes), epoch], args.repeats, warmup=1, clock=clock)
        ratio = harness.paired_ratio(result.times[0], result.times[1])
        rows.append([label, result.medians[0], result.medians[1], ratio, "{:.0e}".format(same)])
        print("  " + label, file=sys.stderr, flush=True)
    print(harness.markdown_table(["optimization", "epoch s, undone", "epoch s, shipped", "speed-up",
                                  "largest weight difference"], rows, "{:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
