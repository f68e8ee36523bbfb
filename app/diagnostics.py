"""Seeing inside training: per layer and per epoch, is the gradient getting through?

    diagnostics = Diagnostics()
    network.fit(X, Y, loss, optimizer, epochs=20, callbacks=[diagnostics])   # or main.py --diagnose
    diagnostics.records[-1]      # the last epoch's numbers, one dict per layer

For each layer with weights W (a Dense), averaged over the batches of an epoch:

    grad norm       ||dL/dW||, the Frobenius norm sqrt(sum of dW^2). Backpropagation
                    multiplies the gradient by one local derivative per layer (the chain
                    rule), so in a deep network these norms show how the signal shrinks
                    or grows on its way back to the first layer.
    update/weight   ||W_after - W_before|| / ||W_before|| for one optimizer step. Around
                    1e-3 is healthy (Karpathy, CS231n); 1e-1 means the learning rate is too
                    high, below 1e-6 the layer barely moves.

and for the activation after it, over all the rows of the epoch:

    dead ReLU       the share of ReLU units that output 0 for every row of the epoch:
                    they pass no gradient back, so nothing teaches them to fire again
    saturated       the share of sigmoid or tanh outputs within 1% of the ends of their
                    range (|2y - 1| > 0.99 for sigmoid, |y| > 0.99 for tanh), where the
                    derivative is nearly 0 (sigmoid'(x) is at most 0.25, and ~0.005 there)

A warning, with what to try, is printed the first time a problem shows.
"""

import math
from operator import or_

from callbacks import Callback
from utils import finite_sum

# Thresholds of the warnings.
VANISHING_RATIO = 1e-3  # first layer's grad norm / last layer's grad norm below this: vanishing
EXPLODING_NORM = 1e3    # a grad norm above this: exploding
DEAD_SHARE = 0.5        # more than half the ReLU units dead
SATURATED_SHARE = 0.5   # more than half the sigmoid/tanh outputs saturated
LARGE_UPDATE, TINY_UPDATE = 1e-1, 1e-6

# How far from the centre of its range an output counts as saturated: (centre, half width).
SQUASHING = {"sigmoid": (0.5, 0.5), "tanh": (0.0, 1.0)}


def _norm(rows):
    return math.sqrt(finite_sum(v * v for row in rows for v in row))


class _Block:
    """A layer with weights and the activation that follows it (if any): one row of the report."""

    def __init__(self, number, layer, weight, activation):
        self.number, self.weight, self.activation = number, weight, activation
        self.kind = activation.name if activation is not None else None
        self.label = repr(layer) + (f" + {self.kind}" if self.kind else "")
        self.reset()

    def reset(self):
        self.grad_norms, self.update_ratios, self.before = [], [], None
        self.fired = None               # ReLU: per unit, did it output > 0 for some row yet
        self.saturated = self.seen = 0  # sigmoid/tanh: counts of outputs


def _weight(layer):
    """The layer's Parameter named "weight" (Dense, Conv2D, ...), or None for a layer without one."""
    return next((p for p in layer.parameters() if p.name == "weight"), None)


class Diagnostics(Callback):
    """Collects the numbers above while Network.fit trains, and reports them after each epoch.

    Network.fit calls watch(layers) once, then per epoch start_epoch(), after_backward() and
    after_step() around every optimizer step, and end_epoch(epoch), which returns the lines
    to print. records holds one list of per-layer dicts per epoch.
    """

    def __init__(self, warn=True):
        self.warn = warn
        self.records, self.warned, self.blocks = [], set(), []

    def watch(self, layers):
        """Find the layers with weights, and the activation that follows each."""
        self.blocks = []
        for index, layer in enumerate(layers):
            weight = _weight(layer)
            if weight is None:
                continue
            activation = None
            for later in layers[index + 1:]:
                if _weight(later) is not None:
                    break
                if later.name in ("relu", "sigmoid", "tanh"):
                    activation = later
                    break
            self.blocks.append(_Block(len(self.blocks) + 1, layer, weight, activation))

    # the hooks of fit (callbacks.py)
    def on_train_begin(self, run):
        self.watch(run.layers)

    def on_epoch_begin(self, run):
        self.start_epoch()

    def on_backward_end(self, run):
        self.after_backward()

    def on_batch_end(self, run):
        self.after_step()

    def on_epoch_end(self, run):
        for line in self.end_epoch(run.epoch, run.history["loss"]):
            run.say(line)

    def start_epoch(self):
        for block in self.blocks:
            block.reset()

    def after_backward(self):
        """The gradients are in; the step has not happened: measure, and remember the weights."""
        for block in self.blocks:
            block.grad_norms.append(_norm(block.weight.grad.rows))
            block.before = [row[:] for row in block.weight.value.rows]
            output = block.activation.output if block.activation is not None else None
            if output is None:
                continue
            if block.kind == "relu":
                fired = [value > 0.0 for value in map(max, zip(*output.rows))]
                block.fired = fired if block.fired is None else list(map(or_, block.fired, fired))
            elif block.kind in SQUASHING:
                centre, half = SQUASHING[block.kind]
                limit = 0.99 * half
                block.saturated += sum(abs(v - centre) > limit for row in output.rows for v in row)
                block.seen += output.shape[0] * output.shape[1]

    def after_step(self):
        for block in self.blocks:
            after = block.weight.value.rows
            change = math.sqrt(finite_sum((a - b) * (a - b) for row_a, row_b in zip(after, block.before)
                                          for a, b in zip(row_a, row_b)))
            size = _norm(block.before)
            block.update_ratios.append(change / size if size else math.inf)

    def end_epoch(self, epoch, losses=()):
        """Summarise the epoch: store a record and return the table (and any new warnings) as lines.

        losses: the training loss of each epoch so far, so that the advice knows whether it is rising."""
        record = []
        for block in self.blocks:
            entry = {"layer": block.number, "name": block.label,
                     "grad_norm": _mean(block.grad_norms), "update_ratio": _mean(block.update_ratios)}
            if block.kind == "relu" and block.fired is not None:
                entry["dead_relu"] = 1.0 - sum(block.fired) / len(block.fired)
            if block.kind in SQUASHING and block.seen:
                entry["saturated"] = block.saturated / block.seen
            record.append(entry)
        self.records.append(record)
        lines = format_table(record, epoch)
        if self.warn:
            for warning in find_problems(record, losses):
                key = warning.split(":")[0]
                if key not in self.warned:
                    self.warned.add(key)
                    lines.append("  warning: " + warning)
        return lines


def _mean(values):
    return sum(values) / len(values) if values else math.nan


def _share(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def format_table(record, epoch):
    """The per-layer numbers of one epoch as an indented table."""
    width = max([len(entry["name"]) for entry in record] + [5])
    lines = [f"  diagnostics after epoch {epoch}:",
             f"    {'layer':<{width + 3}} {'grad norm':>10} {'update/weight':>14} {'dead ReLU':>10} {'saturated':>10}"]
    for entry in record:
        lines.append(f"    {entry['layer']:<2} {entry['name']:<{width}} {entry['grad_norm']:>10.2e} "
                     f"{entry['update_ratio']:>14.2e} {_share(entry.get('dead_relu')):>10} "
                     f"{_share(entry.get('saturated')):>10}")
    return lines


def find_problems(record, losses=()):
    """Warnings for one epoch's record, each 'kind layer N: what is wrong. What to try.'

    losses, the training loss per epoch so far: while it rises, the learning rate is too large
    rather than too small, so tiny updates then never bring the advice of a larger one.
    """
    problems = []
    losses = [loss for loss in losses if math.isfinite(loss)]
    rising = len(losses) >= 2 and losses[-1] > losses[-2]
    if rising:
        problems.append(f"rising loss: the training loss went up from {losses[-2]:.4g} to {losses[-1]:.4g} "
                        "in the last epoch. The steps overshoot: try a smaller learning rate, or "
                        "training.clip_norm.")
    if len(record) >= 2:
        first, last = record[0], record[-1]
        if last["grad_norm"] > 0 and first["grad_norm"] < VANISHING_RATIO * last["grad_norm"]:
            problems.append(
                f"vanishing gradients at layer {first['layer']}: its gradient norm ({first['grad_norm']:.1e}) "
                f"is {first['grad_norm'] / last['grad_norm']:.0e} times the last layer's "
                f"({last['grad_norm']:.1e}), so the first layers hardly learn. Each sigmoid or tanh multiplies "
                "the gradient by its derivative (at most 0.25 for sigmoid) on the way back. Try relu with "
                "init 'he', batch_norm, or fewer layers.")
    for entry in record:
        name = f"layer {entry['layer']}"
        if entry["grad_norm"] > EXPLODING_NORM:
            problems.append(f"exploding gradients at {name}: gradient norm {entry['grad_norm']:.1e}. "
                            "Try training.clip_norm (e.g. 1.0), a smaller learning rate, or batch_norm.")
        if entry.get("dead_relu", 0.0) > DEAD_SHARE:
            problems.append(f"dead ReLU units at {name}: {_share(entry['dead_relu'])} never fired this epoch, "
                            "and pass no gradient. Try a smaller learning rate, init 'he', or leaky_relu.")
        if entry.get("saturated", 0.0) > SATURATED_SHARE:
            problems.append(f"saturation at {name}: {_share(entry['saturated'])} of the outputs are at the ends "
                            "of their range, where the derivative is nearly 0. Try normalized inputs "
                            "(data.normalize), init 'xavier', or relu.")
        if entry["update_ratio"] > LARGE_UPDATE:
            problems.append(f"large updates at {name}: each step changes the weights by "
                            f"{entry['update_ratio']:.0e} of their size (about 1e-3 is typical). "
                            "Try a smaller learning rate.")
        elif entry["update_ratio"] < TINY_UPDATE and not rising:
            problems.append(f"tiny updates at {name}: each step changes the weights by "
                            f"{entry['update_ratio']:.0e} of their size (about 1e-3 is typical). "
                            "Try a larger learning rate, or see the gradient norms above.")
    return problems
