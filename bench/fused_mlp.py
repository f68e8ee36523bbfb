"""A hand-fused pure-Python training loop for a 2-layer MLP: the bar for Network.fit.

    python bench/fused_mlp.py [EPOCHS [CSV]]    # digits.csv by default: accuracy and samples/s

Model and training (the network that the framework's benchmark trains with Network.fit):

    H = relu(X @ W1 + b1)              X (n, n_in), W1 (n_in, hidden), b1 (hidden,)
    Z = H @ W2 + b2                    W2 (hidden, n_out), b2 (n_out,)
    loss = mean over the batch of  logsumexp(Z row) - Z[label]   (softmax cross-entropy)

    backward, with B the batch size and P = softmax(Z):
        dZ  = (P - Y) / B
        dW2 = H.T @ dZ          db2 = column sums of dZ
        dH  = (dZ @ W2.T) * [H > 0]
        dW1 = X.T @ dH          db1 = column sums of dH
    (dX is not needed: X is the input.)

    Adam on every parameter, as in PyTorch (Kingma and Ba 2015, Algorithm 1):
        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

Random numbers, all from one random.Random(seed), in this order: W1 row by
row, then W2 row by row, each entry rng.gauss(0, sqrt(2 / fan_in)) (He
normal); biases start at zero. Then, at the start of every epoch,
rng.shuffle on the list of row indices; batches are consecutive slices of
batch_size rows of the shuffled order (the last one may be shorter).

Why it is fast, and still honest: it does all of the arithmetic above, in
float64, for every parameter and every step, and the same multiplications as
Network.fit does for the same network; what it saves is interpreter work and
objects. Products run as dot products inside C builtins (see kernels.py).
With skip_zeros=True (the default) a product skips the exact zeros of a row
of its left operand when that row has enough of them to pay (blank pixels in
X @ W1 and X.T @ dH, inactive ReLU units in H @ W2 and H.T @ dZ), by the same
rule as Matrix @ (kernels.matmul_skip_zeros): the same sums, fewer terms.
Bias add and ReLU are one pass, the softmax and dZ another, and all
parameters are updated by Adam through one flat list, so that each of its
three update lines is one list comprehension over all of them (4,810 for
64-64-10). dX of the first layer is not computed (nothing uses it), as
Network.fit does not compute it either.

masked_hidden_gradient=True goes one step further than a framework of
separate layers can: it computes dH = (dZ @ W2.T) * [H > 0] only where H > 0,
so the dot products for inactive units are never made. Network.fit's Dense
layer cannot know that the ReLU after it will zero those entries, so this is
not the bar for it; bench/run.py shows how much it saves.
bench/check_fused_mlp.py checks every variant against an index-loop
reference whose gradients match finite differences.
"""
import math
import os
import random
import sys
from itertools import chain
from operator import add

import harness
from kernels import matmul_skip_zeros, row_dot_columns

if hasattr(math, "sumprod"):
    dot = math.sumprod
else:
    from operator import mul

    def dot(row, column):
        return sum(map(mul, row, column))


def he_normal(rng, fan_in, fan_out):
    """(fan_in, fan_out) rows of rng.gauss(0, sqrt(2 / fan_in)), the He et al. (2015) init for ReLU."""
    std = math.sqrt(2.0 / fan_in)
    return [[rng.gauss(0.0, std) for _ in range(fan_out)] for _ in range(fan_in)]


def rows_of(flat, start, n_rows, width):
    """The n_rows x width block of `flat` that begins at index start, as a list of rows."""
    return [flat[start + r * width:start + (r + 1) * width] for r in range(n_rows)]


def dense_product(a, b, columns=None):
    """a @ b for lists of rows, every term computed (see kernels.matmul_best); columns: b's, if at hand."""
    if columns is None:
        columns = list(zip(*b))
    return [row_dot_columns(row, columns) for row in a]


def train_epochs(X, Y_onehot, hidden=64, epochs=1, batch_size=32, lr=0.001, seed=0,
                 beta1=0.9, beta2=0.999, eps=1e-8, skip_zeros=True, masked_hidden_gradient=False):
    """Train in -> hidden (ReLU) -> out (softmax cross-entropy) with Adam; return (weights, losses).

    X (n_samples, n_in) and Y_onehot (n_samples, n_out) are lists of rows of floats.
    weights is {"W1": (n_in, hidden) rows, "b1": list, "W2": (hidden, n_out) rows, "b2": list};
    losses[e] is the mean training loss over epoch e, each sample's loss taken
    in the forward pass of its batch (before that batch's update).
    skip_zeros=False computes every product densely (the bar for a framework
    whose Matrix @ does not look for zeros); masked_hidden_gradient=True makes
    only the entries of dH that the ReLU lets through. The results are the
    same in every case, up to the order of additions.
    """
    if len(X) != len(Y_onehot) or not X:
        raise ValueError("X has {} rows and Y_onehot {}: need the same number, at least one".format(
            len(X), len(Y_onehot)))
    n_samples, n_in, n_out = len(X), len(X[0]), len(Y_onehot[0])
    rng = random.Random(seed)
    # One flat parameter list [W1 | b1 | W2 | b2], so that Adam is three comprehensions.
    params = list(chain.from_iterable(he_normal(rng, n_in, hidden)))
    params += [0.0] * hidden
    params += chain.from_iterable(he_normal(rng, hidden, n_out))
    params += [0.0] * n_out
    start_b1 = n_in * hidden
    start_W2 = start_b1 + hidden
    start_b2 = start_W2 + hidden * n_out
    m = [0.0] * len(params)
    v = [0.0] * len(params)
    one_minus_beta1, one_minus_beta2 = 1.0 - beta1, 1.0 - beta2
    exp, log, sqrt = math.exp, math.log, math.sqrt
    product = matmul_skip_zeros if skip_zeros else dense_product
    step = 0
    losses = []
    order = list(range(n_samples))
    for _ in range(epochs):
        rng.shuffle(order)
        epoch_loss = 0.0
        for batch_start in range(0, n_samples, batch_size):
            batch = order[batch_start:batch_start + batch_size]
            xs = [X[i] for i in batch]
            ys = [Y_onehot[i] for i in batch]
            inverse_batch = 1.0 / len(batch)
            W1 = rows_of(params, 0, n_in, hidden)
            b1 = params[start_b1:start_W2]
            W2 = rows_of(params, start_W2, hidden, n_out)
            b2 = params[start_b2:]
            W2_columns = list(zip(*W2))

            # forward: H = relu(X @ W1 + b1) in one pass over X @ W1, then Z = H @ W2 + b2
            hidden_rows = [[z if z > 0.0 else 0.0 for z in map(add, pre, b1)] for pre in product(xs, W1)]
            logits = [list(map(add, row, b2)) for row in product(hidden_rows, W2, W2_columns)]

            # loss and dZ = (softmax(Z) - Y) / B, one row at a time
            d_logits = []
            for z, y in zip(logits, ys):
                top = max(z)  # subtract the row max: exp() of large logits overflows
                exps = [exp(value - top) for value in z]
                total = sum(exps)
                epoch_loss += log(total) + top - dot(y, z)
                d_logits.append([(e / total - target) * inverse_batch for e, target in zip(exps, y)])

            # backward: dW2 = H.T @ dZ, db2 = column sums of dZ
            d_logits_columns = list(zip(*d_logits))
            dW2 = product(list(zip(*hidden_rows)), d_logits, d_logits_columns)
            db2 = [sum(column) for column in d_logits_columns]
            if masked_hidden_gradient:  # dot products for active units only
                d_hidden = [[dot(dz, w) if h > 0.0 else 0.0 for h, w in zip(h_row, W2)]
                            for h_row, dz in zip(hidden_rows, d_logits)]
            else:  # dH = (dZ @ W2.T) * [H > 0]; the columns of W2.T are the rows of W2
                d_hidden = [[d if h > 0.0 else 0.0 for d, h in zip(d_row, h_row)]
                            for d_row, h_row in zip(product(d_logits, W2_columns, W2), hidden_rows)]
            # dW1 = X.T @ dH, db1 = column sums of dH
            d_hidden_columns = list(zip(*d_hidden))
            dW1 = product(list(zip(*xs)), d_hidden, d_hidden_columns)
            db1 = [sum(column) for column in d_hidden_columns]

            # Adam on all parameters at once
            step += 1
            grads = list(chain(chain.from_iterable(dW1), db1, chain.from_iterable(dW2), db2))
            step_size = lr / (1.0 - beta1 ** step)
            bias_correction2 = 1.0 - beta2 ** step
            m = [beta1 * mi + one_minus_beta1 * g for mi, g in zip(m, grads)]
            v = [beta2 * vi + one_minus_beta2 * g * g for vi, g in zip(v, grads)]
            params = [p - step_size * mi / (sqrt(vi / bias_correction2) + eps)
                      for p, mi, vi in zip(params, m, v)]
        losses.append(epoch_loss / n_samples)
    weights = {
        "W1": rows_of(params, 0, n_in, hidden),
        "b1": params[start_b1:start_W2],
        "W2": rows_of(params, start_W2, hidden, n_out),
        "b2": params[start_b2:],
    }
    return weights, losses


def predict(weights, X):
    """Class index of the largest logit for each row of X."""
    W1_columns = list(zip(*weights["W1"]))
    W2_columns = list(zip(*weights["W2"]))
    labels = []
    for x in X:
        h = [max(z, 0.0) for z in map(add, row_dot_columns(x, W1_columns), weights["b1"])]
        z = list(map(add, row_dot_columns(h, W2_columns), weights["b2"]))
        labels.append(z.index(max(z)))
    return labels


def accuracy(weights, X, labels):
    return sum(p == t for p, t in zip(predict(weights, X), labels)) / len(labels)


def load_digits(path):
    """(X, labels) from digits.csv: 64 pixel columns 0-16 scaled to [0, 1], last column the digit."""
    with open(path) as f:
        lines = f.read().split("\n")[1:]
    X, labels = [], []
    for line in lines:
        if line.strip():
            cells = line.split(",")
            X.append([float(cell) / 16.0 for cell in cells[:-1]])
            labels.append(int(cells[-1]))
    return X, labels


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "data", "digits.csv")
    X, labels = load_digits(path)
    n_train = 1437  # the first 80% of the 1,797 rows; the rest is held out
    Y = [[1.0 if j == label else 0.0 for j in range(10)] for label in labels]
    X_train, Y_train, labels_train = X[:n_train], Y[:n_train], labels[:n_train]
    print(harness.machine_description())
    result = harness.compare(lambda: train_epochs(X_train, Y_train, epochs=1),
                             lambda: train_epochs(X_train, Y_train, epochs=1, skip_zeros=False),
                             repeats=3, warmup=0)
    print("one epoch of {} rows, batch 32, 64-64-10, median of 3:".format(n_train))
    print("  skip_zeros=True:  {:.3f} s, {:.0f} samples/s".format(result.median_a, n_train / result.median_a))
    print("  skip_zeros=False: {:.3f} s, {:.0f} samples/s (dense takes {:.2f}x as long)".format(
        result.median_b, n_train / result.median_b, 1 / result.ratio))
    weights, losses = train_epochs(X_train, Y_train, epochs=epochs)
    print("mean training loss per epoch: " + " ".join("{:.3f}".format(loss) for loss in losses))
    print("after {} epochs: train accuracy {:.4f}, held-out accuracy {:.4f}".format(
        epochs, accuracy(weights, X_train, labels_train), accuracy(weights, X[n_train:], labels[n_train:])))


if __name__ == "__main__":
    main()
