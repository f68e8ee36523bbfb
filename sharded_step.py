"""The optimizer's step shared out among DataParallel's workers (ZeRO's first stage, on one machine).

Without it, every step of a DataParallel run ends in the main process: the workers' gradients are
summed, then one process runs optimizer.step() over every parameter while the workers wait. For
an MLP with a quarter of a million weights that step is a sixth of the whole (Amdahl's bound:
docs/performance.md). The rules of SGD, RMSprop, Adam and AdamW are elementwise, though: entry i
of a parameter moves by a formula of entry i of its gradient and of its state alone. So the
parameters are laid end to end as one flat vector of S numbers (parallel._Layout), cut into N
contiguous slices (the same cut as the reduce-scatter), and worker k steps slice k:

    worker k:  g_k = (g_1 + ... + g_N)[slice k]        the summed gradient of its slice (as before)
    main:      the callbacks see (and may change) every Parameter.grad
    worker k:  w_k, state_k = rule(w_k, g_k, state_k, t, lr)   its slice of the weights and of the
                                                       optimizer's state (m and v for Adam) only
    main:      the new weights are read back into every Parameter.value

Each entry goes through the very formula optimizer.step() would apply (the optimizer's own
_update, run on a 1 x L "parameter" holding the slice), so a sharded run is bit-for-bit the
unsharded one for the same N. The optimizer's state lives in the workers; it is also written, after
every step, to one of two mirror regions of the shared memory (alternating, so the one of the last
completed step is intact even if a worker dies in the middle of the next). ShardedOptimizer, which
fit sees as the optimizer, reads the mirror back when asked for state_dict() (a checkpoint), sends
a loaded state_dict out to the workers (resuming), and leaves everything else (lr, t, betas, ...) to
the optimizer it wraps, so schedules and callbacks work unchanged.

Only the four built-in optimizers, on exactly the network's parameters in order, are sharded; any
other optimizer (a subclass, frozen parameters) steps in the main process as before.
"""

from array import array

from matrix import Matrix
from optimizers import SGD, Adam, AdamW, RMSprop
from parallel_memory import _doubles, flat_slice


def state_keys(optimizer, parameters):
    """The names of the per-parameter state of `optimizer` when it can be sharded over `parameters`
    (a tuple, maybe empty: plain SGD has none), or None when it cannot."""
    if type(optimizer) not in (SGD, RMSprop, Adam, AdamW):  # a subclass may not be elementwise
        return None
    params = getattr(optimizer, "params", [])
    if len(params) != len(parameters) or any(a is not b for a, b in zip(params, parameters)):
        return None  # some parameters frozen, or another order: the flat slices would not match
    if isinstance(optimizer, Adam):
        return ("exp_avg", "exp_avg_sq")
    if isinstance(optimizer, RMSprop):
        return ("square_avg",) + (("momentum_buffer",) if optimizer.momentum else ())
    return ("momentum_buffer",) if optimizer.momentum else ()


class FlatParameter:
    """A slice of the flat parameter vector as a 1 x L Parameter: what optimizer._update needs."""

    def __init__(self, numbers, grad_numbers):
        self.value = Matrix.from_rows([numbers], len(numbers))
        self.grad = Matrix.from_rows([grad_numbers], len(grad_numbers))


def step_slice(optimizer, t, lr, weights, grads, state):
    """One step of `optimizer`'s rule on a slice: weights and grads are lists of the slice's
    numbers, state {name: 1 x L Matrix} (filled here on the first step); returns the new weights."""
    optimizer.t, optimizer.lr = t, lr
    parameter = FlatParameter(weights, grads)
    optimizer._update(parameter, state)
    return parameter.value.rows[0]


class ShardedOptimizer:
    """What fit sees as the optimizer while DataParallel's workers step it (see the module's
    docstring): step() asks the pool; state_dict() and load_state_dict() go through the shared
    mirror of the workers' state; every other attribute, read or set, is the wrapped optimizer's."""

    def __init__(self, optimizer, pool):
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "pool", pool)

    def __getattr__(self, name):
        return getattr(self.optimizer, name)

    def __setattr__(self, name, value):
        setattr(self.optimizer, name, value)

    def step(self):
        """One step of every parameter, each worker its own slice; the weights come back into
        every Parameter.value, and t counts the step once it has been taken everywhere."""
        self.pool.step(self.optimizer.t + 1, self.optimizer.lr)
        self.optimizer.t += 1

    def zero_grad(self):
        self.optimizer.zero_grad()

    def state_dict(self):
        """The optimizer's state_dict, its state read from the mirror of the last completed step."""
        self.pool.gather_state(self.optimizer)
        return self.optimizer.state_dict()

    def load_state_dict(self, data):
        """Load into the wrapped optimizer, and have the workers take it up at the next step."""
        self.optimizer.load_state_dict(data)
        self.pool.state_loaded()


def worker_step(optimizer, keys, layout, buffer, view, workers, parameters, first, last, t, lr, grads, state, load,
          weights_at_hand):
    """A worker's step t on numbers first to last of the flat vector; returns the state names it
    now holds (None for an empty slice). `grads`: its slice of the summed gradient, or None to read
    it again (a callback changed it); `load` (names): take the state from the mirror of step t - 1
    first (at fit's start, after a resume)."""
    if last <= first:
        return None
    size = layout.size

    def mirror(parity, key):  # as _Pool._mirror
        return size * (2 + workers + parity * len(keys) + keys.index(key))

    if load is not None:
        state.clear()
        for key in load:
            start = mirror((t - 1) % 2, key)
            state[key] = Matrix.from_rows([list(_doubles(buffer, start + first, start + last))], last - first)
    if grads is None:
        total = size * (1 + workers)
        grads = list(_doubles(buffer, total + first, total + last))
    if weights_at_hand:  # its parameters hold the weights of this step's forward
        weights = flat_slice(layout, [p.value for p in parameters], first, last)
    else:  # it had no rows in this batch: the weight region has them
        weights = list(_doubles(buffer, first, last))
    view[first:last] = array("d", step_slice(optimizer, t, lr, weights, grads, state))
    for key, matrix in state.items():
        start = mirror(t % 2, key)
        view[start + first:start + last] = array("d", matrix.rows[0])
    return [key for key in keys if key in state]
