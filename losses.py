"""Loss functions, with the definitions and reductions of PyTorch.

Each loss has
    forward(pred, target) -> float     the loss, averaged as PyTorch's default 'mean'
    backward() -> Matrix               dL/d(pred), same shape as pred
The classification losses take logits (raw scores) and fuse the output
activation into the loss, which is both cheaper and numerically stable.
"""

import math

from activations import sigmoid
from matrix import Matrix
from utils import finite_sum


def _as_target_matrix(pred, target, loss_name):
    """Targets as a Matrix of pred's shape; class indices become one-hot rows."""
    if not isinstance(pred, Matrix):
        raise TypeError(f"{loss_name}: predictions must be a Matrix, got {type(pred).__name__}")
    n, c = pred.shape
    if isinstance(target, Matrix):
        if target.shape != pred.shape:
            raise ValueError(f"{loss_name}: predictions have shape {pred.shape} but targets have shape {target.shape}")
        return target
    if isinstance(target, (list, tuple)) and target and all(
        isinstance(t, int) and not isinstance(t, bool) for t in target
    ):
        if len(target) != n:
            raise ValueError(f"{loss_name}: {n} predictions but {len(target)} class indices")
        bad = [t for t in target if not 0 <= t < c]
        if bad:
            raise ValueError(f"{loss_name}: class index {bad[0]} out of range for {c} classes")
        return Matrix.from_rows([[1.0 if j == t else 0.0 for j in range(c)] for t in target], c)
    raise ValueError(f"{loss_name}: targets must be a Matrix of shape {pred.shape} or a list of class indices")


class Loss:
    """Base class: remembers what backward() needs."""

    name = None
    fuses_with = None  # the output activation this loss absorbs, if any

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def _check_forward_ran(self, attribute):
        """backward() needs what forward() kept: say so, rather than fail on a missing attribute."""
        if not hasattr(self, attribute):
            raise ValueError(f"{type(self).__name__}.backward called before forward")

    def predicted_classes(self, output):
        """The class each row of `output` (what this loss is given) predicts: the argmax of each
        row, or for one output unit, output > 0.5 (a probability). The one place that decides."""
        if output.shape[1] == 1:
            return [1 if row[0] > 0.5 else 0 for row in output.rows]
        return output.argmax(axis=1)

    def count_correct(self, output, target):
        """Rows whose predicted class is the target's (target: one-hot rows or a 0/1 column)."""
        if target.shape[1] == 1:
            truth = [1 if row[0] > 0.5 else 0 for row in target.rows]
        else:
            truth = target.argmax(axis=1)
        return sum(p == t for p, t in zip(self.predicted_classes(output), truth))

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSE(Loss):
    """Mean squared error over all N = n * c entries, as torch.nn.functional.mse_loss:

        L = (1/N) * sum (p - t)^2          dL/dp = 2 (p - t) / N
    """

    name = "mse"

    def forward(self, pred, target):
        target = _as_target_matrix(pred, target, "MSE")
        self.diff = pred - target
        self.count = pred.shape[0] * pred.shape[1]
        # finite_sum: a diverging run's huge differences give an infinite loss, which fit reports,
        # not an OverflowError from inside math.fsum
        return finite_sum(d * d for row in self.diff.rows for d in row) / self.count

    def backward(self):
        self._check_forward_ran("diff")
        return self.diff * (2.0 / self.count)


class CrossEntropy(Loss):
    """Softmax cross-entropy from logits, as torch.nn.functional.cross_entropy.

    For logits z (n, c) and targets t (one-hot rows, probabilities, or class indices):
        log softmax(z)_ij = z_ij - logsumexp(z_i),  logsumexp(z_i) = m + log sum_j e^(z_ij - m)
        L = -(1/n) * sum_i sum_j t_ij * log softmax(z)_ij
        dL/dz = (softmax(z) * sum_j t_ij - t) / n  =  (softmax(z) - t) / n for one-hot t
    The row maximum m is subtracted before exp(), so logits of any size are safe.
    """

    name = "cross_entropy"
    fuses_with = "softmax"

    def forward(self, logits, target):
        target = _as_target_matrix(logits, target, "CrossEntropy")
        total, probabilities = 0.0, []
        exp = math.exp
        for z, t in zip(logits.rows, target.rows):
            top = max(z)
            exps = [exp(v - top) for v in z]
            sum_exps = sum(exps)
            log_sum_exp = top + math.log(sum_exps)
            total += sum(tj * (log_sum_exp - zj) for zj, tj in zip(z, t) if tj)
            # softmax(z), kept for backward, which would otherwise compute every exp() again
            probabilities.append([e / sum_exps for e in exps])
        self.probabilities, self.target = probabilities, target
        return total / logits.shape[0]

    def backward(self):
        self._check_forward_ran("probabilities")
        n = len(self.probabilities)
        out = []
        for p, t in zip(self.probabilities, self.target.rows):
            mass = sum(t)
            out.append([(pj * mass - tj) / n for pj, tj in zip(p, t)])
        return Matrix.from_rows(out, self.target.shape[1])


class BinaryCrossEntropy(Loss):
    """Sigmoid cross-entropy from logits, as binary_cross_entropy_with_logits.

    For each of the N = n * c logits z with target t in [0, 1]:
        l = -[t log sigma(z) + (1 - t) log(1 - sigma(z))]
          = max(z, 0) - z t + log(1 + e^-|z|)        (never overflows)
        L = (1/N) sum l                              dL/dz = (sigma(z) - t) / N
    """

    name = "binary_cross_entropy"
    fuses_with = "sigmoid"

    def predicted_classes(self, logits):
        """This loss is always given logits: sigma(z) > 0.5 exactly when z > 0."""
        if logits.shape[1] == 1:
            return [1 if row[0] > 0.0 else 0 for row in logits.rows]
        return logits.argmax(axis=1)

    def forward(self, logits, target):
        target = _as_target_matrix(logits, target, "BinaryCrossEntropy")
        self.logits, self.target = logits, target
        self.count = logits.shape[0] * logits.shape[1]
        total = finite_sum(
            (z if z > 0.0 else 0.0) - z * t + math.log1p(math.exp(-abs(z)))
            for zrow, trow in zip(logits.rows, target.rows)
            for z, t in zip(zrow, trow)
        )
        return total / self.count

    def backward(self):
        self._check_forward_ran("logits")
        scale = 1.0 / self.count
        return Matrix.from_rows(
            [[(sigmoid(z) - t) * scale for z, t in zip(zrow, trow)]
             for zrow, trow in zip(self.logits.rows, self.target.rows)],
            self.logits.shape[1],
        )


# The config name of each loss -> its class.
LOSSES = {"mse": MSE, "cross_entropy": CrossEntropy, "binary_cross_entropy": BinaryCrossEntropy}


def get_loss(name):
    """The loss called `name` in a config, e.g. get_loss("cross_entropy")."""
    try:
        return LOSSES[name]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}") from None
