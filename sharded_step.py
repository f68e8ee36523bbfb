"""The optimizer's step shared out among DataParallel's workers (ZeRO's first stage, on one machine).

Without it, every step of a DataParallel run ends in the main process: the workers' gradients are
summed, then one process runs optimizer.step() over every parameter while the workers wait. For
an MLP with a quarter of a million weights that step is a fifth of the whole (Amdahl's bound:
docs/performance.md). The rules of SGD, RMSprop, Adam and AdamW are elementwise, though: entry i
of a parameter moves by a formula of entry i of the weights, of the gradient and of the state
alone. So the parameters are laid end to end as one flat vector of S numbers (parallel_memory's
_Layout), cut into N contiguous slices (the same cut as the reduce-scatter), and worker k steps
slice k. Writing s_k for slice k of a flat vector:

    worker k:  s_k(g) = s_k(g_1) + ... + s_k(g_N)    its slice of the summed gradient (as before)
    main:      the callbacks see (and may change) every Parameter.grad and .value; main writes
               both into the shared regions, as they are now, with the hyper-parameters
    worker k:  s_k(w), s_k(state) = rule(s_k(w), s_k(g), s_k(state); t, lr, ...)
                                   its slice of the weights and of the state (Adam's m and v) only
    main:      the new weights are read back into every Parameter.value; t counts the step

Each entry goes through the very formula optimizer.step() would apply (the optimizer's own
_update, run on a 1 x L "parameter" holding the slice), so a sharded run is bit-for-bit the
unsharded one for the same N. The optimizer's state lives in the workers; it is also written, after
every step, to one of two mirror regions of the shared memory (alternating, so the one of the last
completed step is intact even if a worker dies in the middle of the next). ShardedOptimizer, which
fit sees as the optimizer, reads the mirror back when asked for state_dict() (a checkpoint) or
.state, sends a loaded state_dict out to the workers (resuming), and leaves every other attribute
to the optimizer it wraps; lr, weight_decay, momentum, nesterov, betas, eps and alpha go to the
workers with every step, so a schedule or a callback may change them (switching momentum on or
off is refused: the workers' state would not match). Main writes the weights and gradients before
every step, so a callback may change them in place too: what the main process's step would see,
the workers see.

Only the four built-in optimizers, on exactly the network's parameters in order, are sharded; any
other optimizer (a subclass, frozen parameters) steps in the main process as before.
"""

from array import array

from matrix import Matrix
from optimizers import SGD, Adam, AdamW, RMSprop
from parallel_memory import _doubles, mirror_offset


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


# what a schedule or a callback may change between steps, sent to the workers with each step
HYPER_PARAMETERS = ("lr", "weight_decay", "momentum", "nesterov", "betas", "eps", "alpha")


def step_slice(optimizer, t, settings, weights, grads, state):
    """One step of `optimizer`'s rule on a slice: weights and grads are lists of the slice's
    numbers, settings {hyper-parameter: value}, state {name: 1 x L Matrix} (filled here on the
    first step); returns the new weights."""
    for name, value in settings.items():
        setattr(optimizer, name, tuple(value) if isinstance(value, list) else value)
    optimizer.t = t
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
        self.pool.step(self.optimizer)

    @property
    def state(self):
        """The optimizer's per-parameter state, as of the last completed step."""
        self.pool.gather_state(self.optimizer)
        return self.optimizer.state

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


def worker_step(optimizer, keys, layout, buffer, view, workers, first, last, t, settings, state, load):
    """A worker's step t on numbers first to last of the flat vector, from the weights and summed
    gradients the main process wrote; returns the state names it now holds (None for an empty
    slice). `settings`: the optimizer's hyper-parameters now; `load` (names): take the state from
    the mirror of step t - 1 first (at fit's start, after a resume)."""
    if last <= first:
        return None
    size = layout.size

    def mirror(parity, key):
        return mirror_offset(size, workers, keys, parity, key)

    def numbers(start):
        return list(_doubles(buffer, start + first, start + last))

    if load is not None:
        state.clear()
        for key in load:
            state[key] = Matrix.from_rows([numbers(mirror((t - 1) % 2, key))], last - first)
    weights, grads = numbers(0), numbers(size * (1 + workers))
    view[first:last] = array("d", step_slice(optimizer, t, settings, weights, grads, state))
    for key, matrix in state.items():
        start = mirror(t % 2, key)
        view[start + first:start + last] = array("d", matrix.rows[0])
    return [key for key in keys if key in state]
