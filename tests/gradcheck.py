"""Finite differences, the reference every backward pass is checked against.

For a scalar function f of a matrix X, the central difference
    df/dX_ij  ~  (f(X + h e_ij) - f(X - h e_ij)) / (2 h)
has an error of order h^2 (truncation) plus eps * |f| / h (rounding), so h
near 1e-6 balances the two for functions of order 1 in float64 (Python's
float). Each entry is then compared with the analytic gradient by the
relative error
    |mine - expected| / max(|mine|, |expected|, tiny)
which must stay below 1e-6. `tiny` keeps gradients that are zero, or nearly
so, from dividing by zero: below it the comparison becomes an absolute one.

A layer is checked through L = sum(Y * G) with G a random upstream gradient
(not all ones, which would hide a transposed or mixed-up index), so that
dL/dY = G and backward(G) must give dL/dX and every dL/d(parameter).
Sums use math.fsum, so that rounding noise in L stays at one ulp.

Where many small gradients meet a loss of order 1 (attention: a key's weights
move every score of a row by nearly the same amount, which the softmax then
cancels), one ulp of L divided by 2h is already 1e-10, and the two-point rule
cannot confirm 1e-6. The five-point rule (order=4)
    df/dX_ij  ~  (f(X - 2h e) - 8 f(X - h e) + 8 f(X + h e) - f(X + 2h e)) / (12 h)
has a truncation error of order h^4, so a larger h (1e-3) keeps both errors
near 1e-12 for smooth functions.
"""

import math
import random

from matrix import Matrix

TOLERANCE = 1e-6
TINY = 1e-4  # below this size, |mine - expected| < 1e-10 is required instead


def relative_error(mine, expected, tiny=TINY):
    """|mine - expected| / max(|mine|, |expected|, tiny)."""
    return abs(mine - expected) / max(abs(mine), abs(expected), tiny)


def numerical_gradient(f, x, h=1e-6, order=2):
    """df/dx by central differences, where f() reads the Matrix x, which is nudged in place.

    order=2: the two-point rule; order=4: the five-point rule (see the module docstring).
    Every entry is restored exactly after its evaluations.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    grad = []
    for row in x.rows:
        grad_row = []
        for j, original in enumerate(row):
            row[j] = original + h
            above = f()
            row[j] = original - h
            below = f()
            if order == 2:
                grad_row.append((above - below) / (2.0 * h))
            else:
                row[j] = original + 2.0 * h
                far_above = f()
                row[j] = original - 2.0 * h
                far_below = f()
                grad_row.append((far_below - 8.0 * below + 8.0 * above - far_above) / (12.0 * h))
            row[j] = original
        grad.append(grad_row)
    return grad


def assert_close(mine, expected, what, tolerance=TOLERANCE, tiny=TINY):
    """Raise AssertionError naming the first entry whose relative error is too large.

    mine and expected are Matrix objects or lists of rows of the same shape.
    """
    mine_rows = mine.rows if isinstance(mine, Matrix) else mine
    expected_rows = expected.rows if isinstance(expected, Matrix) else expected
    mine_shape = (len(mine_rows), len(mine_rows[0]))
    expected_shape = (len(expected_rows), len(expected_rows[0]))
    if mine_shape != expected_shape:
        raise AssertionError(f"{what}: gradient has shape {mine_shape}, finite differences give {expected_shape}")
    for i, (mine_row, expected_row) in enumerate(zip(mine_rows, expected_rows)):
        for j, (a, b) in enumerate(zip(mine_row, expected_row)):
            error = relative_error(a, b, tiny)
            if not error < tolerance:  # `not <` so that a NaN fails too
                raise AssertionError(
                    f"{what}[{i}][{j}]: mine {a!r} vs expected {b!r} (finite differences); "
                    f"relative error {error:.3g} >= {tolerance:g}"
                )


def random_matrix(rng, n_rows, n_cols, low=-2.0, high=2.0, away_from_zero=0.0):
    """Uniform entries in [low, high]; with away_from_zero=d, none closer than d to 0 (ReLU's kink)."""
    rows = []
    for _ in range(n_rows):
        row = []
        for _ in range(n_cols):
            value = rng.uniform(low, high)
            while abs(value) < away_from_zero:
                value = rng.uniform(low, high)
            row.append(value)
        rows.append(row)
    return Matrix(rows)


def upstream_gradient(rng, n_rows, n_cols):
    """A random dL/dY with entries of either sign and magnitude in [0.5, 1.5]."""
    return Matrix([[rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 1.5) for _ in range(n_cols)]
                   for _ in range(n_rows)])


def _weighted_sum(y, g):
    """sum over all entries of Y * G, exactly rounded."""
    return math.fsum(a * b for y_row, g_row in zip(y.rows, g.rows) for a, b in zip(y_row, g_row))


def check_layer(layer, x, rng, h=1e-6, what="layer", extra_loss=None, order=2):
    """Check layer.backward against finite differences of L = sum(layer.forward(x) * G).

    Checks dL/dX and the gradient of every parameter the layer has. extra_loss,
    a function of no arguments, is added to L (a weight penalty whose gradient
    backward adds to the parameter's). order=4 uses the five-point rule (take h=1e-3).
    Returns the largest relative error seen.
    """
    y = layer.forward(x, training=False)
    grad_output = upstream_gradient(rng, *y.shape)
    grad_input = layer.backward(grad_output)
    analytic = [(f"{what} dX", x, grad_input)]
    analytic += [(f"{what} d{p.name}", p.value, p.grad) for p in layer.parameters()]
    analytic = [(name, value, grad.copy()) for name, value, grad in analytic]  # before forward runs again

    def loss():
        total = _weighted_sum(layer.forward(x, training=False), grad_output)
        return total + extra_loss() if extra_loss is not None else total

    worst = 0.0
    for name, value, grad in analytic:
        expected = numerical_gradient(loss, value, h, order)
        assert_close(grad, expected, name)
        worst = max([worst] + [relative_error(a, b) for ra, rb in zip(grad.rows, expected)
                               for a, b in zip(ra, rb)])
    return worst


def check_loss(loss, pred, target, h=1e-6, what="loss"):
    """Check loss.backward() against finite differences of loss.forward(pred, target) in pred.

    The loss is the end of the chain, so its upstream gradient is the number 1.
    """
    loss.forward(pred, target)
    mine = loss.backward().copy()
    expected = numerical_gradient(lambda: loss.forward(pred, target), pred, h)
    assert_close(mine, expected, f"{what} d(pred)")
    return max(relative_error(a, b) for ra, rb in zip(mine.rows, expected) for a, b in zip(ra, rb))


def trial_shapes(seed, trials=5, max_rows=4, max_cols=5):
    """`trials` random (n_rows, n_cols) pairs, reproducible from `seed`."""
    rng = random.Random(seed)
    return [(rng.randint(1, max_rows), rng.randint(1, max_cols)) for _ in range(trials)]
