"""Optimizers: turn each parameter's gradient into an update, as torch.optim does.

    optimizer.zero_grad()   clear the gradients
    ... forward, loss, backward fill every parameter's .grad ...
    optimizer.step()        update every parameter from its .grad

Each optimizer keeps per-parameter state (momentum buffers, moment estimates)
and a step counter t, and follows the update rule PyTorch documents for the
same hyper-parameters, step for step. Notation below: p a parameter, g its
gradient, lr the learning rate, lambda the weight decay, t = 1, 2, ... the step.
Each line of an update is its formula, entry by entry: Matrix.update_ (in place,
like scale_add_ below) replaces the parameter's and the state's
entries, e.g. v.update_(lambda v, g: beta2 * v + (1 - beta2) * g * g, g); the lines of the form
a * M + b * B (SGD's step p = p - lr * g, the moving averages) use M.scale_add_(a, B, b), the
same formula without a Python call per entry (bench/matrix_api.py).
"""

import math

from matrix import Matrix
from utils import check_number


def _check_float(value, what, low, high=None, low_open=True):
    """A float in (low, high) (or [low, high) with low_open=False), else ValueError (utils.check_number)."""
    bounds = (f"{'>' if low_open else '>='} {low:g}" if high is None
              else f"in {'(' if low_open else '['}{low:g}, {high:g})")
    return check_number(value, what, bounds)


class Optimizer:
    """Base class: holds the parameter list, the learning rate, the state and the step count."""

    name = None

    def __init__(self, params, lr, weight_decay=0.0):
        name = type(self).__name__
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{name} needs a list of parameters, such as network.parameters(), "
                            f"got {type(params).__name__}") from None
        if not params:
            raise ValueError(f"{name} was given no parameters to optimize")
        for index, param in enumerate(params):
            # a Parameter (or an autograd Tensor): a Matrix .value and its .grad (a layer or a bare Matrix
            # is a common slip)
            if not isinstance(getattr(param, "value", None), Matrix) or not hasattr(param, "grad"):
                raise TypeError(f"{name}: item {index} of the parameters is a {type(param).__name__}, not a "
                                "Parameter; pass network.parameters() (or layer.parameters())")
        self.params = params
        self.lr = _check_float(lr, "learning rate lr", 0.0)
        self.weight_decay = _check_float(weight_decay, "weight_decay", 0.0, low_open=False)
        self.t = 0  # number of steps taken
        self.state = [{} for _ in params]

    def zero_grad(self):
        """Clear every parameter's gradient (a Parameter's to zeros, an autograd Tensor's to None)."""
        for p in self.params:
            p.zero_grad()

    def step(self):
        """Apply one update to every parameter from its current .grad. A parameter whose .grad is
        None (an autograd Tensor that took no part in the last backward) is skipped, as in torch.optim."""
        self.t += 1
        for param, state in zip(self.params, self.state):
            if param.grad is not None:
                self._update(param, state)

    def _gradient(self, param):
        """g = grad + lambda * p: L2 weight decay added to the gradient (as torch.optim's weight_decay)."""
        decay = self.weight_decay
        if not decay:
            return param.grad
        return param.grad.copy().scale_add_(1.0, param.value, decay)  # g + lambda * p

    # checkpoints save and restore the optimizer exactly
    def state_dict(self):
        return {"name": self.name, "lr": self.lr, "t": self.t,
                "state": [{k: m.tolist() for k, m in s.items()} for s in self.state]}

    def load_state_dict(self, data):
        if len(data["state"]) != len(self.params):
            raise ValueError(f"optimizer state has {len(data['state'])} parameters, the model has {len(self.params)}")
        self.lr, self.t = float(data["lr"]), int(data["t"])
        self.state = [{k: Matrix(rows) for k, rows in s.items()} for s in data["state"]]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD, dampening 0).

        g = grad + lambda * p
        momentum mu > 0:  b_1 = g;  b_t = mu * b_(t-1) + g
                          g = g + mu * b_t   (Nesterov)   or   g = b_t
        p = p - lr * g
    Plain (full-)batch gradient descent is SGD with the batch as large as the data.
    """

    name = "sgd"

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_float(momentum, "momentum", 0.0, 1.0, low_open=False)
        if nesterov and self.momentum == 0.0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, param, state):
        lr, mu = self.lr, self.momentum
        g = self._gradient(param)
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()  # b_1 = g
            else:
                state["momentum_buffer"].scale_add_(mu, g, 1.0)  # b = mu * b + g
            b = state["momentum_buffer"]
            g = g.copy().scale_add_(1.0, b, mu) if self.nesterov else b  # Nesterov: g + mu * b
        param.value.scale_add_(1.0, g, -lr)  # p = p - lr * g


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; torch.optim.RMSprop, not centered).

        g = grad + lambda * p
        v_t = alpha * v_(t-1) + (1 - alpha) * g^2          (v_0 = 0)
        momentum mu > 0:  b_t = mu * b_(t-1) + g / (sqrt(v_t) + eps);  p = p - lr * b_t
        otherwise:        p = p - lr * g / (sqrt(v_t) + eps)
    """

    name = "rmsprop"

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.alpha = _check_float(alpha, "alpha", 0.0, 1.0)
        self.eps = _check_float(eps, "eps", 0.0)
        self.momentum = _check_float(momentum, "momentum", 0.0, 1.0, low_open=False)

    def _update(self, param, state):
        lr, alpha, eps, mu, sqrt = self.lr, self.alpha, self.eps, self.momentum, math.sqrt
        g = self._gradient(param)
        if "square_avg" not in state:
            state["square_avg"] = Matrix.zeros(*param.value.shape)
        v = state["square_avg"].update_(lambda v, g: alpha * v + (1.0 - alpha) * g * g, g)
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = Matrix.zeros(*param.value.shape)
            b = state["momentum_buffer"].update_(lambda b, g, v: mu * b + g / (sqrt(v) + eps), g, v)
            param.value.update_(lambda p, b: p - lr * b, b)
        else:
            param.value.update_(lambda p, g, v: p - lr * (g / (sqrt(v) + eps)), g, v)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015; torch.optim.Adam), with L2 weight decay added to the gradient.

        g = grad + lambda * p
        m_t = beta1 * m_(t-1) + (1 - beta1) * g            (m_0 = 0)
        v_t = beta2 * v_(t-1) + (1 - beta2) * g^2          (v_0 = 0)
        m_hat = m_t / (1 - beta1^t)     v_hat = v_t / (1 - beta2^t)     (bias correction)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    name = "adam"
    decoupled = False  # AdamW sets this: decay the weights instead of the gradient

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_float(betas[0], "beta1", 0.0, 1.0, low_open=False),
                      _check_float(betas[1], "beta2", 0.0, 1.0, low_open=False))
        self.eps = _check_float(eps, "eps", 0.0)

    def _update(self, param, state):
        lr, eps, (beta1, beta2), sqrt = self.lr, self.eps, self.betas, math.sqrt
        if not self.decoupled:
            g = self._gradient(param)
        else:
            g = param.grad
            if self.weight_decay:
                shrink = 1.0 - lr * self.weight_decay
                param.value.update_(lambda p: p * shrink)
        if "exp_avg" not in state:
            state["exp_avg"] = Matrix.zeros(*param.value.shape)
            state["exp_avg_sq"] = Matrix.zeros(*param.value.shape)
        # 1 - beta computed once here, not once per entry inside the update
        one_minus_beta1, one_minus_beta2 = 1.0 - beta1, 1.0 - beta2
        m = state["exp_avg"].scale_add_(beta1, g, one_minus_beta1)  # m = beta1 * m + (1 - beta1) * g
        v = state["exp_avg_sq"].update_(lambda v, g: beta2 * v + one_minus_beta2 * g * g, g)
        # lr * m_hat / (sqrt(v_hat) + eps), with the bias corrections folded into two scalars
        step_size = lr / (1.0 - beta1 ** self.t)
        root_correction = math.sqrt(1.0 - beta2 ** self.t)
        param.value.update_(lambda p, m, v: p - step_size * m / (sqrt(v) / root_correction + eps), m, v)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019; torch.optim.AdamW): decoupled weight decay.

        p = p * (1 - lr * lambda)          the decay acts on the weights, not on g
        then the Adam update above with g = grad (no L2 term).
    """

    name = "adamw"
    decoupled = True

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


# The config name of each optimizer -> its class.
OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def get_optimizer(name, params, **options):
    """The optimizer called `name` in a config, e.g. get_optimizer("adam", net.parameters(), lr=0.01)."""
    try:
        cls = OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(sorted(OPTIMIZERS))}") from None
    return cls(params, **options)
