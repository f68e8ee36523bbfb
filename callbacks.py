"""The hooks of the training loop, and the state they see.

Network.fit is the textbook loop (see network.py): for each epoch, for each batch,
forward, loss, backward, step. Everything else a real run needs (a progress bar,
early stopping, checkpoints and resume, Ctrl-C, the NaN guard, gradient clipping,
the learning-rate schedule, diagnostics) is a Callback: an object whose methods fit
calls at fixed points, each given the one TrainingRun of this fit. The model is
Keras's Callback and Lightning's hooks:

    on_train_begin(run)        before the first epoch (resume happens here)
    on_epoch_begin(run)        the epoch's rows are shuffled; run.epoch is set
    on_backward_end(run)       the gradients are in every Parameter.grad, before the step
    on_batch_end(run)          after optimizer.step() and the running sums
    on_epoch_end(run)          run.history holds the epoch's loss, metrics and learning rate
    on_train_end(run)          training finished normally (not after an exception)
    teardown(run)              always last, even after an exception (undo what begin did)
    on_message(run, text)      a line some callback wants shown (run.say(text))

A callback stops training by setting run.stop = True (checked after each epoch), or by
raising. The concrete callbacks live in app/training.py; writing one takes a few lines:

    class PrintLoss(Callback):
        def on_epoch_end(self, run):
            print(run.epoch, run.history["loss"][-1])

    network.fit(X, Y, loss, optimizer, epochs=10, callbacks=[PrintLoss()])
"""

import time

HOOKS = ("on_train_begin", "on_epoch_begin", "on_backward_end", "on_batch_end", "on_epoch_end",
         "on_train_end", "teardown")


class Callback:
    """Base class: every hook does nothing. Override the ones you need."""

    def on_train_begin(self, run):
        pass

    def on_epoch_begin(self, run):
        pass

    def on_backward_end(self, run):
        pass

    def on_batch_end(self, run):
        pass

    def on_epoch_end(self, run):
        pass

    def on_train_end(self, run):
        pass

    def teardown(self, run):
        pass

    def on_message(self, run, text):
        pass


class CallbackList:
    """Calls a hook on every callback, in the order given. A hook that no callback overrides
    is skipped outright, so a run without callbacks pays nothing per batch."""

    def __init__(self, callbacks):
        callbacks = list(callbacks or ())
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be Callback objects (callbacks.Callback), got {callback!r:.60}")
        self.callbacks = callbacks
        for hook in HOOKS + ("on_message",):
            overriding = [getattr(c, hook) for c in callbacks if getattr(type(c), hook) is not getattr(Callback, hook)]
            setattr(self, hook, _caller(overriding))


def _caller(methods):
    if not methods:
        return lambda *args: None
    if len(methods) == 1:
        return methods[0]

    def call_all(*args):
        for method in methods:
            method(*args)
    return call_all


class TrainingRun:
    """What one call of fit knows, for the loop and its callbacks.

    Fixed for the run: network, layers (those trained through: the loss may fuse the
    last activation), loss, optimizer, X, Y, validation_data, epochs, batch_size, rng,
    batches (the (start, stop) bounds in the shuffled `order`), classifier, callbacks.
    Changing as it goes: epoch, batch (its number, from 1), rows (the batch's row
    indices), X_batch, Y_batch, output, batch_loss, total_loss and correct (the epoch's
    running sums), history, stop. `start` says where the run begins: a Resume callback
    sets it to a checkpoint's position in on_train_begin.
    """

    def __init__(self, network, X, Y, loss, optimizer, epochs, batch_size, shuffle, validation_data, rng,
                 callbacks):
        self.network, self.X, self.Y, self.loss, self.optimizer = network, X, Y, loss, optimizer
        self.epochs, self.batch_size, self.shuffle, self.rng = epochs, batch_size, shuffle, rng
        self.validation_data, self.callbacks = validation_data, callbacks
        self.layers = network.training_layers(loss)
        self.classifier = network.is_classifier(loss)
        self.history = empty_history(self.classifier, validation_data is not None)
        self.batches = batch_bounds(len(X), batch_size, any(layer.batch_statistics for layer in self.layers))
        self.order = list(range(len(X)))
        self.start = {"epoch": 1, "batches_done": 0}
        self.epoch = self.batch = self.last_epoch = 0
        self.total_loss, self.correct, self.stop = 0.0, 0, False
        self.rows = self.X_batch = self.Y_batch = self.output = self.batch_loss = None
        self.lr = self.epoch_started = None

    def epoch_numbers(self):
        return range(self.start["epoch"], self.epochs + 1)

    def begin_epoch(self, epoch):
        """Shuffle the rows (unless resuming in the middle of this epoch); returns the batches left."""
        self.epoch, done = epoch, 0
        self.rows_done = 0
        if epoch == self.start["epoch"] and self.start["batches_done"]:
            done = self.start["batches_done"]
            self.total_loss, self.correct = self.start["total_loss"], self.start["correct"]
        else:
            self.total_loss, self.correct = 0.0, 0
            if self.shuffle:
                self.rng.shuffle(self.order)
        self.lr, self.epoch_started = self.optimizer.lr, time.perf_counter()
        self.first_batch = done
        return list(enumerate(self.batches[done:], done + 1))

    def take_batch(self, number, bounds):
        self.batch, (start, stop) = number, bounds
        self.rows, self.rows_done = self.order[start:stop], stop
        self.X_batch, self.Y_batch = self.X.take(self.rows), self.Y.take(self.rows)
        return self.X_batch, self.Y_batch

    def count_batch(self):
        """Add the batch to the epoch's running loss and (classifiers) correct predictions."""
        self.total_loss += self.batch_loss * len(self.rows)
        if self.classifier:
            self.correct += self.loss.count_correct(self.output, self.Y_batch)

    def end_epoch(self):
        """Record the epoch in history: its loss and accuracy, on validation_data too, and its lr."""
        n, history = len(self.X), self.history
        history["loss"].append(self.total_loss / n)
        if self.classifier:
            history["accuracy"].append(self.correct / n)
        if self.validation_data is not None:
            scores = self.network.evaluate(self.validation_data[0], self.validation_data[1], self.loss)
            # the penalty is part of the loss on both sides, so the two curves compare
            history["val_loss"].append(scores["loss"] + self.network.penalty())
            if self.classifier:
                history["val_accuracy"].append(scores["accuracy"])
        history["lr"].append(self.lr)
        self.last_epoch = self.epoch

    def position(self, after_batch=None):
        """Where training would continue: inside this epoch after `after_batch` batches, or at the
        start of the next epoch (what a checkpoint saves)."""
        if after_batch is not None:
            return {"epoch": self.epoch, "batches_done": after_batch, "order": list(self.order),
                    "total_loss": self.total_loss, "correct": self.correct}
        return {"epoch": self.epoch + 1, "batches_done": 0, "order": list(self.order), "total_loss": 0.0,
                "correct": 0}

    def say(self, text):
        """Hand a line to the callbacks that show messages (the progress bar prints it)."""
        self.callbacks.on_message(self, text)


def empty_history(classifier, validation):
    """The per-epoch lists fit fills: loss, accuracy (classifiers), their val_ twins, and lr."""
    keys = ["loss"] + (["accuracy"] if classifier else [])
    if validation:
        keys += ["val_" + key for key in keys]
    return {key: [] for key in keys + ["lr"]}


def batch_bounds(n, batch_size, avoid_single_row=False):
    """(start, stop) of each batch of the shuffled order. With avoid_single_row, a last batch of
    one row joins the batch before it: BatchNorm cannot take a variance of one row."""
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if avoid_single_row and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds
