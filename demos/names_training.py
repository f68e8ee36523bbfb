"""The names ladder's training loop: random or in-turn batches of names, Adam (AdamW with weight
decay), a learning-rate schedule, gradient clipping, a progress bar, and the test loss.

demos/names.py builds the models and reads the data; this module only needs a network whose
forward maps a batch of ids (n, T) to logits (n, T * V) and a data object with `batch(indices)`,
`random_batch(rng, n)`, `all_batches(size)` and `encoded` (the training names as token ids).
Targets equal to IGNORE (padding past a name's end) are skipped by the loss.
"""

import math
import sys
import time

from losses import SequenceCrossEntropy
from optimizers import Adam, AdamW

IGNORE = -1  # the target of a padding position, which the loss skips


class ProgressBar:
    """One line redrawn in place on a terminal (a line per tenth of the run otherwise):
    step 1200/3000 [#####.......] loss 2.3141  3.2 steps/s  ETA 9:24"""

    def __init__(self, total, stream=None):
        self.total, self.stream = total, stream if stream is not None else sys.stdout
        self.bar = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = self.last = time.perf_counter()
        self.next_line = max(1, total // 10)

    def update(self, step, loss):
        now = time.perf_counter()
        if self.bar and now - self.last < 0.2 and step != self.total:
            return
        if not self.bar and step % self.next_line and step != self.total:
            return
        self.last = now
        rate = step / (now - self.started) if now > self.started else 0.0
        left = int((self.total - step) / rate) if rate else 0
        filled = 12 * step // self.total
        text = (f"step {step:>{len(str(self.total))}}/{self.total} [{'#' * filled}{'.' * (12 - filled)}] "
                f"loss {loss:.4f}  {rate:.2f} steps/s  ETA {left // 60}:{left % 60:02d}")
        self.stream.write(("\r" + text) if self.bar else text + "\n")
        if self.bar and step == self.total:
            self.stream.write("\n")
        self.stream.flush()


SCHEDULES = ("constant", "linear", "cosine")


def learning_rate(settings, step):
    """The learning rate of step `step` (0-based, of `steps`): lr times a factor that, after
    `warmup` steps rising linearly from lr / warmup to lr (none by default), is

        constant   1
        linear     1 - s / S                      lr / S on the last step (0 one step after it)
        cosine     (1 + cos(pi * s / S)) / 2      (Loshchilov and Hutter, 2017), also near 0 at the end

    with s = step - warmup and S = steps - warmup, the steps after the warmup."""
    lr, warmup, steps = settings["lr"], settings.get("warmup", 0), settings["steps"]
    if step < warmup:
        return lr * (step + 1) / warmup
    done, span = step - warmup, max(1, steps - warmup)
    if settings["schedule"] == "linear":
        return lr * (1.0 - done / span)
    if settings["schedule"] == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * done / span))
    return lr


def clip_gradients(params, max_norm):
    """Scale every gradient by max_norm / ||g|| when the global norm ||g|| is larger (as
    torch.nn.utils.clip_grad_norm_): a recurrent net's gradient can explode at one batch."""
    norm = math.sqrt(sum(sum(g * g for g in row) for p in params for row in p.grad.rows))
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for p in params:
            p.grad = p.grad * scale
    return norm


def train(network, data, settings, rng, progress=True, stream=None):
    """Adam (AdamW with weight_decay) on random batches; returns the mean training loss of the
    last tenth of the steps."""
    loss = SequenceCrossEntropy(ignore_index=IGNORE)
    params = network.parameters()
    betas = tuple(settings.get("betas", (0.9, 0.999)))
    if settings["weight_decay"]:
        optimizer = AdamW(params, lr=settings["lr"], betas=betas, weight_decay=settings["weight_decay"])
    else:
        optimizer = Adam(params, lr=settings["lr"], betas=betas)
    steps, batch_size = settings["steps"], settings["batch_size"]
    bar = ProgressBar(steps, stream) if progress else None
    report_every, reported = settings.get("report_every"), []
    in_turn = settings.get("order", "random") == "in_turn"
    if in_turn:  # one shuffled order of the training names, taken batch_size at a time
        order = list(range(len(data.encoded)))
        rng.shuffle(order)
    smoothed, recent = None, []
    for step in range(steps):
        if in_turn:
            start = step * batch_size
            x, targets = data.batch([order[(start + i) % len(order)] for i in range(batch_size)])
        else:
            x, targets = data.random_batch(rng, batch_size)
        value = loss.forward(network.forward(x, training=True), targets)
        network.backward(loss.backward(), input_grad=False)
        if settings.get("clip"):
            clip_gradients(params, settings["clip"])
        optimizer.lr = learning_rate(settings, step)
        optimizer.step()
        smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
        if step >= steps - max(1, steps // 10):
            recent.append(value)
        if bar:
            bar.update(step + 1, smoothed)
        if report_every:
            reported.append(value)
            if (step + 1) % report_every == 0 or step + 1 == steps:
                line = f"step {step + 1:>{len(str(steps))}}/{steps}  mean loss of the last {len(reported)} steps " \
                       f"{sum(reported) / len(reported):.4f}"
                (stream if stream is not None else sys.stdout).write(("\r" if bar and bar.bar else "") + line + "\n")
                reported = []
    return sum(recent) / len(recent)


def test_loss(network, data, batch_size=200):
    """Mean negative log-likelihood per predicted character over every example of `data`."""
    loss = SequenceCrossEntropy(ignore_index=IGNORE)
    total, count = 0.0, 0
    for x, targets in data.all_batches(batch_size):
        loss.forward(network.forward(x), targets)
        total, count = total + loss.total, count + loss.count
    return total / count
