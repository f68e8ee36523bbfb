"""Self-check of bench/fused_mlp.py: the fast loop does the same arithmetic as an obvious one.

    python bench/check_fused_mlp.py        # a few seconds; exits non-zero on a failed check

The fused loop skips zeros, flattens parameters and runs dot products in C;
a speed bar is worth something only if it computes the same thing. Here a
slow reference, written with index loops straight from the formulas, trains
the same network from the same seed, and the two must end with the same
weights and losses (up to rounding: the sums are added in different orders).
The reference's own gradients are checked against central finite differences
first, so that the two do not agree on a shared mistake.
"""
import math
import random
import sys

import fused_mlp


def one_hot(label, n_classes):
    return [1.0 if c == label else 0.0 for c in range(n_classes)]


def reference_loss_and_gradients(W1, b1, W2, b2, xs, ys):
    """Mean softmax cross-entropy over the batch and its gradients, by index loops."""
    n_in, hidden, n_out, batch = len(W1), len(b1), len(b2), len(xs)
    loss = 0.0
    dW1 = [[0.0] * hidden for _ in range(n_in)]
    db1 = [0.0] * hidden
    dW2 = [[0.0] * n_out for _ in range(hidden)]
    db2 = [0.0] * n_out
    for x, y in zip(xs, ys):
        pre = [b1[j] + sum(x[i] * W1[i][j] for i in range(n_in)) for j in range(hidden)]
        h = [max(value, 0.0) for value in pre]
        z = [b2[c] + sum(h[j] * W2[j][c] for j in range(hidden)) for c in range(n_out)]
        top = max(z)
        log_sum_exp = top + math.log(sum(math.exp(value - top) for value in z))
        loss += sum(-y[c] * (z[c] - log_sum_exp) for c in range(n_out)) / batch
        dz = [(math.exp(z[c] - log_sum_exp) - y[c]) / batch for c in range(n_out)]
        dh = [sum(dz[c] * W2[j][c] for c in range(n_out)) if pre[j] > 0.0 else 0.0 for j in range(hidden)]
        for j in range(hidden):
            for c in range(n_out):
                dW2[j][c] += h[j] * dz[c]
        for c in range(n_out):
            db2[c] += dz[c]
        for i in range(n_in):
            for j in range(hidden):
                dW1[i][j] += x[i] * dh[j]
        for j in range(hidden):
            db1[j] += dh[j]
    return loss, (dW1, db1, dW2, db2)


def reference_train_epochs(X, Y, hidden, epochs, batch_size, lr, seed, beta1=0.9, beta2=0.999, eps=1e-8):
    """The same training as fused_mlp.train_epochs, one scalar at a time."""
    rng = random.Random(seed)
    W1 = fused_mlp.he_normal(rng, len(X[0]), hidden)
    W2 = fused_mlp.he_normal(rng, hidden, len(Y[0]))
    b1, b2 = [0.0] * hidden, [0.0] * len(Y[0])
    # parameters as flat views: (list, index) of every scalar, so that Adam is one loop
    slots = [(row, j) for row in W1 for j in range(len(row))] + [(b1, j) for j in range(hidden)]
    slots += [(row, j) for row in W2 for j in range(len(row))] + [(b2, j) for j in range(len(b2))]
    m, v = [0.0] * len(slots), [0.0] * len(slots)
    order = list(range(len(X)))
    losses, t = [], 0
    for _ in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            loss, (dW1, db1, dW2, db2) = reference_loss_and_gradients(
                W1, b1, W2, b2, [X[i] for i in batch], [Y[i] for i in batch])
            total += loss * len(batch)
            grads = [g for row in dW1 for g in row] + db1 + [g for row in dW2 for g in row] + db2
            t += 1
            for s, ((param, j), g) in enumerate(zip(slots, grads)):
                m[s] = beta1 * m[s] + (1 - beta1) * g
                v[s] = beta2 * v[s] + (1 - beta2) * g * g
                m_hat = m[s] / (1 - beta1 ** t)
                v_hat = v[s] / (1 - beta2 ** t)
                param[j] -= lr * m_hat / (math.sqrt(v_hat) + eps)
        losses.append(total / len(X))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, losses


def check_reference_gradients(rng):
    """Central differences on a random batch, for a sample of entries of every parameter."""
    n_in, hidden, n_out, batch = 6, 5, 4, 3
    W1 = [[rng.gauss(0, 1) for _ in range(hidden)] for _ in range(n_in)]
    b1 = [rng.gauss(0, 0.5) for _ in range(hidden)]
    W2 = [[rng.gauss(0, 1) for _ in range(n_out)] for _ in range(hidden)]
    b2 = [rng.gauss(0, 0.5) for _ in range(n_out)]
    xs = [[rng.gauss(0, 1) for _ in range(n_in)] for _ in range(batch)]
    ys = [one_hot(rng.randrange(n_out), n_out) for _ in range(batch)]
    _, grads = reference_loss_and_gradients(W1, b1, W2, b2, xs, ys)
    step = 1e-6
    for name, param, grad in (("W1", W1, grads[0]), ("b1", [b1], [grads[1]]),
                              ("W2", W2, grads[2]), ("b2", [b2], [grads[3]])):
        for row, grad_row in zip(param, grad):
            for j in range(len(row)):
                saved = row[j]
                row[j] = saved + step
                loss_plus = reference_loss_and_gradients(W1, b1, W2, b2, xs, ys)[0]
                row[j] = saved - step
                loss_minus = reference_loss_and_gradients(W1, b1, W2, b2, xs, ys)[0]
                row[j] = saved
                numeric = (loss_plus - loss_minus) / (2 * step)
                if abs(numeric - grad_row[j]) > 1e-6 * max(1.0, abs(numeric)):
                    raise AssertionError("reference d loss / d {}: analytic {!r}, finite differences {!r}".format(
                        name, grad_row[j], numeric))


def max_difference(a, b):
    return max(abs(p - q) for row_a, row_b in zip(a, b) for p, q in zip(row_a, row_b))


def check_fused_matches_reference(rng):
    """Digits-like data (about half exact zeros), odd sizes, a short last batch, three epochs."""
    # hidden = 20: wide enough (kernels.SKIP_MIN_COLUMNS) for rows to skip their zeros
    n_samples, n_in, n_out, hidden = 45, 12, 4, 20
    X = [[0.0 if rng.random() < 0.5 else rng.random() for _ in range(n_in)] for _ in range(n_samples)]
    X[3] = [0.0] * n_in  # an all-blank row: its first-layer product is b1 alone
    Y = [one_hot(rng.randrange(n_out), n_out) for _ in range(n_samples)]
    settings = dict(hidden=hidden, epochs=3, batch_size=8, lr=0.01, seed=7)
    reference_weights, reference_losses = reference_train_epochs(X, Y, **settings)
    for skip_zeros, masked in ((True, False), (False, False), (True, True)):
        fused_weights, fused_losses = fused_mlp.train_epochs(
            X, Y, skip_zeros=skip_zeros, masked_hidden_gradient=masked, **settings)
        compare_to_reference(fused_weights, fused_losses, reference_weights, reference_losses,
                             "skip_zeros={}, masked_hidden_gradient={}".format(skip_zeros, masked))
    return fused_losses


def compare_to_reference(fused_weights, fused_losses, reference_weights, reference_losses, label):
    for name in ("W1", "W2"):
        difference = max_difference(fused_weights[name], reference_weights[name])
        if difference > 1e-9:
            raise AssertionError("{}: {} differs from the reference by {:.3g}".format(label, name, difference))
    for name in ("b1", "b2"):
        difference = max_difference([fused_weights[name]], [reference_weights[name]])
        if difference > 1e-9:
            raise AssertionError("{}: {} differs from the reference by {:.3g}".format(label, name, difference))
    for epoch, (fused, reference) in enumerate(zip(fused_losses, reference_losses)):
        if abs(fused - reference) > 1e-9:
            raise AssertionError("{}: epoch {} loss: fused {!r}, reference {!r}".format(
                label, epoch, fused, reference))
    if not fused_losses[-1] < fused_losses[0]:
        raise AssertionError("{}: the loss did not fall: {}".format(label, fused_losses))


def main():
    rng = random.Random(2024)
    check_reference_gradients(rng)
    print("reference gradients match central finite differences")
    losses = check_fused_matches_reference(rng)
    print("fused_mlp.train_epochs (dense, skipping zeros, masked dH) matches the reference for 3 epochs "
          "(losses {})".format(
        ", ".join("{:.4f}".format(loss) for loss in losses)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
