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


def one_hot(labels, n_classes):
    """Class indices -> rows with 1.0 at the class and 0.0 elsewhere: class 1 of 3 -> [0, 1, 0].

    The framework's one one-hot: Dataset.targets, the losses given class indices and
    Network.evaluate all use it. An index outside 0 .. n_classes - 1 is a ValueError.
    """
    bad = [label for label in labels
           if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < n_classes]
    if bad:
        raise ValueError(f"class index {bad[0]!r} out of range for {n_classes} classes (0 to {n_classes - 1})")
    return Matrix.from_rows([[1.0 if j == label else 0.0 for j in range(n_classes)] for label in labels], n_classes)


def targets_as_matrix(target, shape, who="targets"):
    """Targets for outputs of shape (n, c), as a Matrix of that shape.

    A Matrix is checked and returned as it is; a list of n class indices becomes one_hot
    rows, or for one output unit (a sigmoid's P(class 1)) a column of the 0/1 labels.
    `who` starts the messages (the loss's name).
    """
    n, c = shape
    if isinstance(target, Matrix):
        if target.shape != shape:
            raise ValueError(f"{who}: predictions have shape {shape} but targets have shape {target.shape}")
        return target
    if isinstance(target, (list, tuple)) and target and all(
            isinstance(t, int) and not isinstance(t, bool) for t in target):
        if len(target) != n:
            raise ValueError(f"{who}: {n} predictions but {len(target)} class indices")
        if c == 1:  # one output unit tells two classes apart
            one_hot(target, 2)  # checks that every index is 0 or 1
            return Matrix.from_rows([[float(t)] for t in target], 1)
        try:
            return one_hot(target, c)
        except ValueError as error:
            raise ValueError(f"{who}: {error}") from None
    raise ValueError(f"{who}: targets must be a Matrix of shape {shape} or a list of class indices")


def _as_target_matrix(pred, target, loss_name):
    """Targets as a Matrix of pred's shape (targets_as_matrix), for a loss called `loss_name`."""
    if not isinstance(pred, Matrix):
        raise TypeError(f"{loss_name}: predictions must be a Matrix, got {type(pred).__name__}")
    return targets_as_matrix(target, pred.shape, loss_name)


def predicted_classes(output, logits):
    """The one rule that turns a classifier's outputs (n, c) into n class indices, used for the
    training accuracy, evaluate, predict, the command line and the demos alike:

        c > 1 columns:  the argmax of each row. Softmax keeps the order of its inputs, so the
                        logits and the probabilities give the same class.
        c = 1 column:   one sigmoid unit giving p = P(class 1) = sigmoid(z): class 1 when
                        z > 0 (logits=True), which is exactly when p > 0.5 (logits=False).

    Thresholding a logit at 0.5 instead of 0 (the old bug, for a linear output trained with
    binary cross-entropy) calls every z in (0, 0.5] class 0: on breast cancer it reported a
    training accuracy of 0.9649 for a model whose real accuracy was 0.9298.
    """
    if output.shape[1] == 1:
        threshold = 0.0 if logits else 0.5
        return [1 if row[0] > threshold else 0 for row in output.rows]
    return output.argmax(axis=1)


def _check_probabilities(target):
    """Binary cross-entropy's targets are probabilities: a 2 or a -1 would give a loss that
    goes on falling forever (the loss is linear in t), with no warning."""
    for index, row in enumerate(target.rows):
        if not all(0.0 <= t <= 1.0 for t in row):  # also refuses NaN
            bad = next(t for t in row if not 0.0 <= t <= 1.0)
            raise ValueError(f"BinaryCrossEntropy: targets must be probabilities in [0, 1] (0/1 labels "
                             f"or soft labels), got {bad!r} in row {index}; for class indices 0..k-1 of "
                             "more than two classes use CrossEntropy, for numbers MSE")


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
        """The class each row of `output` (what this loss is given) predicts, by predicted_classes:
        a loss with a link function (softmax, sigmoid) is given logits, any other loss the
        network's own outputs (probabilities, for a classifier)."""
        return predicted_classes(output, logits=self.fuses_with is not None)

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

    def forward(self, logits, target):
        target = _as_target_matrix(logits, target, "BinaryCrossEntropy")
        _check_probabilities(target)
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


class SequenceCrossEntropy(Loss):
    """Softmax cross-entropy at every position of a sequence, with ignored positions.

    As torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1),
    ignore_index=ignore_index) with its default mean reduction. Shapes: logits
    (n, T * V), the V scores of step t in columns t*V to (t+1)*V; targets (n, T),
    each a class id in [0, V) or ignore_index (a position past the end of a shorter
    sequence in a padded batch). V is read off the widths: V = (T * V) / T.
    With z the scores and y the class of a position, and N the number of positions
    that are not ignored:
        L = (1/N) * sum over those positions of (logsumexp(z) - z_y)
        dL/dz = (softmax(z) - onehot(y)) / N      and 0 at an ignored position.
    An ignored position neither adds to L nor counts in N, so a batch of padded
    names gives the mean loss per real character. After forward, `count` holds N
    and `total` the sum N * L (to average over many batches exactly).
    """

    name = "sequence_cross_entropy"

    def __init__(self, ignore_index=-1):
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ValueError(f"SequenceCrossEntropy ignore_index must be an integer, got {ignore_index!r}")
        self.ignore_index = ignore_index

    def _targets(self, logits, targets):
        if not isinstance(logits, Matrix):
            raise TypeError(f"SequenceCrossEntropy: logits must be a Matrix, got {type(logits).__name__}")
        rows = targets.rows if isinstance(targets, Matrix) else targets
        if not isinstance(rows, (list, tuple)) or len(rows) != logits.shape[0]:
            raise ValueError(f"SequenceCrossEntropy: {logits.shape[0]} rows of logits need as many rows of targets")
        steps = len(rows[0])
        if steps == 0 or logits.shape[1] % steps:
            raise ValueError(f"SequenceCrossEntropy: rows of {logits.shape[1]} logits do not split into "
                             f"{steps} positions")
        classes, ignore = logits.shape[1] // steps, self.ignore_index
        checked = []
        for i, row in enumerate(rows):
            ids = [int(y) for y in row] if len(row) == steps else None
            if ids is None or ids != list(row) or any(not 0 <= y < classes and y != ignore for y in ids):
                for t, y in enumerate(row):
                    if isinstance(y, bool) or y != int(y) or (not 0 <= y < classes and y != ignore):
                        raise ValueError(f"SequenceCrossEntropy: target {y!r} at row {i}, position {t} is not "
                                         f"a class id from 0 to {classes - 1} or the ignore_index {ignore}")
                raise ValueError(f"SequenceCrossEntropy: row {i} of the targets has {len(row)} positions, "
                                 f"row 0 has {steps}")
            checked.append(ids)
        return checked, classes

    def forward(self, logits, targets):
        targets, classes = self._targets(logits, targets)
        exp, log, ignore = math.exp, math.log, self.ignore_index
        total, count, probabilities = 0.0, 0, []
        for scores, row in zip(logits.rows, targets):
            for start, y in zip(range(0, len(scores), classes), row):
                if y == ignore:
                    continue
                z = scores[start:start + classes]
                top = max(z)  # subtract the maximum: exp() of a large score overflows
                exps = [exp(v - top) for v in z]
                sum_exps = sum(exps)
                total += top + log(sum_exps) - z[y]
                count += 1
                probabilities.append([e / sum_exps for e in exps])
        if count == 0:
            raise ValueError(f"SequenceCrossEntropy: every target is the ignore_index {ignore}: no position to score")
        self.targets, self.classes, self.probabilities = targets, classes, probabilities
        self.total, self.count = total, count
        return total / count

    def backward(self):
        self._check_forward_ran("probabilities")
        scale, classes, ignore = 1.0 / self.count, self.classes, self.ignore_index
        probabilities = iter(self.probabilities)
        zeros = [0.0] * classes
        out = []
        for row in self.targets:
            grad = []
            for y in row:
                if y == ignore:
                    grad += zeros
                    continue
                p = [q * scale for q in next(probabilities)]
                p[y] -= scale
                grad += p
            out.append(grad)
        return Matrix.from_rows(out, classes * len(self.targets[0]))


# The config name of each loss -> its class (SequenceCrossEntropy takes sequences of class ids,
# not the rows of a CSV file, so configs do not offer it).
LOSSES = {"mse": MSE, "cross_entropy": CrossEntropy, "binary_cross_entropy": BinaryCrossEntropy}


def get_loss(name):
    """The loss called `name` in a config, e.g. get_loss("cross_entropy")."""
    try:
        return LOSSES[name]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}") from None
