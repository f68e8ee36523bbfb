"""The Layer base class, the Parameter it trains, and the layers with parameters.

Every layer (and every activation) subclasses Layer and has one interface:
    forward(X, training=False) -> Y
    backward(dY, input_grad=True) -> dX
                             given dY = dL/dY, returns dL/dX and fills each
                             parameter's .grad with dL/d(parameter); a layer may
                             skip dX and return None when input_grad is False
    parameters() -> list of Parameter        (trained by the optimizer)
    buffers() -> {name: Matrix}              (saved, not trained: running statistics)
    penalty() -> float                       (added to the loss: L1 / L2)
    output_shape(input_shape) -> shape       (per-sample shapes, e.g. (16,) or (C, H, W))
    sublayers() -> list of Layer             (the layers a container runs: Residual)
    get_config() / from_config(config)       (the constructor's arguments, for saving)
Gradients are computed here; the optimizer applies them in a separate step.

    Dense       Y = X @ W + b, with optional L1 / L2 weight penalties
    Dropout     zero a random share p of the entries in training
    BatchNorm   normalize each feature over the batch, then scale and shift
"""

import math
import random

from matrix import Matrix
from utils import check_count, check_number

# One generator for every layer built without `rng`: two Dense(8, 8) built in a row
# differ (as in PyTorch), and seed(n) makes a whole program's layers reproducible.
_generator = random.Random(0)


def seed(value):
    """Seed the generator that layers built without an `rng` draw from (like torch.manual_seed)."""
    _generator.seed(value)


def default_rng():
    """The shared generator of layers built without an `rng`."""
    return _generator


class Parameter:
    """A trainable matrix: `.value`, its gradient `.grad` (same shape) and a `.name`."""

    __slots__ = ("value", "grad", "name")

    def __init__(self, value, name="parameter"):
        self.value = value
        self.grad = Matrix.zeros(*value.shape)
        self.name = name

    @property
    def shape(self):
        return self.value.shape

    def zero_grad(self):
        self.grad = Matrix.zeros(*self.value.shape)

    def __repr__(self):
        return f"Parameter({self.name}, shape={self.value.shape})"


def flat_size(shape):
    """Entries per sample of a per-sample shape: (3, 8, 8) -> 192, (16,) -> 16."""
    size = 1
    for dim in shape:
        size *= dim
    return size


class Layer:
    """Base class of every layer: the defaults of a layer without parameters.

    A subclass defines forward and backward, and overrides the rest only when it
    has something to say: parameters, buffers, a penalty, a shape change, options.
    Shapes here are per sample, without the batch: (features,) for a row of
    features, (C, H, W) for an image, (T, D) for a sequence; every sample still
    travels as one row of flat_size(shape) numbers.
    """

    name = None  # the config name (activations)
    input_shape = None  # the per-sample shape the layer takes, once known
    batch_statistics = False  # True when training needs more than one row per batch (BatchNorm)

    def forward(self, x, training=False):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad, input_grad=True):
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def parameters(self):
        """The Parameters the optimizer trains (none by default)."""
        return []

    def buffers(self):
        """State saved with the model but not trained, by name (none by default)."""
        return {}

    def set_buffer(self, name, value):
        """Put a loaded buffer back (BatchNorm's running statistics)."""
        setattr(self, name, value)

    def penalty(self):
        """The term this layer adds to the loss (L1 / L2); 0 by default."""
        return 0.0

    def output_shape(self, input_shape):
        """The per-sample shape this layer gives for `input_shape`; by default unchanged.
        Raises ValueError, naming the layer and the shapes, when the input does not fit."""
        return tuple(input_shape)

    def build(self, input_shape):
        """Called by Network with the previous layer's output shape: check it and remember it;
        returns this layer's output shape."""
        output = self.output_shape(tuple(input_shape))
        self.input_shape = tuple(input_shape)
        return output

    def sublayers(self):
        """The layers this one contains and runs (a Residual's), none by default. A saved model
        keeps them inside the container's entry, and the constructor takes them as `layers`;
        a container's parameters() and buffers() are its layers'."""
        return []

    def get_config(self):
        """The constructor's arguments, as JSON-ready values, for saving the model."""
        return {}

    @classmethod
    def from_config(cls, config):
        """The layer get_config describes (its weights are loaded separately)."""
        return cls(**config)

    def _check_rows(self, x, hint="input_shape"):
        """x's rows must each be one sample of self.input_shape (set by build): else a ValueError
        naming the layer, the shape it was built for and the shape it got; `hint` is how to give it one."""
        if self.input_shape is None:
            raise ValueError(f"{self!r} does not know its input's shape: give it {hint}, "
                             "or put it in a Network after a layer that knows its own")
        if x.shape[1] != flat_size(self.input_shape):
            raise ValueError(f"{self!r} with input shape {self.input_shape} expects rows of "
                             f"{flat_size(self.input_shape)} values, got shape {x.shape}")

    def _saved(self, value):
        """What forward kept for backward, or a RuntimeError naming the layer if forward never ran."""
        if value is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return value

    def __repr__(self):
        return f"{type(self).__name__}()"


# ------------------------------------------------------------- initializers
def _init_he(fan_in, fan_out, rng):
    """He et al. (2015): normal, std = sqrt(2 / fan_in); keeps ReLU activations' variance."""
    return Matrix.random(fan_in, fan_out, rng, "normal", math.sqrt(2.0 / fan_in))


def _init_xavier(fan_in, fan_out, rng):
    """Glorot & Bengio (2010): uniform on [-a, a], a = sqrt(6 / (fan_in + fan_out))."""
    return Matrix.random(fan_in, fan_out, rng, "uniform", math.sqrt(6.0 / (fan_in + fan_out)))


def _init_lecun(fan_in, fan_out, rng):
    """LeCun et al. (1998): normal, std = sqrt(1 / fan_in)."""
    return Matrix.random(fan_in, fan_out, rng, "normal", math.sqrt(1.0 / fan_in))


def _init_zeros(fan_in, fan_out, rng):
    """All zeros: every unit computes the same thing, so only for tests and output layers."""
    return Matrix.zeros(fan_in, fan_out)


INITIALIZERS = {"he": _init_he, "xavier": _init_xavier, "lecun": _init_lecun, "zeros": _init_zeros}


def _positive_int(value, what):
    return check_count(value, what, 1)


def _non_negative(value, what):
    return check_number(value, what, ">= 0")


# -------------------------------------------------------------------- Dense
class Dense(Layer):
    """Fully connected layer: Y = X @ W + b.

    Shapes: X (n, in), W (in, out), b (1, out), Y (n, out).
    Backward, given dY = dL/dY:
        dW = X.T @ dY      db = sum of dY over rows      dX = dY @ W.T

    Optional weight penalties (as Keras's l1 and l2 regularizers; the bias is
    not penalized), added to the loss that training reports:
        penalty = l1 * sum |W| + l2 * sum W^2
        d(penalty)/dW = l1 * sign(W) + 2 * l2 * W      (sign(0) taken as 0)
    """

    def __init__(self, in_features, out_features, init="he", bias=True, rng=None, l1=0.0, l2=0.0):
        self.in_features = _positive_int(in_features, "Dense in_features")
        self.out_features = _positive_int(out_features, "Dense out_features")
        self.l1 = _non_negative(l1, "Dense l1")
        self.l2 = _non_negative(l2, "Dense l2")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(sorted(INITIALIZERS))}")
        if rng is None:
            rng = _generator
        self.init = init
        self.weight = Parameter(INITIALIZERS[init](in_features, out_features, rng), "weight")
        self.bias = Parameter(Matrix.zeros(1, out_features), "bias") if bias else None
        self.input_shape = (self.in_features,)
        self.input = None

    def forward(self, x, training=False):
        if not isinstance(x, Matrix):
            raise TypeError(f"{self!r} takes a Matrix of shape (n, {self.in_features}), got {type(x).__name__}")
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Dense({self.in_features} -> {self.out_features}) expects inputs with "
                f"{self.in_features} columns, got shape {x.shape}"
            )
        self.input = x
        y = x @ self.weight.value
        return y + self.bias.value if self.bias is not None else y

    def backward(self, grad, input_grad=True):
        """Fill dW and db; return dX, or None with input_grad=False: the first layer's
        dX is the gradient with respect to the data, which nothing uses, and costs
        as much as the forward product (Network.fit skips it)."""
        self.weight.grad = self._saved(self.input).T @ grad
        if self.l1 or self.l2:
            self.weight.grad = self.weight.grad + self.penalty_gradient()
        if self.bias is not None:
            self.bias.grad = grad.sum(axis=0)
        if not input_grad:
            return None
        return grad @ self.weight.value.T

    def penalty(self):
        """l1 * sum |W| + l2 * sum W^2: the term this layer adds to the loss (0 without penalties)."""
        rows = self.weight.value.rows
        total = 0.0
        if self.l1:
            total += self.l1 * math.fsum(abs(w) for row in rows for w in row)
        if self.l2:
            total += self.l2 * math.fsum(w * w for row in rows for w in row)
        return total

    def penalty_gradient(self):
        """d(penalty)/dW = l1 * sign(W) + 2 * l2 * W, shape (in, out)."""
        l1, twice_l2 = self.l1, 2.0 * self.l2
        return self.weight.value.map(lambda w: l1 * ((w > 0.0) - (w < 0.0)) + twice_l2 * w)

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def output_shape(self, input_shape):
        if flat_size(input_shape) != self.in_features:
            raise ValueError(f"{self!r} takes {self.in_features} features, but its input has shape "
                             f"{tuple(input_shape)} ({flat_size(input_shape)} values)")
        return (self.out_features,)

    @classmethod
    def from_config(cls, config):
        # zeros: the saved weights replace them at once, so drawing random ones is wasted work
        return cls(**dict(config, init="zeros"))

    def get_config(self):
        config = {"in_features": self.in_features, "out_features": self.out_features,
                  "init": self.init, "bias": self.bias is not None}
        # the penalties only when set, so models saved without them keep their format
        config.update({name: value for name, value in (("l1", self.l1), ("l2", self.l2)) if value})
        return config

    def __repr__(self):
        penalties = "".join(f", {name}={value:g}" for name, value in (("l1", self.l1), ("l2", self.l2)) if value)
        return f"Dense({self.in_features} -> {self.out_features}{penalties})"


# ------------------------------------------------------------------ Dropout
class Dropout(Layer):
    """Inverted dropout (Srivastava et al., 2014), as torch.nn.Dropout.

    Training: each entry is zeroed with probability p, and the survivors are
    scaled by 1 / (1 - p) so that every entry keeps its expected value:
        Y = X * M,   M_ij = 0 with probability p, else 1 / (1 - p)
    Evaluation (training=False): Y = X, nothing to undo at inference.
    Backward, through the same mask: dX = dY * M.
    The mask is drawn from `rng`, a random.Random: one seed makes a run repeatable.
    Shapes: X, Y, M (n, features).
    """

    def __init__(self, p=0.5, rng=None):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p (the share of units dropped) must be a number in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = rng if rng is not None else _generator
        self.mask = None
        self.ran = False

    def forward(self, x, training=False):
        self.ran = True
        if not training or self.p == 0.0:
            self.mask = None
            return x
        draw, p, scale = self.rng.random, self.p, 1.0 / (1.0 - self.p)
        n_cols = x.shape[1]
        self.mask = Matrix.from_rows([[scale if draw() >= p else 0.0 for _ in range(n_cols)] for _ in x.rows], n_cols)
        return x * self.mask

    def backward(self, grad, input_grad=True):
        if not self.ran:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return grad if self.mask is None else grad * self.mask

    def get_config(self):
        return {"p": self.p}

    def __repr__(self):
        return f"Dropout(p={self.p:g})"


# ---------------------------------------------------------------- BatchNorm
class BatchNorm(Layer):
    """Batch normalization of each feature (Ioffe & Szegedy, 2015), as torch.nn.BatchNorm1d.

    Training, with the statistics of the batch of n rows, column by column:
        mu  = mean of X                  var = mean of (X - mu)^2          (biased: / n)
        X_hat = (X - mu) / sqrt(var + eps)
        Y = gamma * X_hat + beta         gamma (scale) and beta (shift) are learned
        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)   (unbiased)
    Evaluation: the same with running_mean and running_var in place of mu and var.
    Shapes: X, X_hat, Y (n, features); mu, var, gamma, beta, running statistics (1, features).

    Backward in training, given dY; sums run over the n rows of each column:
        dgamma = sum(dY * X_hat)         dbeta = sum(dY)         dX_hat = dY * gamma
        dX = (n * dX_hat - sum(dX_hat) - X_hat * sum(dX_hat * X_hat)) / (n * sqrt(var + eps))
    The two sums appear because mu and var depend on every row of the batch.
    In evaluation the statistics are constants, so dX = dY * gamma / sqrt(running_var + eps).
    The running statistics are not learned: they are saved with the model as its `buffers()`.
    """

    def __init__(self, features, momentum=0.1, eps=1e-5):
        self.features = _positive_int(features, "BatchNorm features")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must be a number in [0, 1], got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0.0:
            raise ValueError(f"BatchNorm eps must be a number > 0, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.batch_statistics = True
        self.gamma = Parameter(Matrix.full(1, features, 1.0), "gamma")
        self.beta = Parameter(Matrix.zeros(1, features), "beta")
        self.running_mean = Matrix.zeros(1, features)
        self.running_var = Matrix.full(1, features, 1.0)
        self.x_hat = self.inv_std = None
        self.used_batch_statistics = False

    def forward(self, x, training=False):
        n = x.shape[0]
        if x.shape[1] != self.features:
            raise ValueError(f"BatchNorm({self.features}) expects inputs with {self.features} columns, "
                             f"got shape {x.shape}")
        if training:
            if n < 2:
                raise ValueError("BatchNorm needs at least 2 rows per batch in training (the variance of one row "
                                 "is 0), got 1; choose a batch_size that does not leave a batch of one row")
            mean = x.mean(axis=0)
            centered = x - mean
            variance = (centered * centered).mean(axis=0)
            momentum = self.momentum
            self.running_mean = self.running_mean * (1.0 - momentum) + mean * momentum
            self.running_var = self.running_var * (1.0 - momentum) + variance * (momentum * n / (n - 1))
        else:
            centered, variance = x - self.running_mean, self.running_var
        eps = self.eps
        self.inv_std = variance.map(lambda v: 1.0 / math.sqrt(v + eps))
        self.x_hat = centered * self.inv_std
        self.used_batch_statistics = training
        return self.x_hat * self.gamma.value + self.beta.value

    def backward(self, grad, input_grad=True):
        x_hat, inv_std = self._saved(self.x_hat), self.inv_std
        self.gamma.grad = (grad * x_hat).sum(axis=0)
        self.beta.grad = grad.sum(axis=0)
        grad_x_hat = grad * self.gamma.value
        if not self.used_batch_statistics:
            return grad_x_hat * inv_std
        n = grad.shape[0]
        sum_grad = grad_x_hat.sum(axis=0)
        sum_grad_x_hat = (grad_x_hat * x_hat).sum(axis=0)
        return (grad_x_hat * float(n) - sum_grad - x_hat * sum_grad_x_hat) * (inv_std / n)

    def parameters(self):
        return [self.gamma, self.beta]

    def output_shape(self, input_shape):
        if flat_size(input_shape) != self.features:
            raise ValueError(f"{self!r} normalizes {self.features} features, but its input has shape "
                             f"{tuple(input_shape)}")
        return tuple(input_shape)

    def buffers(self):
        """State that is saved with the model but not trained: the running statistics."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def get_config(self):
        return {"features": self.features, "momentum": self.momentum, "eps": self.eps}

    def __repr__(self):
        return f"BatchNorm({self.features})"
