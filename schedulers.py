"""Learning-rate schedules: how the learning rate changes from epoch to epoch, as torch.optim.lr_scheduler.

A schedule is made with the optimizer whose rate it drives, remembers the
optimizer's starting rate as `base_lr`, and is stepped once at the end of every
epoch, as in PyTorch:

    scheduler = StepLR(optimizer, step_size=10, gamma=0.5)
    for epoch in range(epochs):
        ... train one epoch with optimizer.lr ...
        scheduler.step()                  # ReduceLROnPlateau: scheduler.step(val_loss)

Network.fit does this for you (fit(..., scheduler=scheduler)) and records the
rate of each epoch in history["lr"]. Below, e = 0, 1, 2, ... counts the epochs
finished, and lr_e is the rate used in epoch e + 1.

    StepLR              lr_e = base_lr * gamma ** floor(e / step_size)
    ExponentialLR       lr_e = base_lr * gamma ** e
    CosineAnnealingLR   lr_e = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / t_max)) / 2
    ReduceLROnPlateau   multiply the rate by `factor` when a metric stops improving
    LinearWarmup        lr_e = base_lr * (e + 1) / (warmup_epochs + 1) for the first
                        warmup_epochs epochs, then hand over to another schedule

Every schedule saves and restores its state (state_dict / load_state_dict), so
a checkpointed run resumes with exactly the same rates.
"""

import math

from utils import check_count, check_number

# "min": a lower value is better (a loss); "max": a higher one (an accuracy).
MODES = ("min", "max")


def _number(value, what, low, low_open=True, high=None, high_open=True):
    """value as a float inside the given bounds, or a ValueError that shows them (utils.check_number)."""
    if high is None:
        bounds = f"{'>' if low_open else '>='} {low:g}"
    else:
        bounds = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return check_number(value, what, bounds)


def _count(value, what, minimum):
    """value when it is an integer >= minimum, or a ValueError (utils.check_count)."""
    return check_count(value, what, minimum)


class LRScheduler:
    """Base class of the schedules that are a formula of the epoch: lr_e = lr_at(e).

    last_epoch counts the calls to step(); the optimizer's rate is set from the
    formula at construction (e = 0) and after every step.
    """

    monitor = None  # the history key a schedule needs in step(); only ReduceLROnPlateau has one

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch):
        """The learning rate after `epoch` epochs."""
        raise NotImplementedError

    def step(self, metric=None):
        """End of an epoch: move to the next epoch's rate. `metric` is ignored here."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    @property
    def lr(self):
        """The rate the optimizer uses now."""
        return self.optimizer.lr

    def state_dict(self):
        return {"name": type(self).__name__, "base_lr": self.base_lr, "last_epoch": self.last_epoch,
                "lr": self.optimizer.lr}

    def load_state_dict(self, state):
        _check_state_name(self, state)
        self.base_lr, self.last_epoch = float(state["base_lr"]), int(state["last_epoch"])
        self.optimizer.lr = float(state["lr"])

    def __repr__(self):
        options = ", ".join(f"{key}={value!r}" for key, value in self.options().items())
        return f"{type(self).__name__}({options})"

    def options(self):
        return {}


class StepLR(LRScheduler):
    """Multiply the rate by gamma every step_size epochs (torch.optim.lr_scheduler.StepLR).

        lr_e = base_lr * gamma ** floor(e / step_size)
    With base_lr 0.1, step_size 2, gamma 0.5: 0.1, 0.1, 0.05, 0.05, 0.025, ...
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = _count(step_size, "StepLR step_size", 1)
        self.gamma = _number(gamma, "StepLR gamma", 0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)

    def options(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialLR(LRScheduler):
    """Multiply the rate by gamma after every epoch (torch.optim.lr_scheduler.ExponentialLR).

        lr_e = base_lr * gamma ** e
    With base_lr 0.1, gamma 0.9: 0.1, 0.09, 0.081, ...
    """

    def __init__(self, optimizer, gamma):
        self.gamma = _number(gamma, "ExponentialLR gamma", 0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch

    def options(self):
        return {"gamma": self.gamma}


class CosineAnnealingLR(LRScheduler):
    """Half a cosine wave from base_lr down to eta_min over t_max epochs
    (Loshchilov & Hutter, 2017, SGDR without restarts; torch.optim.lr_scheduler.CosineAnnealingLR).

        lr_e = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / t_max)) / 2
    It starts at base_lr (e = 0), is halfway at e = t_max / 2 and reaches eta_min at e = t_max.
    PyTorch computes the same rates by a recurrence; this is its closed form.
    """

    def __init__(self, optimizer, t_max, eta_min=0.0):
        self.t_max = _count(t_max, "CosineAnnealingLR t_max", 1)
        self.eta_min = _number(eta_min, "CosineAnnealingLR eta_min", 0.0, low_open=False)
        super().__init__(optimizer)

    def lr_at(self, epoch):
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + math.cos(math.pi * epoch / self.t_max)) / 2.0

    def options(self):
        return {"t_max": self.t_max, "eta_min": self.eta_min}


class ReduceLROnPlateau:
    """Cut the rate when a watched metric has stopped improving (torch.optim.lr_scheduler.ReduceLROnPlateau,
    threshold_mode 'rel', no cooldown).

    After each epoch, step(metric) compares the metric with the best so far. It counts as
    better when metric < best * (1 - threshold) (mode "min") or metric > best * (1 + threshold)
    (mode "max"). After more than `patience` epochs in a row without improvement:
        lr = max(lr * factor, min_lr)
    and the count starts again. `monitor` names the history key Network.fit passes in.
    """

    def __init__(self, optimizer, monitor="val_loss", mode=None, factor=0.1, patience=10,
                 threshold=1e-4, min_lr=0.0):
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.monitor = monitor
        if mode is None:  # an accuracy is to be maximised, a loss minimised
            mode = "max" if str(monitor).endswith("accuracy") else "min"
        if mode not in MODES:
            raise ValueError(f"ReduceLROnPlateau mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.factor = _number(factor, "ReduceLROnPlateau factor", 0.0, high=1.0)
        self.patience = _count(patience, "ReduceLROnPlateau patience", 0)
        self.threshold = _number(threshold, "ReduceLROnPlateau threshold", 0.0, low_open=False)
        self.min_lr = _number(min_lr, "ReduceLROnPlateau min_lr", 0.0, low_open=False)
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0
        self.last_epoch = 0

    def is_better(self, value):
        if self.mode == "min":
            return value < self.best * (1.0 - self.threshold)
        return value > self.best * (1.0 + self.threshold)

    def step(self, metric=None):
        """End of an epoch, given the monitored metric of that epoch."""
        if metric is None:
            raise ValueError(f"ReduceLROnPlateau.step needs the value of {self.monitor!r}")
        self.last_epoch += 1
        if self.is_better(metric):
            self.best, self.bad_epochs = float(metric), 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > 1e-8:  # PyTorch's eps: changes smaller than this are ignored
                self.optimizer.lr = new
            self.bad_epochs = 0

    @property
    def lr(self):
        return self.optimizer.lr

    def state_dict(self):
        # best starts as +-inf, which JSON cannot hold: stored as null
        best = self.best if math.isfinite(self.best) else None
        return {"name": type(self).__name__, "base_lr": self.base_lr, "best": best,
                "bad_epochs": self.bad_epochs, "last_epoch": self.last_epoch, "lr": self.optimizer.lr}

    def load_state_dict(self, state):
        _check_state_name(self, state)
        self.base_lr = float(state["base_lr"])
        best = state["best"]
        self.best = float(best) if best is not None else (math.inf if self.mode == "min" else -math.inf)
        self.bad_epochs, self.last_epoch = int(state["bad_epochs"]), int(state["last_epoch"])
        self.optimizer.lr = float(state["lr"])

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, mode={self.mode!r}, factor={self.factor}, "
                f"patience={self.patience}, threshold={self.threshold}, min_lr={self.min_lr})")


class LinearWarmup:
    """Grow the rate linearly for the first warmup_epochs epochs, then run `after` (or keep base_lr).

        lr_e = base_lr * (e + 1) / (warmup_epochs + 1)     for e < warmup_epochs
    so with 4 warm-up epochs the rates are 0.2, 0.4, 0.6, 0.8 times base_lr, then base_lr.
    This is PyTorch's LinearLR(start_factor=1 / (warmup_epochs + 1), total_iters=warmup_epochs)
    followed by `after` in a SequentialLR with its milestone at warmup_epochs: the second
    schedule starts from its own epoch 0 when the warm-up ends (a cosine's t_max counts
    from there).

    Large early steps can throw freshly initialized weights far off (Goyal et al., 2017),
    which a few epochs of small, growing steps avoid.
    """

    def __init__(self, optimizer, warmup_epochs, after=None):
        self.optimizer = optimizer
        self.warmup_epochs = _count(warmup_epochs, "warmup_epochs", 1)
        self.after = after
        # `after` has already set the optimizer to its first rate, which the warm-up climbs to
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        optimizer.lr = self.lr_at(0)

    @property
    def monitor(self):
        return getattr(self.after, "monitor", None)

    def lr_at(self, epoch):
        return self.base_lr * (epoch + 1) / (self.warmup_epochs + 1)

    def step(self, metric=None):
        self.last_epoch += 1
        if self.last_epoch < self.warmup_epochs:
            self.optimizer.lr = self.lr_at(self.last_epoch)
        elif self.last_epoch == self.warmup_epochs:
            self.optimizer.lr = self.base_lr  # `after` at its epoch 0
        elif self.after is not None:
            self.after.step(metric)

    @property
    def lr(self):
        return self.optimizer.lr

    def state_dict(self):
        return {"name": type(self).__name__, "base_lr": self.base_lr, "last_epoch": self.last_epoch,
                "lr": self.optimizer.lr, "after": self.after.state_dict() if self.after is not None else None}

    def load_state_dict(self, state):
        _check_state_name(self, state)
        if self.after is not None:
            self.after.load_state_dict(state["after"])
        self.base_lr, self.last_epoch = float(state["base_lr"]), int(state["last_epoch"])
        self.optimizer.lr = float(state["lr"])

    def __repr__(self):
        return f"LinearWarmup(warmup_epochs={self.warmup_epochs}, after={self.after!r})"


def _check_state_name(scheduler, state):
    if not isinstance(state, dict) or state.get("name") != type(scheduler).__name__:
        found = state.get("name") if isinstance(state, dict) else state
        raise ValueError(f"the saved scheduler state is for {found!r}, not {type(scheduler).__name__}")


# The config name of each schedule -> (class, how the config's keys map to its arguments).
SCHEDULERS = {
    "step": (StepLR, {"step_size": "step_size", "gamma": "gamma"}),
    "exponential": (ExponentialLR, {"gamma": "gamma"}),
    "cosine": (CosineAnnealingLR, {"t_max": "t_max", "eta_min": "eta_min"}),
    "plateau": (ReduceLROnPlateau, {"monitor": "monitor", "mode": "mode", "factor": "factor",
                                    "patience": "patience", "threshold": "threshold", "min_lr": "min_lr"}),
}


def get_scheduler(options, optimizer):
    """The schedule a config's training.scheduler describes, driving `optimizer`; None for null.

    get_scheduler({"name": "cosine", "t_max": 50, "warmup_epochs": 5}, optimizer)
    """
    if options is None:
        return None
    options = dict(options)
    name = options.pop("name", None)
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; valid: {', '.join(sorted(SCHEDULERS))}")
    cls, arguments = SCHEDULERS[name]
    warmup_epochs = options.pop("warmup_epochs", 0)
    unknown = set(options) - set(arguments)
    if unknown:
        raise ValueError(f"scheduler {name!r} has no option {', '.join(sorted(map(repr, unknown)))}; "
                         f"its options: {', '.join(sorted(arguments))}, warmup_epochs")
    scheduler = cls(optimizer, **{arguments[key]: value for key, value in options.items()})
    return LinearWarmup(optimizer, warmup_epochs, after=scheduler) if warmup_epochs else scheduler
