"""Before and after Matrix's public update operations: optimizer steps and a digits epoch.

    python bench/matrix_api.py            # about a minute; --repeats N for more runs

The optimizers used to rewrite `param.value.rows` with list comprehensions
written out for each formula (the versions before are kept below, word for
word but for the constructor's public name, from_rows); they now say each formula once through Matrix.update_ and
Matrix.combine, e.g. m.update_(lambda m, g: beta1 * m + (1 - beta1) * g, g).
The arithmetic is the same, operation for operation, so the weights agree
bit for bit (checked below); what changes is that CPython now calls a lambda
for every entry (from map(), in matrix_kernels.py), where the comprehension
ran the formula inline. On PyPy the "loops" kernels run the update.

Each row times the same work done the old way and the new way, alternately
(harness.interleave), and reports medians of CPU seconds and the median of
the paired ratios new / old: above 1.00 the new code is slower.
  * a step of each optimizer on the digits network's parameters (64x64, 1x64,
    64x10, 1x10: 4,810 entries), gradients fixed;
  * one digits epoch of Network.fit with Adam (as bench/run.py), old Adam vs new.
"""
import argparse
import math
import os
import platform
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.dirname(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import harness  # noqa: E402
import run  # noqa: E402
from layers import Parameter  # noqa: E402
from matrix import Matrix  # noqa: E402
from optimizers import SGD, Adam, AdamW, RMSprop  # noqa: E402


# ---------------------------------------------------------------- the old versions, word for word

def old_decayed_grad_rows(self, param):
    """Rows of g + lambda * p: L2 weight decay added to the gradient (as torch.optim's weight_decay)."""
    decay = self.weight_decay
    if not decay:
        return param.grad.rows
    return [[g + decay * p for g, p in zip(grow, prow)] for grow, prow in zip(param.grad.rows, param.value.rows)]


def old_sgd_update(self, param, state):
    lr, mu = self.lr, self.momentum
    grads = old_decayed_grad_rows(self, param)
    if mu:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = Matrix.from_rows([row[:] for row in grads], param.value.shape[1])
        else:
            buf = state["momentum_buffer"].rows
            buf[:] = [[mu * b + g for b, g in zip(brow, grow)] for brow, grow in zip(buf, grads)]
        buf = state["momentum_buffer"].rows
        if self.nesterov:
            grads = [[g + mu * b for g, b in zip(grow, brow)] for grow, brow in zip(grads, buf)]
        else:
            grads = buf
    rows = param.value.rows
    rows[:] = [[p - lr * g for p, g in zip(prow, grow)] for prow, grow in zip(rows, grads)]


def old_rmsprop_update(self, param, state):
    lr, alpha, eps, mu = self.lr, self.alpha, self.eps, self.momentum
    grads = old_decayed_grad_rows(self, param)
    if "square_avg" not in state:
        state["square_avg"] = Matrix.zeros(*param.value.shape)
    sq = state["square_avg"].rows
    sq[:] = [[alpha * v + (1.0 - alpha) * g * g for v, g in zip(vrow, grow)] for vrow, grow in zip(sq, grads)]
    steps = [[g / (math.sqrt(v) + eps) for g, v in zip(grow, vrow)] for grow, vrow in zip(grads, sq)]
    if mu:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = Matrix.zeros(*param.value.shape)
        buf = state["momentum_buffer"].rows
        buf[:] = [[mu * b + s for b, s in zip(brow, srow)] for brow, srow in zip(buf, steps)]
        steps = buf
    rows = param.value.rows
    rows[:] = [[p - lr * s for p, s in zip(prow, srow)] for prow, srow in zip(rows, steps)]


def old_adam_update(self, param, state):
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
    # 1 - beta computed once here, not once per entry inside the comprehensions
    one_minus_beta1, one_minus_beta2 = 1.0 - beta1, 1.0 - beta2
    m[:] = [[beta1 * a + one_minus_beta1 * g for a, g in zip(arow, grow)] for arow, grow in zip(m, grads)]
    v[:] = [[beta2 * b + one_minus_beta2 * g * g for b, g in zip(brow, grow)] for brow, grow in zip(v, grads)]
    # lr * m_hat / (sqrt(v_hat) + eps), with the corrections folded into two scalars
    step_size = lr / (1.0 - beta1 ** self.t)
    root_correction = math.sqrt(1.0 - beta2 ** self.t)
    sqrt = math.sqrt
    rows[:] = [
        [p - step_size * a / (sqrt(b) / root_correction + eps) for p, a, b in zip(prow, arow, brow)]
        for prow, arow, brow in zip(rows, m, v)
    ]


OLD = {SGD: old_sgd_update, RMSprop: old_rmsprop_update, Adam: old_adam_update, AdamW: old_adam_update}


def old_style(optimizer):
    """The optimizer with its class's old _update bound in place of the new one."""
    optimizer._update = OLD[type(optimizer)].__get__(optimizer)
    return optimizer


# ---------------------------------------------------------------- the measurements

CASES = [  # (label, class, options)
    ("SGD, momentum 0.9", SGD, {"lr": 0.01, "momentum": 0.9}),
    ("SGD, Nesterov, weight decay", SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
    ("RMSprop", RMSprop, {"lr": 0.001}),
    ("Adam", Adam, {"lr": 0.001}),
    ("AdamW, weight decay 0.01", AdamW, {"lr": 0.001}),
]
SHAPES = [(64, 64), (1, 64), (64, 10), (1, 10)]  # the digits network's weights and biases


def digits_parameters(seed):
    rng = random.Random(seed)
    params = []
    for shape in SHAPES:
        param = Parameter(Matrix.random(*shape, rng), "p")
        param.grad = Matrix.random(*shape, rng, scale=0.1)
        params.append(param)
    return params


def largest_difference(first, second):
    return max(abs(p - q) for a, b in zip(first, second) for ra, rb in zip(a.value.rows, b.value.rows)
               for p, q in zip(ra, rb))


def step_rows(repeats, clock):
    rows = []
    for label, cls, options in CASES:
        old_params, new_params = digits_parameters(0), digits_parameters(0)
        old = old_style(cls(old_params, **options))
        new = cls(new_params, **options)
        for _ in range(3):  # a few steps, so momentum and moments are not zero
            old.step()
            new.step()
        same = largest_difference(old_params, new_params)
        calls = [harness.calls_for(old.step, 0.05, clock), harness.calls_for(new.step, 0.05, clock)]
        result = harness.interleave([old.step, new.step], repeats, warmup=1, calls=calls, clock=clock)
        rows.append(["step: " + label, result.medians[0] * 1e6, result.medians[1] * 1e6,
                     harness.paired_ratio(result.times[1], result.times[0]), "{:.0e}".format(same)])
    return rows


def epoch_row(repeats, clock):
    X_rows, Y_rows = run.load_digits()
    X, Y = Matrix(X_rows), Matrix(Y_rows)

    def fit(old):
        rng = random.Random(0)
        network = run.digits_network(rng)
        optimizer = Adam(network.parameters(), lr=0.001)
        if old:
            old_style(optimizer)
        network.fit(X, Y, run.CrossEntropy(), optimizer, epochs=1, batch_size=32, rng=rng)
        return network

    same = largest_difference(fit(True).parameters(), fit(False).parameters())
    result = harness.interleave([lambda: fit(True), lambda: fit(False)], repeats, warmup=1, clock=clock)
    return ["digits epoch (Network.fit, 64-64-10, Adam, batch 32, {} rows)".format(run.N_TRAIN),
            result.medians[0] * 1e6, result.medians[1] * 1e6,
            harness.paired_ratio(result.times[1], result.times[0]), "{:.0e}".format(same)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--wall", action="store_true", help="wall clock instead of this process's CPU time")
    parser.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"),
                        help="the results file whose section this run replaces (default bench/RESULTS.md)")
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.wall else time.process_time
    rows = step_rows(args.repeats, clock) + [epoch_row(args.repeats, clock)]
    text = "\n".join([
        "## Optimizers through Matrix.update_: before and after, {} {}".format(
            platform.python_implementation(), platform.python_version()),
        "",
        "`{} bench/matrix_api.py` on {}: medians of {} alternating runs, CPU seconds; after / before "
        "is the median of the paired ratios (above 1.00 the new code is slower).".format(
            "pypy3" if platform.python_implementation() == "PyPy" else "python",
            harness.machine_description(), args.repeats),
        "",
        harness.markdown_table(["work", "before (comprehensions), us", "after (optimizers.py as it is), us",
                                "after / before", "largest weight difference"], rows, "{:,.2f}"),
    ]) + "\n"
    print(text)
    if args.output:
        harness.write_section(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
