"""The callbacks of a real training run: the NaN guard, gradient clipping, the learning-rate
schedule, early stopping, checkpoints with Ctrl-C, and resume.

Network.fit runs the batches (forward, loss, backward, step) and calls its callbacks
(callbacks.py) around them; the ones here look after everything else:

    NonFiniteGuard        raise TrainingDiverged when the loss or a gradient becomes NaN or infinite
    GradientClipping      scale all gradients down when their global norm is too large
    LearningRateSchedule  step a schedule (schedulers.py) after every epoch
    EarlyStopping         stop when a validation metric stops improving, keep the best weights
    Checkpoints           save every N epochs, and when Ctrl-C stops training (StopRequest)
    Resume                continue exactly where a checkpoint stopped (bit for bit)
                          (the checkpoint file itself: app/checkpoints.py)
    standard_callbacks    the list the config's training section asks for, in the right order

The progress bar (app/progress.py) and the diagnostics (app/diagnostics.py) are callbacks too.
This module imports the framework, never the other way round: the network, optimizer and
schedule are used only through their methods (get_weights, to_dict, state_dict, ...).
"""

import math
import signal
import threading

from app.checkpoints import (Checkpoint, CheckpointError, _is_count, _is_number,  # noqa: F401 (re-exported)
                             load_checkpoint, restore_training, save_checkpoint, training_state)
from callbacks import Callback
from parallel import WorkerError
from utils import InputError, check_count, check_number


class TrainingDiverged(InputError, FloatingPointError):
    """The loss or a gradient became NaN or infinite; the message says where and what to try.

    An input error: the config's learning rate, data or architecture made it diverge."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a batch; `checkpoint_path` is the checkpoint written, or None."""

    def __init__(self, message, checkpoint_path=None):
        super().__init__(message)
        self.checkpoint_path = checkpoint_path


# ----------------------------------------------------------- early stopping
class EarlyStopping(Callback):
    """Stop training when `monitor` has not improved for `patience` epochs (as Keras's EarlyStopping).

    An epoch improves when its value beats the best so far by more than min_delta:
        value < best - min_delta  (mode "min", losses)    value > best + min_delta  (mode "max", accuracies)
    Training stops after `patience` epochs in a row without improvement (patience 0 or 1:
    at the first one). With restore_best, the weights of the best epoch are put
    back at the end, whether training stopped early or ran all its epochs.
    After fit: `stopped_epoch` (None if it ran to the end), `best_epoch`, `best`.
    """

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, restore_best=True, mode=None):
        check_count(patience, "early stopping patience", 0)
        check_number(min_delta, "early stopping min_delta", ">= 0")
        if mode is None:
            mode = "max" if str(monitor).endswith("accuracy") else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"early stopping mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.restore_best, self.mode = bool(restore_best), mode
        self.best = self.best_epoch = self.best_weights = self.stopped_epoch = None
        self.wait = 0

    def improved(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, epoch, value, network):
        """Record the monitored value of `epoch`; True when training should stop now."""
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = network.get_weights()
            return False
        self.wait += 1
        if self.wait >= self.patience:  # Keras's rule: patience 0 and 1 both stop at the first bad epoch
            self.stopped_epoch = epoch
            return True
        return False

    def finish(self, network, last_epoch):
        """End of training: put the best weights back if asked; returns a sentence saying what happened."""
        if self.best_epoch is None:
            return ""
        if self.stopped_epoch is not None:
            text = (f"early stopping: {self.monitor} did not improve by more than {self.min_delta:g} for "
                    f"{self.wait} epochs, so training stopped after epoch {self.stopped_epoch}")
        else:
            text = f"early stopping: not triggered in {last_epoch} epochs"
        best = f"{self.monitor} {self.best:.4f}"
        if self.best_epoch == last_epoch:
            return f"{text}; kept the weights of the last epoch, {last_epoch}, the best ({best})"
        if self.restore_best and self.best_weights is not None:
            network.set_weights(self.best_weights)
            return f"{text}; kept the weights of epoch {self.best_epoch}, the best ({best})"
        return f"{text}; kept the weights of the last epoch, {last_epoch} (restore_best is off; " \
               f"the best was epoch {self.best_epoch}, {best})"

    def on_train_begin(self, run):
        check_monitor(self, run.history)

    def on_epoch_end(self, run):
        if self.update(run.epoch, run.history[self.monitor][-1], run.network):
            run.stop = True

    def on_train_end(self, run):
        summary = self.finish(run.network, run.last_epoch)
        if summary:
            run.say(summary)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state):
        best, epochs, weights = state["best"], (state["best_epoch"], state["stopped_epoch"]), state["best_weights"]
        if (not (best is None or _is_number(best)) or not all(e is None or _is_count(e, 1) for e in epochs)
                or (best is None) != (epochs[0] is None)):
            raise ValueError("best must be a number and best_epoch its epoch (both null before the first "
                             "epoch), stopped_epoch an epoch or null")
        if not (weights is None or isinstance(weights, list)):
            raise ValueError("best_weights must be a list of matrices or null")
        self.best, self.best_epoch, self.wait = best, epochs[0], int(state["wait"])
        self.stopped_epoch, self.best_weights = epochs[1], weights

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta:g}, restore_best={self.restore_best})")


def check_monitor(watcher, history):
    """A schedule or early stopping must watch a metric the run computes (a key of history)."""
    monitor = getattr(watcher, "monitor", None)
    if monitor is not None and monitor not in history:
        hint = " (val_ metrics need validation_data)" if monitor.startswith("val_") else ""
        raise ValueError(f"{watcher!r} watches {monitor!r}, which this run does not compute{hint}; "
                         f"available: {', '.join(key for key in history if key != 'lr')}")


# ------------------------------------------------------------------- Ctrl-C
class StopRequest:
    """While active (a `with` block), Ctrl-C sets `.requested` instead of raising at once.

    The training loop looks at the flag after each batch, so it stops between two
    batches with consistent weights and can save them. A second Ctrl-C raises
    KeyboardInterrupt immediately, for a loop that seems stuck. Signals can only be
    caught in the main thread; elsewhere Ctrl-C behaves as usual.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


def interrupted(save, checkpoint, epoch, batch, n_batches, position):
    """Ctrl-C: save a checkpoint at `position` (when there is a path); returns the exception to raise."""
    where = f"after epoch {epoch}" if batch == n_batches else f"after batch {batch} of {n_batches} in epoch {epoch}"
    if checkpoint is None or not checkpoint.path:
        return TrainingInterrupted(f"training stopped by Ctrl-C {where}; no checkpoint path was given, "
                                   "so nothing was saved")
    save(checkpoint.path, position)
    return TrainingInterrupted(f"training stopped by Ctrl-C {where}; checkpoint saved to {checkpoint.path}",
                               checkpoint.path)


# ------------------------------------------------------------ a dead worker
def worker_died(error, callbacks):
    """A training worker process died (parallel.WorkerError, raised before that batch's step):
    save a checkpoint of the last completed batch when the run has a checkpoint path, and return
    the WorkerError to raise, its one-line message saying what was saved."""
    run = error.run
    checkpoints = next((c for c in callbacks if isinstance(c, Checkpoints)), None)
    checkpoint = checkpoints.checkpoint if checkpoints is not None else None
    if run is None or checkpoint is None or not checkpoint.path:
        return WorkerError(f"{error}; no checkpoint path was given, so nothing was saved", run)
    done = max(0, run.batch - 1)
    checkpoints.save(run, checkpoint.path, run.position(done))
    where = f"after batch {done} of epoch {run.epoch}" if done else f"at the start of epoch {run.epoch}"
    failure = WorkerError(f"{error}; checkpoint saved to {checkpoint.path} ({where})", run)
    failure.checkpoint_path = checkpoint.path
    return failure


# ------------------------------------------------------ gradients, NaN guard
def global_grad_norm(parameters):
    """sqrt of the sum of every gradient entry squared, over all parameters: ||g||."""
    return math.sqrt(math.fsum(g * g for p in parameters for row in p.grad.rows for g in row))


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients by max_norm / ||g|| when their global norm ||g|| exceeds max_norm
    (torch.nn.utils.clip_grad_norm_, with its 1e-6 in the denominator); returns ||g||.

    The direction of the step is kept and only its length is capped, so one bad batch
    cannot throw the weights far away (Pascanu et al., 2013).
    """
    total = global_grad_norm(parameters)
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for p in parameters:
            p.grad = p.grad * scale
    return total


def gradients_are_finite(parameters):
    """True unless some gradient entry is NaN or infinite.

    Summing is enough, and the sums run in C: NaN and infinity survive addition
    (inf - inf is NaN), so the total is finite when every entry is. (The sum
    itself could overflow only for gradients near 1e308, which are as bad.)
    """
    return math.isfinite(sum([sum(map(sum, p.grad.rows)) for p in parameters]))


def _non_finite(matrix):
    """'nan' or 'inf' when the matrix holds such a value, else ''."""
    values = [v for row in matrix.rows for v in row if not math.isfinite(v)]
    if not values:
        return ""
    return "nan" if any(v != v for v in values) else "inf"


def first_affected_layer(layers, X_batch=None):
    """'layer 3, Dense(16 -> 3): its weight gradient includes nan', for the first layer (in forward
    order) with a NaN or infinite weight or gradient, or else whose output on X_batch is;
    '' if there is none."""
    for index, layer in enumerate(layers, 1):
        for param in layer.parameters():
            for what, matrix in (("values include", param.value), ("gradient includes", param.grad)):
                kind = _non_finite(matrix)
                if kind:
                    return f"layer {index}, {layer!r}: its {param.name} {what} {kind}"
    if X_batch is not None:
        output = X_batch
        for index, layer in enumerate(layers, 1):
            output = layer.forward(output, training=False)
            kind = _non_finite(output)
            if kind:
                return f"layer {index}, {layer!r}: its output includes {kind}"
        largest = max(abs(v) for row in output.rows for v in row)
        return (f"layer {len(layers)}, {layers[-1]!r}: its outputs are finite but reach {largest:.1e}, "
                "too large for the loss")
    return ""


def divergence_message(layers, epoch, batch, n_batches, batch_loss, lr, X_batch=None):
    """Say where training blew up: the epoch, the batch, the first layer affected, and what to try."""
    if math.isfinite(batch_loss):
        what = f"a gradient became NaN or infinite (the loss was {batch_loss:.4g})"
    else:
        what = f"the loss became {batch_loss}"
    culprit = first_affected_layer(layers, X_batch)
    culprit = f"; the first layer affected is {culprit}" if culprit else ""
    return (f"training diverged at epoch {epoch}, batch {batch} of {n_batches}: {what}{culprit}. "
            f"Try a smaller learning rate (now {lr:g}; e.g. {lr / 10:g}), or training.clip_norm to cap "
            "the gradients. Nothing was saved: model and checkpoint files from before are untouched.")


# ---------------------------------------------------------------- callbacks
class NonFiniteGuard(Callback):
    """Stop at once, with TrainingDiverged saying where, when the loss or a gradient becomes NaN
    or infinite: before the optimizer's step, so the weights and the files saved stay sane."""

    def on_train_begin(self, run):
        self.params = run.network.parameters()

    def on_backward_end(self, run):
        if not (math.isfinite(run.batch_loss) and gradients_are_finite(self.params)):
            raise TrainingDiverged(divergence_message(run.layers, run.epoch, run.batch, len(run.batches),
                                                      run.batch_loss, run.optimizer.lr, run.X_batch))

    def on_epoch_end(self, run):
        val_loss = run.history.get("val_loss", [0.0])[-1:] or [0.0]
        if not math.isfinite(val_loss[0]):
            raise TrainingDiverged(f"training diverged at epoch {run.epoch}: the validation loss became "
                                   f"{val_loss[0]}. Try a smaller learning rate (now {run.optimizer.lr:g}).")


class GradientClipping(Callback):
    """Cap the global norm of the gradients at max_norm before every step (clip_grad_norm)."""

    def __init__(self, max_norm):
        self.max_norm = max_norm

    def on_train_begin(self, run):
        self.params = run.network.parameters()

    def on_backward_end(self, run):
        clip_grad_norm(self.params, self.max_norm)


class LearningRateSchedule(Callback):
    """Step a learning-rate schedule (schedulers.py) after every epoch, with the metric it
    watches when it has one (ReduceLROnPlateau)."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def on_train_begin(self, run):
        check_monitor(self.scheduler, run.history)

    def on_epoch_end(self, run):
        monitor = self.scheduler.monitor
        self.scheduler.step(run.history[monitor][-1] if monitor else None)


def _find(run, kind):
    """The callback of this kind in the run, or None (a checkpoint saves its state)."""
    for callback in run.callbacks.callbacks:
        if isinstance(callback, kind):
            return callback
    return None


def _schedule_and_stopping(run):
    schedule = _find(run, LearningRateSchedule)
    return (schedule.scheduler if schedule else None), _find(run, EarlyStopping)


class Checkpoints(Callback):
    """Save everything needed to continue: every `checkpoint.every` epochs, and when Ctrl-C stops
    training (after the current batch, with consistent weights). Without a path, Ctrl-C still
    stops training cleanly, and the message says nothing was saved."""

    def __init__(self, checkpoint=None):
        self.checkpoint = checkpoint
        self.ctrl_c = None

    def on_train_begin(self, run):
        self.ctrl_c = StopRequest().__enter__()

    def save(self, run, path, position):
        scheduler, early_stopping = _schedule_and_stopping(run)
        save_checkpoint(path, training_state(run.network, run.optimizer, scheduler, early_stopping, run.rng,
                                             run.history, position, self.checkpoint))

    def stop(self, run, batch):
        raise interrupted(lambda path, position: self.save(run, path, position), self.checkpoint, run.epoch,
                          batch, len(run.batches), run.position(batch))

    def on_batch_end(self, run):
        if self.ctrl_c.requested:
            self.stop(run, run.batch)

    def on_epoch_end(self, run):
        if run.stop:
            return
        if self.checkpoint is not None and self.checkpoint.due(run.epoch):
            self.save(run, self.checkpoint.path, run.position())
        if self.ctrl_c.requested and run.epoch < run.epochs:
            self.stop(run, len(run.batches))

    def teardown(self, run):
        if self.ctrl_c is not None:
            self.ctrl_c.__exit__(None, None, None)
            self.ctrl_c = None


class Resume(Callback):
    """Continue from a checkpoint (its path, or the dict load_checkpoint returns): the weights,
    optimizer, schedule, early stopping, random generators, history and the position inside
    the epoch are all put back, so the rest of the run is bit-identical to an uninterrupted one."""

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint

    def on_train_begin(self, run):
        scheduler, early_stopping = _schedule_and_stopping(run)
        history, position = restore_training(self.checkpoint, run.network, run.history, len(run.X),
                                             run.optimizer, scheduler, early_stopping, run.rng)
        run.history, run.start = history, position
        run.order = position["order"]  # each epoch shuffles the order the last one left
        run.last_epoch = position["epoch"] - 1


def standard_callbacks(scheduler=None, clip_norm=None, early_stopping=None, checkpoint=None, resume=None,
                       progress=None, diagnostics=None):
    """The callbacks a config's training section describes, in the order their hooks must run:
    the guard sees a NaN before anything uses it; the schedule steps before early stopping looks;
    the epoch line prints before the diagnostics under it; diagnostics see the gradients before
    clipping changes them; checkpoints and Ctrl-C come last, once everything else is done."""
    callbacks = [NonFiniteGuard()]
    if resume is not None:
        callbacks.append(Resume(resume))
    if scheduler is not None:
        callbacks.append(LearningRateSchedule(scheduler))
    callbacks += [c for c in (early_stopping, progress, diagnostics) if c is not None]
    if clip_norm:
        callbacks.append(GradientClipping(clip_norm))
    callbacks.append(Checkpoints(checkpoint))
    return callbacks
