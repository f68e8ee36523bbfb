"""Data parallelism over processes: each batch split across N workers, and the optimizer's step.

    DataParallel(network, workers=2, seed=0).fit(X, Y, loss, optimizer, epochs, ...)

trains `network` (its own layers, in place) exactly as network.fit does, with the same
callbacks, but every training batch of n rows is cut into N contiguous shards of about
n / N rows, and worker k runs forward and backward on shard k. The math of one step:

    main:      write every parameter into the shared weight buffer (float64)
    worker k:  Y_k = forward(X[rows_k])                     (rows_k: row indices, not rows)
    main:      Y = [Y_1; ...; Y_N]   L = loss(Y, T) + penalty   G = dL/dY   (n, out)
    worker k:  backward(G[rows of shard k]) -> g_k = dL/dθ from its shard, into its own region
    worker k:  part k of g = g_1 + g_2 + ... + g_N  (in worker order, over its N-th of the numbers)
    main:      dL/dθ = g (the callbacks see it), then the optimizer's step:
    worker k:  its N-th of the weights and of the optimizer's state stepped (sharded_step.py),
               when the optimizer is a built-in one on all the parameters; else main steps all
    main:      the new weights read back into every Parameter.value

(The weights are written at every forward and again, with the gradients, before a sharded step,
so whatever a callback changed in between, in place or not, is what the step uses. Writing is
cheap beside reading: reading makes a float object per number, writing none.)

The loss and dL/dY are the single-process ones (the loss sees the whole batch, so a mean
over rows is the batch's mean), and the shards' weight gradients X_k^T G_k add up to
X^T G: the result differs from one process only in the order of the sums, and a run is
bit-for-bit repeatable for a given N (the shards and the order of the sum are fixed).

The workers are forked when fit starts, so they inherit the training data (no copy is
sent) and the network; per batch only row indices, the shard's outputs and its slice of
dL/dY go through a pipe (as marshal bytes: numbers and lists only, never pickle). Weights and gradients, the large part, go through
multiprocessing.shared_memory as float64 buffers: one weight region written by the main
process, one gradient region per worker, written only by that worker, and one for their sum,
which the workers share out (a reduce-scatter): worker k adds up the k-th N-th of the numbers.
The regions and the copies in and out of them are parallel_memory.py's.

Dropout in worker k draws from its own generator, seeded from (seed, k). The L1/L2 penalty
gradient is added once (by worker 1's shard only). BatchNorm is refused: its mean and
variance would be each shard's, not the batch's. A worker that dies raises WorkerError
(a RuntimeError); a worker's own exception is re-raised with its traceback. Ctrl-C is left
to the main process (workers ignore SIGINT), and the workers are stopped when fit ends,
however it ends. Needs the "fork" start method (Linux, macOS): elsewhere it refuses.
"""

import gc
import marshal
import os
import random
import signal
import traceback

from callbacks import Callback
from matrix import Matrix
from network import Network
from parallel_memory import DOUBLE, _Layout, flat_slice, mirror_offset, shard_bounds, sum_regions
from sharded_step import HYPER_PARAMETERS, ShardedOptimizer, state_keys, worker_step

# multiprocessing is imported when workers start (_multiprocessing), not with this module: main.py
# and the pipeline import WorkerError, and a run with workers 1 should not pay for it.


def _multiprocessing():
    """The multiprocessing module with .connection loaded, and shared_memory (None if missing)."""
    import multiprocessing
    import multiprocessing.connection
    try:
        from multiprocessing import shared_memory
    except ImportError:  # pragma: no cover (CPython 3.8+ and PyPy 3.8+ have it)
        shared_memory = None
    return multiprocessing, shared_memory

class WorkerError(RuntimeError):
    """A worker process died (killed, out of memory) or stopped answering; training ended there.

    `run` is the TrainingRun it happened in (or None): its weights, optimizer and position are
    those after the last completed batch, so an application can save a checkpoint from it."""

    def __init__(self, message, run=None):
        super().__init__(message)
        self.run = run


def walk_layers(layers):
    """Every layer, and every layer inside a container (Residual's sublayers), depth first."""
    for layer in layers:
        yield layer
        yield from walk_layers(_sublayers(layer))


def _sublayers(layer):
    sublayers = getattr(layer, "sublayers", None)
    return list(sublayers()) if sublayers is not None else []


def check_parallel(network, workers):
    """ValueError when `network` cannot be trained by `workers` processes, saying why."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    for layer in walk_layers(network.layers):
        # a container (Residual) has batch_statistics when a layer inside does: that one is named
        if workers > 1 and layer.batch_statistics and not _sublayers(layer):
            raise ValueError(f"{layer!r} cannot be trained with workers > 1: its mean and variance would "
                             "be taken over each worker's share of the batch, not over the batch (use workers 1, "
                             "or a LayerNorm, whose statistics are per row)")
    if workers == 1:
        return
    multiprocessing, shared_memory = _multiprocessing()
    if "fork" not in multiprocessing.get_all_start_methods():
        raise ValueError("workers > 1 needs the 'fork' start method of multiprocessing (Linux, macOS), so that "
                         "the workers inherit the data; this platform has only "
                         f"{', '.join(multiprocessing.get_all_start_methods())}: use workers 1")
    if shared_memory is None:
        raise ValueError("workers > 1 needs multiprocessing.shared_memory, which this Python lacks: use workers 1")


class _RunWatcher(Callback):
    """The callback DataParallel adds first: it hands the parallel forward the TrainingRun, whose
    `rows` are the row indices of the batch fit has just taken (X_batch)."""

    def __init__(self, owner):
        self.owner = owner

    def on_train_begin(self, run):
        self.owner._run = run
        if self.owner._pool is not None:
            self.owner._pool.run = run  # a worker dying in the sharded step names its batch


class DataParallel:
    """`network`, trained by `workers` processes (see the module's docstring).

    Everything but fit, forward and backward is the network's own (save, predict, evaluate,
    parameters, ...): a DataParallel is what fit and its callbacks see as run.network.
    shard_optimizer=False keeps the optimizer's step in the main process even when the workers
    could take it (sharded_step.py; the two give the same numbers, bit for bit)."""

    def __init__(self, network, workers=2, seed=0, shard_optimizer=True):
        check_parallel(network, workers)
        self.network, self.workers, self.seed = network, workers, seed
        self.shard_optimizer = shard_optimizer  # the workers step the optimizer (sharded_step.py)
        self._run = None
        self._pool = None
        self._shards = None

    @classmethod
    def from_dict(cls, data, source="model"):
        """A Network from its saved dict (resuming a checkpoint builds the saved model this way)."""
        return Network.from_dict(data, source)

    def __getattr__(self, name):
        if name == "network":  # before __init__ set it (copying, unpickling)
            raise AttributeError(name)
        return getattr(self.network, name)

    # ------------------------------------------------------------------- fit
    def fit(self, X, Y, loss, optimizer, epochs, batch_size=32, shuffle=True, validation_data=None,
            rng=None, callbacks=()):
        """network.fit, with each batch's forward and backward shared by the workers, and the
        optimizer's step too when it can be sharded (sharded_step.py); returns the history. After
        fit, `optimizer` holds the state of the last step, wherever it was taken."""
        self._pool = _Pool(self.network, X, self.workers, self.seed, optimizer if self.shard_optimizer else None)
        if self._pool.sharded:
            optimizer = ShardedOptimizer(optimizer, self._pool)
        try:
            return Network.fit(self, X, Y, loss, optimizer, epochs, batch_size=batch_size, shuffle=shuffle,
                               validation_data=validation_data, rng=rng, callbacks=[_RunWatcher(self)] + list(callbacks))
        finally:
            pool, self._pool, self._run, self._shards = self._pool, None, None, None
            pool.close()

    def forward(self, X, training=False, layers=None):
        """In training inside fit: the batch's output, gathered from the workers' shards.
        Otherwise (inference, evaluation): the network's own forward, in this process."""
        run, self._shards = self._run, None
        if not training or self._pool is None or run is None or X is not run.X_batch:
            return self.network.forward(X, training, layers)
        n_layers = len(self.network.layers if layers is None else layers)
        self._shards = self._pool.forward(run.rows, n_layers, run)
        return Matrix.from_rows([row for rows in self._shards for row in rows], self._shards_width)

    def backward(self, grad, layers=None, input_grad=True):
        """After a parallel forward: each worker's slice of grad back through its shard, the
        parameter gradients summed in worker order into every Parameter.grad; returns None."""
        if self._shards is None:
            return self.network.backward(grad, layers, input_grad)
        if input_grad:
            raise ValueError("DataParallel.backward computes parameter gradients only (input_grad=False)")
        self._pool.backward(grad, [len(rows) for rows in self._shards], self._run)
        self._shards = None
        return None

    @property
    def _shards_width(self):
        return self._pool.output_width


class _Pool:
    """The worker processes of one fit, their pipes and the shared buffers; close() ends them."""

    def __init__(self, network, X, workers, seed, optimizer=None):
        self.network, self.workers = network, workers
        self.parameters = network.parameters()
        self.layout = _Layout(self.parameters)
        self.processes, self.connections, self.memory = [], [], None
        self.active = 0
        self.output_width = None
        # the sharded step (sharded_step.py): the optimizer's state names, or None (main steps)
        self.optimizer = optimizer
        self.keys = state_keys(optimizer, self.parameters) if optimizer is not None else None
        self.sharded = self.keys is not None
        self.present = ()  # the state names the workers hold (Adam's appear at its first step)
        self.state_pending = True  # the optimizer's own state is still to be sent to the workers
        self.mirror_t = 0  # the step whose state the mirror regions hold
        self.run = None  # the TrainingRun (for WorkerError)
        multiprocessing, shared_memory = _multiprocessing()
        self.wait = multiprocessing.connection.wait
        context = multiprocessing.get_context("fork")
        # weights, N gradients, their sum, and (sharded) two mirrors of each state name
        self.regions = 2 + workers + 2 * len(self.keys or ())
        size = max(1, self.layout.size * self.regions) * DOUBLE
        self.memory = shared_memory.SharedMemory(create=True, size=size)
        try:
            self.buffer = self.memory.buf  # bytes, read through array.frombytes
            self.view = self.buffer.cast("d")  # float64, written by slice assignment
            parent = os.getpid()
            for k in range(workers):
                mine, theirs = context.Pipe()
                process = context.Process(target=_worker, name=f"DataParallel worker {k + 1}",
                                          args=(k, theirs, [c for c in self.connections] + [mine], network, X,
                                                self.memory, self.layout, workers, seed, parent,
                                                optimizer if self.sharded else None, self.keys), daemon=True)
                process.start()
                theirs.close()
                self.processes.append(process)
                self.connections.append(mine)
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------- messages
    def _send(self, k, message, run):
        try:
            self.connections[k].send_bytes(marshal.dumps(message))
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            raise self._died(k, run) from None

    def _receive(self, k, run):
        connection, process = self.connections[k], self.processes[k]
        ready = self.wait([connection, process.sentinel])
        if connection in ready:
            try:
                reply = marshal.loads(connection.recv_bytes())
            except (EOFError, ConnectionResetError, OSError):
                raise self._died(k, run) from None
            if reply[0] == "error":
                raise RuntimeError(f"DataParallel worker {k + 1} failed:\n{reply[1]}")
            return reply
        raise self._died(k, run)

    def _died(self, k, run):
        process = self.processes[k]
        process.join(timeout=5.0)  # its pipe or sentinel says it is ending: let it finish
        code = process.exitcode
        if code is None:
            how = "stopped answering"
        elif code < 0:
            try:
                how = f"was killed by signal {-code} ({signal.Signals(-code).name})"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        where = f" during batch {run.batch} of epoch {run.epoch}" if run is not None and run.batch else ""
        return WorkerError(f"training worker {k + 1} of {self.workers} (pid {process.pid}) {how}{where}; "
                           "training stopped before that batch's step", run)

    # ---------------------------------------------------------------- a step
    def forward(self, rows, n_layers, run):
        """Write the weights, hand each worker its shard's row indices; returns the shards' output rows.
        (Written every step, even after a sharded one left them there: a callback may have changed
        them since, in place or not, and writing is cheap beside reading: no float objects made.)"""
        self.layout.write(self.view, 0, [p.value for p in self.parameters])
        bounds = [b for b in shard_bounds(len(rows), self.workers) if b[1] > b[0]]
        self.active = len(bounds)
        for k, (start, stop) in enumerate(bounds):
            self._send(k, ("forward", rows[start:stop], n_layers), run)
        shards = []
        for k in range(self.active):
            _, out_rows, width = self._receive(k, run)
            shards.append(out_rows)
            self.output_width = width
        return shards

    def backward(self, grad, sizes, run):
        """Each active worker's slice of grad back through its shard; then each adds up its part
        of the gradient regions (a reduce-scatter: the sum is shared out, not done here); the sum
        becomes every Parameter.grad."""
        start = 0
        for k, size in enumerate(sizes):
            self._send(k, ("backward", grad.rows[start:start + size], grad.shape[1]), run)
            start += size
        for k in range(len(sizes)):
            self._receive(k, run)
        layout, total = self.layout, self.layout.size  # one shard alone: its region is the sum
        if len(sizes) > 1 or self.sharded:  # (the sharded step needs every worker's slice of it)
            total = self.layout.size * (1 + self.workers)
            for k, (first, last) in enumerate(shard_bounds(layout.size, self.workers)):
                self._send(k, ("sum", len(sizes), first, last), run)
            for k in range(self.workers):
                self._receive(k, run)
        for index, p in enumerate(self.parameters):
            p.grad = layout.read(self.buffer, total, index)

    # ------------------------------------------------- the sharded step
    def _mirror(self, parity, key):
        return mirror_offset(self.layout.size, self.workers, self.keys, parity, key)

    def step(self, optimizer):
        """Step t = optimizer.t + 1: every worker updates its slice of the weights and of the
        optimizer's state; then the new weights become every Parameter.value and optimizer.t is t.

        The weights and gradients are written first, as the callbacks left them (clipping may have
        replaced a gradient, a callback changed a weight in place: the step sees what the main
        process's step would), and so are the optimizer's hyper-parameters (a schedule's lr, or a
        callback's weight_decay); a state loaded since the last step is sent out first too."""
        if state_keys(optimizer, self.parameters) != self.keys:
            raise ValueError(f"{type(optimizer).__name__}'s momentum was switched on or off during a run with "
                             "workers: the workers hold the state of the rule it started with")
        t, layout, run = optimizer.t + 1, self.layout, self.run
        layout.write(self.view, 0, [p.value for p in self.parameters])
        layout.write(self.view, layout.size * (1 + self.workers), [p.grad for p in self.parameters])
        load = self._send_state(t - 1) if self.state_pending else None
        settings = {name: getattr(optimizer, name) for name in HYPER_PARAMETERS if hasattr(optimizer, name)}
        for k in range(self.workers):
            self._send(k, ("step", t, settings, load), run)
        present = []
        for k in range(self.workers):
            _, keys = self._receive(k, run)
            present = keys if keys is not None else present
        values = [layout.read(self.buffer, 0, index) for index in range(len(self.parameters))]
        for p, value in zip(self.parameters, values):  # from here on nothing can fail: the step is taken
            p.value = value
        self.present, self.mirror_t, self.state_pending = tuple(present), t, False
        optimizer.t = t

    def _send_state(self, t):
        """Write the optimizer's own state into the mirror of step t (the workers read it from
        there); returns its names. Every parameter's state must have the same names."""
        state = self.optimizer.state
        names = [key for key in self.keys if key in state[0]]
        if any([key for key in self.keys if key in s] != names for s in state):
            raise ValueError(f"{type(self.optimizer).__name__}'s state holds {names} for its first parameter but "
                             "not for every one: it cannot be stepped by the workers")
        for key in names:
            self.layout.write(self.view, self._mirror(t % 2, key), [s[key] for s in state])
        return names

    def gather_state(self, optimizer):
        """Read the workers' state (the mirror of the last completed step) into `optimizer`."""
        if self.memory is None or self.state_pending:
            return  # closed (gathered then), or the optimizer's own state is the current one
        for index, s in enumerate(optimizer.state):
            for key in self.present:
                s[key] = self.layout.read(self.buffer, self._mirror(self.mirror_t % 2, key), index)

    def state_loaded(self):
        """The optimizer's state was loaded (a resume): the workers take it at the next step."""
        self.state_pending = True

    # -------------------------------------------------------------- the end
    def close(self):
        """Stop every worker (asked, then terminated, then killed) and free the shared memory;
        a sharded optimizer gets back the state of the last completed step first."""
        if self.sharded and self.memory is not None:
            self.gather_state(self.optimizer)
        for connection in self.connections:
            try:
                connection.send_bytes(marshal.dumps(("stop",)))
            except (OSError, EOFError, ValueError):
                pass
        for process in self.processes:
            process.join(timeout=2.0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join()
        for connection in self.connections:
            connection.close()
        self.processes, self.connections = [], []
        if self.memory is not None:
            if getattr(self, "view", None) is not None:
                self.view.release()
                self.view = self.buffer = None
            try:
                self.memory.close()
            except BufferError:  # a slice of the view not yet collected (PyPy): collect, try once more
                gc.collect()
                try:
                    self.memory.close()
                except BufferError:
                    pass
            self.memory.unlink()
            self.memory = None


# ------------------------------------------------------------------ a worker
def _worker(k, connection, inherited, network, X, memory, layout, workers, seed, parent, optimizer, keys):
    """Worker k's loop: forward a shard, backward its slice of dL/dY, add up its part of the
    gradients and (with `optimizer`, sharded) step its part of the weights, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    for other in inherited:  # the main process's ends of every pipe: EOF must reach us if it dies
        other.close()
    parameters = network.parameters()
    generator = random.Random(f"DataParallel dropout: seed {seed}, worker {k}")
    for layer in walk_layers(network.layers):
        if type(layer).__name__ == "Dropout":
            layer.rng = generator
        if k > 0 and (getattr(layer, "l1", 0.0) or getattr(layer, "l2", 0.0)):
            layer.l1 = layer.l2 = 0.0  # the penalty's gradient is added once, by worker 1
    buffer = memory.buf
    view = buffer.cast("d")
    size = layout.size
    base = size * (k + 1)
    layers = None
    first, last = shard_bounds(size, workers)[k]  # this worker's slice of the flat vector
    state = {}  # its slice of the optimizer's state, {name: 1 x L Matrix}
    had_shard = False  # its parameters hold this batch's gradients
    try:
        while True:
            if not connection.poll(0.5):
                if os.getppid() != parent:
                    return
                continue
            message = marshal.loads(connection.recv_bytes())
            if message[0] == "stop":
                return
            if message[0] == "forward":
                _, rows, n_layers = message
                for index, p in enumerate(parameters):
                    p.value = layout.read(buffer, 0, index)
                layers = network.layers[:n_layers]
                had_shard = False
                output = network.forward(X.take(rows), training=True, layers=layers)
                connection.send_bytes(marshal.dumps(("output", output.rows, output.shape[1])))
            elif message[0] == "backward":
                _, grad_rows, width = message
                network.backward(Matrix.from_rows(grad_rows, width), layers=layers, input_grad=False)
                layout.write(view, base, [p.grad for p in parameters])
                had_shard = True
                connection.send_bytes(marshal.dumps(("done",)))
            elif message[0] == "sum":  # numbers first to last of the sum of the active workers' gradients
                _, active, start, stop = message
                # its own region's numbers are at hand (no float objects to make) when it had rows
                own = (k, flat_slice(layout, [p.grad for p in parameters], start, stop)) if had_shard else None
                sum_regions(buffer, view, [size * (j + 1) for j in range(active)], start, stop,
                            size * (1 + workers), own)
                had_shard = False
                connection.send_bytes(marshal.dumps(("summed",)))
            else:  # "step": the optimizer's rule on this worker's slice (sharded_step.py)
                _, t, settings, load = message
                connection.send_bytes(marshal.dumps(("stepped", worker_step(
                    optimizer, keys, layout, buffer, view, workers, first, last, t, settings, state, load))))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return
    except BaseException:
        try:
            connection.send_bytes(marshal.dumps(("error", traceback.format_exc())))
        except OSError:
            pass
    finally:
        view.release()
