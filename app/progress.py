"""What training shows while it runs, and the charts it leaves behind.

    Progress             a bar per epoch on a terminal, one plain line per epoch otherwise
    training_chart_svg   loss and accuracy per epoch, training and validation, as SVG
    loss_text_chart      the loss per epoch as a small ASCII chart for the terminal

On a terminal the bar is redrawn in place with a carriage return:

    epoch  3/20 [####........] 12/30 batches  1,520 samples/s  loss 0.4213  ETA 0:02

When the output is a file or a CI log (not a terminal), carriage returns would
pile up into one unreadable line, so only the finished epoch lines are printed.
Standard library only.
"""

import math
import re
import shutil
import sys
import time

from app.charts import line_chart_svg, text_chart
from callbacks import Callback
from utils import format_number


def _clock(seconds):
    """'0:07', '12:30', '1:02:03': seconds as a clock."""
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_epoch(epoch, epochs, history, seconds):
    """One progress line: 'epoch   3/150  loss 0.4213  accuracy 0.8833  val_loss ...  (0.02 s)'."""
    parts = [f"epoch {epoch:>{len(str(epochs))}}/{epochs}"]
    for key, values in history.items():
        if values:  # a learning rate of 0.0001 would show as 0.0000 with 4 decimals
            value = values[-1]
            parts.append(f"{key} {value:.4g}" if key == "lr" or abs(value) >= 1e6 else f"{key} {value:.4f}")
    return "  ".join(parts) + f"  ({seconds:.2f} s)"


class Progress(Callback):
    """A callback that prints the progress of fit to `stream` (standard output by default).

    bar=None decides from the stream: a bar when it is a terminal, plain epoch
    lines when it is not. epochs and n_batches default to the run's. Its hooks call
    start_epoch, batch_done (only when `bar` is true, so plain lines cost nothing per
    batch), end_epoch, and message for the lines other callbacks say.
    """

    redraw_every = 0.1  # seconds between two redraws of the bar: drawing is slower than a small batch

    def __init__(self, epochs=None, n_batches=None, stream=None, bar=None, width=None):
        self.stream = stream if stream is not None else sys.stdout
        if bar is None:
            isatty = getattr(self.stream, "isatty", None)
            bar = bool(isatty and isatty())
        self.bar, self.epochs, self.n_batches = bar, epochs, n_batches
        self.width = width or shutil.get_terminal_size((80, 24)).columns
        self.epoch, self.started, self.last_drawn, self.drawn = 0, 0.0, 0.0, False

    # the hooks of fit (callbacks.py)
    def on_train_begin(self, run):
        self.epochs = self.epochs or run.epochs
        self.n_batches = self.n_batches or len(run.batches)

    def on_epoch_begin(self, run):
        self.start_epoch(run.epoch, run.first_batch)

    def on_batch_end(self, run):
        if self.bar:
            self.batch_done(run.batch, run.rows_done, run.total_loss)

    def on_epoch_end(self, run):
        self.end_epoch(format_epoch(run.epoch, run.epochs, run.history, time.perf_counter() - run.epoch_started))

    def on_message(self, run, text):
        self.message(text)

    def start_epoch(self, epoch, batches_done=0):
        self.epoch, self.first_batch = epoch, batches_done
        self.started = self.last_drawn = time.perf_counter()

    def batch_done(self, batch, rows_done, total_loss):
        """After each batch (bar mode only): redraw if enough time has passed, and at the last batch."""
        now = time.perf_counter()
        if now - self.last_drawn < self.redraw_every and batch != self.n_batches:
            return
        self.last_drawn = now
        elapsed = now - self.started
        done_here = batch - self.first_batch  # batches run in this sitting (a resumed epoch starts late)
        rate = rows_done / elapsed if elapsed > 0 else 0.0
        left = elapsed / done_here * (self.n_batches - batch) if done_here else 0.0
        loss = total_loss / rows_done if rows_done else float("nan")
        filled = 12 * batch // self.n_batches
        epoch = f"epoch {self.epoch:>{len(str(self.epochs))}}/{self.epochs}"
        numbers = (f"{batch:>{len(str(self.n_batches))}}/{self.n_batches} batches  {rate:,.0f} samples/s  "
                   f"loss {format_number(loss)}  ETA {_clock(left)}")
        text = f"{epoch} [{'#' * filled}{'.' * (12 - filled)}] {numbers}"
        if len(text) >= self.width:  # a narrow terminal: the numbers matter more than the bar
            text = f"{epoch}  {numbers}"
        self.stream.write("\r" + text[:self.width - 1])
        self.stream.flush()
        self.drawn = True

    def _clear(self):
        if self.drawn:
            self.stream.write("\r" + " " * (self.width - 1) + "\r")
            self.drawn = False

    def end_epoch(self, line):
        """The epoch is over: replace the bar by the epoch's summary line."""
        self._clear()
        self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text):
        """Any other line (diagnostics, early stopping), printed between epochs."""
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()


# ------------------------------------------------------------------- charts
def spans_decades(values):
    """True when the finite positive values span more than a factor of 10: a log axis then shows
    the whole run, where a linear one flattens everything but the largest values."""
    positive = [v for v in values if math.isfinite(v) and v > 0]
    return bool(positive) and max(positive) > 10 * min(positive)


def training_chart_svg(history, title="Training curves", marks=(), width=720):
    """The training curves as one SVG: a panel for the loss (train and validation; a log axis
    when it spans decades, as a diverging run does), and below it a panel for the metric
    (accuracy) when the run has one, each on its own axis, epochs from 1. `marks` are (epoch,
    label) pairs drawn on both panels, such as the epoch early stopping kept."""
    losses = [(key, values) for key, values in history.items() if key.endswith("loss") and values]
    metrics = [(key, values) for key, values in history.items()
               if key != "lr" and not key.endswith("loss") and values]
    if not losses:
        raise ValueError("the training history is empty: nothing to plot")
    log_loss = spans_decades([v for _, values in losses for v in values])
    names = max(len(key) for key, _ in losses + metrics)  # one legend width: the panels line up
    panels = [line_chart_svg(losses, title=title, y_label="loss (log scale)" if log_loss else "loss",
                             width=width, height=360, log_y=log_loss, x_from=1, marks=marks, legend_chars=names)]
    if metrics:
        label = " / ".join(sorted({key.replace("val_", "") for key, _ in metrics}))
        panels.append(line_chart_svg(metrics, y_label=label, width=width, height=300, x_from=1, marks=marks,
                                     legend_chars=names))
    return stack_svg(panels, width)


def stack_svg(documents, width):
    """SVG documents from line_chart_svg, one under the other, as one SVG (nested <svg> panels)."""
    heights = [int(re.search(r'height="(\d+)"', doc).group(1)) for doc in documents]
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}">'.format(
               width, sum(heights))]
    top = 0
    for doc, height in zip(documents, heights):
        body = doc.split("\n", 1)[1]  # without the XML declaration
        out.append(body.replace("<svg ", '<svg class="panel" y="{}" '.format(top), 1).rstrip())
        top += height
    out.append("</svg>")
    return "\n".join(out) + "\n"


def loss_text_chart(history, width=60, height=10):
    """The training loss per epoch as an ASCII chart (charts.text_chart)."""
    return text_chart(history["loss"], width=width, height=height, label="training loss per epoch")
