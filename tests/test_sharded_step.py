"""Tests for sharded_step.py: the workers stepping the optimizer give exactly the main process's step.

The reference is DataParallel with shard_optimizer=False (the same N, the main process steps):
the sums are the same, and each entry goes through the same formula, so weights, losses and the
optimizer's state must agree to the bit.
"""

import multiprocessing
import os
import random
import signal
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from activations import ReLU, Softmax, Tanh  # noqa: E402
from callbacks import Callback  # noqa: E402
from layers import Dense, Dropout  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from optimizers import SGD, Adam, AdamW, RMSprop  # noqa: E402
from parallel_memory import flat_slice  # noqa: E402
from sharded_step import state_keys  # noqa: E402

HAS_FORK = "fork" in multiprocessing.get_all_start_methods()
if HAS_FORK:
    import parallel  # noqa: E402
    from parallel import DataParallel, WorkerError, _Layout  # noqa: E402

OPTIMIZERS = {
    "adam": lambda params: Adam(params, lr=0.01),
    "adamw": lambda params: AdamW(params, lr=0.01, weight_decay=0.1),
    "sgd": lambda params: SGD(params, lr=0.05),
    "nesterov": lambda params: SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "rmsprop": lambda params: RMSprop(params, lr=0.01, momentum=0.5),
}


def data(n=41, n_in=5, n_classes=3, seed=1):
    rng = random.Random(seed)
    X = [[rng.gauss(0, 1) for _ in range(n_in)] for _ in range(n)]
    Y = [[1.0 if c == (int(abs(x[0]) * 3) % n_classes) else 0.0 for c in range(n_classes)] for x in X]
    return Matrix(X), Matrix(Y)


def mlp(dropout=0.0):
    rng = random.Random(3)
    layers = [Dense(5, 8, rng=rng, l2=0.01), Tanh()]
    if dropout:
        layers.append(Dropout(dropout, rng=random.Random(7)))
    return Network(layers + [Dense(8, 6, rng=rng), ReLU(), Dense(6, 3, rng=rng), Softmax()])


class Seen(Callback):
    """Records what fit's callbacks see: the optimizer's class, its state after every epoch."""

    def __init__(self):
        self.optimizer_type, self.states = None, []

    def on_train_begin(self, run):
        self.optimizer_type = type(run.optimizer).__name__

    def on_epoch_end(self, run):
        self.states.append(run.optimizer.state_dict())


def train(workers, shard, optimizer="adam", epochs=2, batch_size=8, callbacks=(), dropout=0.0, shuffle=True):
    X, Y = data()
    network = mlp(dropout)
    optimizer = OPTIMIZERS[optimizer](network.parameters())
    seen = Seen()
    history = DataParallel(network, workers, seed=4, shard_optimizer=shard).fit(
        X, Y, CrossEntropy(), optimizer, epochs=epochs, batch_size=batch_size, rng=random.Random(5),
        shuffle=shuffle, callbacks=[seen] + list(callbacks))
    return network, optimizer, history, seen


def flat(network):
    return [v for matrix in network.get_weights() for row in matrix for v in row]


class TestFlatSlices(unittest.TestCase):
    def test_a_slice_of_the_parameters_laid_end_to_end(self):
        class P:
            def __init__(self, rows):
                self.value = Matrix(rows)
        a, b = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[7.0, 8.0]]
        layout = _Layout([P(a), P(b)]) if HAS_FORK else None
        if layout is None:
            self.skipTest("parallel needs fork")
        matrices = [Matrix(a), Matrix(b)]
        everything = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
        for first in range(9):
            for last in range(first, 9):
                self.assertEqual(flat_slice(layout, matrices, first, last), everything[first:last], (first, last))

    def test_only_the_built_in_rules_on_all_the_parameters_are_sharded(self):
        network = mlp()
        params = network.parameters()
        self.assertEqual(state_keys(Adam(params), params), ("exp_avg", "exp_avg_sq"))
        self.assertEqual(state_keys(SGD(params), params), ())
        self.assertEqual(state_keys(SGD(params, momentum=0.5), params), ("momentum_buffer",))
        self.assertEqual(state_keys(RMSprop(params), params), ("square_avg",))

        class MyAdam(Adam):
            pass
        self.assertIsNone(state_keys(MyAdam(params), params))
        self.assertIsNone(state_keys(Adam(params[:2]), params))  # the rest frozen
        self.assertIsNone(state_keys(Adam(params[::-1]), params))


@unittest.skipUnless(HAS_FORK, "DataParallel needs the fork start method")
class TestShardedStep(unittest.TestCase):
    def test_bit_for_bit_the_main_process_step_for_every_rule(self):
        # 41 rows in batches of 8: the last batch has 1 row, so one worker has no shard then
        for name in OPTIMIZERS:
            for workers in (2, 3):
                with self.subTest(optimizer=name, workers=workers):
                    network, optimizer, history, seen = train(workers, True, name)
                    reference, reference_optimizer, reference_history, reference_seen = train(workers, False, name)
                    self.assertEqual(seen.optimizer_type, "ShardedOptimizer")
                    self.assertEqual(reference_seen.optimizer_type, type(reference_optimizer).__name__)
                    self.assertNotEqual(flat(network), flat(mlp()))  # it trained
                    self.assertEqual(flat(network), flat(reference))
                    self.assertEqual(history, reference_history)
                    self.assertEqual(seen.states, reference_seen.states)  # checkpoints see the state
                    self.assertEqual(optimizer.state_dict(), reference_optimizer.state_dict())  # after fit
                    self.assertEqual(optimizer.t, 12)  # 6 batches x 2 epochs

    def test_more_workers_than_some_parameters_have_numbers(self):
        network, optimizer, _, _ = train(5, True, "adam", epochs=1, batch_size=16)
        reference, reference_optimizer, _, _ = train(5, False, "adam", epochs=1, batch_size=16)
        self.assertEqual(flat(network), flat(reference))
        self.assertEqual(optimizer.state_dict(), reference_optimizer.state_dict())

    def test_what_callbacks_change_in_place_reaches_the_step(self):
        class InPlace(Callback):  # a gradient scaled in place, a max-norm-like shrink of the weights
            def on_backward_end(self, run):  # between the workers' forward and the step
                run.network.parameters()[0].grad.update_(lambda g: g * 0.5)
                run.network.parameters()[4].value.update_(lambda w: w * 0.99)

            def on_batch_end(self, run):
                run.network.parameters()[2].value.update_(lambda w: w * 0.9)

            def on_epoch_end(self, run):  # a hyper-parameter other than lr
                run.optimizer.weight_decay = 0.5

        for name in ("adamw", "nesterov"):
            with self.subTest(optimizer=name):
                sharded = train(2, True, name, callbacks=[InPlace()])
                reference = train(2, False, name, callbacks=[InPlace()])
                plain = train(2, True, name)
                self.assertEqual(flat(sharded[0]), flat(reference[0]))
                self.assertEqual(sharded[1].state_dict(), reference[1].state_dict())
                self.assertNotEqual(flat(sharded[0]), flat(plain[0]))

    def test_switching_momentum_on_during_a_run_is_refused(self):
        class MomentumOn(Callback):
            def on_epoch_end(self, run):
                run.optimizer.momentum = 0.9

        with self.assertRaises(ValueError) as caught:
            train(2, True, "sgd", callbacks=[MomentumOn()])
        self.assertIn("momentum", str(caught.exception))

    def test_a_state_with_names_the_rule_does_not_use(self):
        # an SGD-with-momentum state loaded into SGD without momentum: both steps ignore the buffer
        results = []
        for shard in (True, False):
            X, Y = data()
            network = mlp()
            first = SGD(network.parameters(), lr=0.05, momentum=0.9)
            DataParallel(network, 2, shard_optimizer=shard).fit(X, Y, CrossEntropy(), first, epochs=1,
                                                                batch_size=8, shuffle=False)
            second = SGD(network.parameters(), lr=0.05)
            second.load_state_dict(first.state_dict())
            DataParallel(network, 2, shard_optimizer=shard).fit(X, Y, CrossEntropy(), second, epochs=1,
                                                                batch_size=8, shuffle=False)
            results.append((flat(network), second.state_dict()))
        self.assertEqual(results[0], results[1])

    def test_dropout_and_a_gradient_replaced_by_a_callback(self):
        class Halve(Callback):  # as clip_grad_norm does: a new Matrix in Parameter.grad
            def on_backward_end(self, run):
                for p in run.network.parameters():
                    p.grad = p.grad * 0.5

        sharded = train(2, True, "nesterov", dropout=0.3, callbacks=[Halve()])
        reference = train(2, False, "nesterov", dropout=0.3, callbacks=[Halve()])
        unhalved = train(2, True, "nesterov", dropout=0.3)
        self.assertEqual(flat(sharded[0]), flat(reference[0]))
        self.assertNotEqual(flat(sharded[0]), flat(unhalved[0]))

    def test_a_state_loaded_before_or_during_fit_is_taken_up(self):
        # two epochs in one fit, against one epoch, then a second fit resumed from its state:
        # once loaded before fit, once loaded by a callback at the start (as a checkpoint resume does)
        X, Y = data()
        straight, _, _, _ = train(2, True, "adam", shuffle=False)

        class Resume(Callback):
            def __init__(self, state):
                self.state = state

            def on_train_begin(self, run):
                run.optimizer.load_state_dict(self.state)

        for where in ("before", "callback"):
            with self.subTest(loaded=where):
                network = mlp()
                first = Adam(network.parameters(), lr=0.01)
                DataParallel(network, 2, seed=4).fit(X, Y, CrossEntropy(), first, epochs=1, batch_size=8,
                                                     shuffle=False)
                state = first.state_dict()
                self.assertEqual(state["t"], 6)
                second = Adam(network.parameters(), lr=0.01)
                callbacks = []
                if where == "before":
                    second.load_state_dict(state)
                else:
                    callbacks = [Resume(state)]
                DataParallel(network, 2, seed=4).fit(X, Y, CrossEntropy(), second, epochs=1, batch_size=8,
                                                     shuffle=False, callbacks=callbacks)
                self.assertEqual(second.t, 12)
                self.assertEqual(flat(network), flat(straight))

    def test_weights_set_between_epochs_reach_the_workers(self):
        X, Y = data()

        class Reset(Callback):  # set_weights gives every Parameter a new matrix
            def on_epoch_end(self, run):
                if run.epoch == 1:
                    run.network.set_weights(mlp().get_weights())

        results = []
        for shard in (True, False):
            network = mlp()
            DataParallel(network, 2, seed=4, shard_optimizer=shard).fit(
                X, Y, CrossEntropy(), SGD(network.parameters(), lr=0.05), epochs=2, batch_size=8,
                shuffle=False, callbacks=[Reset()])
            results.append(flat(network))
        self.assertEqual(results[0], results[1])

    def test_a_worker_killed_mid_run_leaves_the_last_completed_step(self):
        def killed_run(shard):
            seen = {}

            class Kill(Callback):
                def on_batch_end(self, run):
                    if run.epoch == 1 and run.batch == 3:  # an odd step: the second mirror
                        seen["weights"] = run.network.get_weights()
                        seen["state"] = run.optimizer.state_dict()
                        workers = [p for p in multiprocessing.active_children() if p.name.startswith("DataParallel")]
                        os.kill(sorted(workers, key=lambda p: p.name)[1].pid, signal.SIGKILL)

            X, Y = data()
            network = mlp()
            optimizer = Adam(network.parameters(), lr=0.01)
            with self.assertRaises(WorkerError):
                DataParallel(network, 2, shard_optimizer=shard).fit(
                    X, Y, CrossEntropy(), optimizer, epochs=2, batch_size=8, rng=random.Random(5),
                    callbacks=[Kill()])
            self.assertEqual(network.get_weights(), seen["weights"])
            self.assertEqual(optimizer.state_dict(), seen["state"])
            self.assertEqual(optimizer.t, 3)
            return seen

        sharded, reference = killed_run(True), killed_run(False)
        self.assertEqual(sharded["state"], reference["state"])
        self.assertEqual(sharded["weights"], reference["weights"])

    def test_a_worker_dying_in_the_middle_of_a_step(self):
        # worker 2 ends while stepping step 4, before or after writing its slice: the weights,
        # the state and t stay those of step 3, and the error knows its run (for the checkpoint)
        for when in ("before", "after"):
            with self.subTest(dies=when):
                X, Y = data()
                network = mlp()
                optimizer = Adam(network.parameters(), lr=0.01)
                seen = {}

                class Remember(Callback):
                    def on_batch_end(self, run):
                        if run.batch == 3:
                            seen["weights"] = run.network.get_weights()
                            seen["state"] = run.optimizer.state_dict()

                real_step = parallel.worker_step

                def dying_step(optimizer, keys, layout, buffer, view, workers, first, last, t, *rest):
                    if first > 0 and t == 4 and when == "before":
                        os._exit(3)
                    result = real_step(optimizer, keys, layout, buffer, view, workers, first, last, t, *rest)
                    if first > 0 and t == 4:
                        os._exit(3)
                    return result

                parallel.worker_step = dying_step  # the forked workers inherit it
                try:
                    with self.assertRaises(WorkerError) as caught:
                        DataParallel(network, 2).fit(X, Y, CrossEntropy(), optimizer, epochs=1, batch_size=8,
                                                     shuffle=False, callbacks=[Remember()])
                finally:
                    parallel.worker_step = real_step
                self.assertIsNotNone(caught.exception.run)
                self.assertIn("batch 4 of epoch 1", str(caught.exception))
                self.assertEqual(network.get_weights(), seen["weights"])
                self.assertEqual(optimizer.state_dict(), seen["state"])
                self.assertEqual(optimizer.t, 3)

if __name__ == "__main__":
    unittest.main()
