"""`python main.py explain`: one training step of a tiny network, with every number printed.

The network has 2 inputs, 3 hidden units and 2 outputs; the batch has 2 rows.
The walk-through runs the framework's own layers, loss and optimizer, one call at
a time, and prints what each call computed:

    forward    Z1 = X @ W1 + b1,  H = f(Z1),  Z2 = H @ W2 + b2,  then the loss
    backward   dZ2 from the loss, then dW2, db2, dH, dZ1, dW1, db1 by the chain rule
    update     W = W - lr * dW for every parameter (plain SGD)

After each matrix, one entry is worked out again from the numbers on the screen,
so that a learner can follow (or redo on paper) every product and every sum.
The weights are small round numbers, fixed here, for the same reason.
"""

import math

from activations import ReLU, Sigmoid, Tanh
from layers import Dense
from losses import MSE, CrossEntropy
from matrix import Matrix
from optimizers import SGD

# The starting point: round numbers that are easy to multiply by hand.
INPUTS = [[1.0, 2.0], [0.5, -1.0]]                  # X, one sample per row
TARGETS = [[1.0, 0.0], [0.0, 1.0]]                  # Y, one-hot: row 1 is class 0, row 2 class 1
HIDDEN_WEIGHTS = [[0.1, -0.2, 0.3], [0.4, 0.1, -0.3]]  # W1 (2, 3)
HIDDEN_BIAS = [[0.0, 0.1, -0.1]]                    # b1 (1, 3)
OUTPUT_WEIGHTS = [[0.2, -0.5], [0.3, 0.1], [-0.4, 0.2]]  # W2 (3, 2)
OUTPUT_BIAS = [[0.05, -0.05]]                       # b2 (1, 2)

# name -> (layer class, forward formula, derivative as the code computes it from H = f(Z1))
HIDDEN_ACTIVATIONS = {
    "sigmoid": (Sigmoid, "sigmoid(Z1) = 1 / (1 + e^-Z1)", "H * (1 - H)"),
    "tanh": (Tanh, "tanh(Z1)", "1 - H^2"),
    "relu": (ReLU, "max(0, Z1)", "1 where Z1 > 0, else 0"),
}
LOSSES = {"cross_entropy", "mse"}


def _format(value, decimals):
    text = f"{value:.{decimals}f}"
    return "0." + "0" * decimals if text.startswith("-") and float(text) == 0 else text  # no "-0.0000"


def format_matrix(name, matrix, decimals=4, indent="    "):
    """'name (r x c) =' then the rows, columns aligned on the decimal point."""
    cells = [[_format(v, decimals) for v in row] for row in matrix.rows]
    width = max(len(cell) for row in cells for cell in row)
    lines = [f"{indent}{name} ({matrix.shape[0]}x{matrix.shape[1]}) ="]
    lines += [f"{indent}    [ " + "  ".join(cell.rjust(width) for cell in row) + " ]" for row in cells]
    return "\n".join(lines)


class _Printer:
    """Prints the walk-through with one number format throughout."""

    def __init__(self, decimals, out):
        self.decimals, self.out = decimals, out
        self.steps = 0  # numbered as they are printed, so every path through the story counts 1, 2, 3, ...

    def num(self, value):
        return _format(value, self.decimals)

    def factor(self, value):
        """A number inside a sum or product: negative ones in parentheses, 2*(-0.5) not 2*-0.5."""
        text = self.num(value)
        return f"({text})" if text.startswith("-") else text

    def say(self, text=""):
        self.out(text)

    def step(self, title, formula, shapes=""):
        self.steps += 1
        self.say()
        self.say(f"{self.steps}. {title}   {formula}" + (f"      {shapes}" if shapes else ""))

    def matrix(self, name, matrix):
        self.say(format_matrix(name, matrix, self.decimals))

    def check(self, text):
        self.say(f"    check one entry: {text}")


def _shape(matrix):
    return f"({matrix.shape[0]}x{matrix.shape[1]})"


def check_options(activation, loss, lr):
    """ValueError unless the walk's options are valid (shared with explain --autograd)."""
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(sorted(HIDDEN_ACTIVATIONS))}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(sorted(LOSSES))}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a number > 0, got {lr!r}")


def walk_through(activation="sigmoid", loss="cross_entropy", lr=0.5, decimals=4, out=print):
    """Print one forward pass, loss, backward pass and SGD update of the 2-3-2 network.

    Returns the loss before and after the step, so tests can check the story ends downhill.
    """
    check_options(activation, loss, lr)
    p = _Printer(decimals, out)
    activation_class, activation_formula, derivative = HIDDEN_ACTIVATIONS[activation]
    hidden, output = Dense(2, 3, init="zeros"), Dense(3, 2, init="zeros")
    hidden.weight.value, hidden.bias.value = Matrix(HIDDEN_WEIGHTS), Matrix(HIDDEN_BIAS)
    output.weight.value, output.bias.value = Matrix(OUTPUT_WEIGHTS), Matrix(OUTPUT_BIAS)
    squash, criterion = activation_class(), CrossEntropy() if loss == "cross_entropy" else MSE()
    X, Y = Matrix(INPUTS), Matrix(TARGETS)
    n = X.shape[0]
    W1, b1, W2, b2 = (m.copy() for m in (hidden.weight.value, hidden.bias.value,
                                         output.weight.value, output.bias.value))
    num, fac = p.num, p.factor

    output_name = "softmax, loss cross-entropy" if loss == "cross_entropy" else "no output activation, loss MSE"
    p.say("One training step of a tiny network, every number shown")
    p.say("=" * 56)
    p.say(f"network: 2 inputs -> Dense(2 -> 3) -> {activation} -> Dense(3 -> 2) -> {output_name}")
    p.say(f"batch: n = {n} rows; optimizer: SGD with learning rate lr = {lr:g}")
    p.say()
    p.matrix("X, the inputs, one sample per row", X)
    p.matrix("Y, the targets, one-hot (row 1 is class 0, row 2 is class 1)", Y)

    # ---------------------------------------------------------------- forward
    p.say()
    p.say("FORWARD PASS: from the inputs to the loss")
    Z1 = hidden.forward(X, training=True)
    p.step("hidden layer", "Z1 = X @ W1 + b1", f"{_shape(X)} @ {_shape(W1)} + {_shape(b1)} -> {_shape(Z1)}")
    p.matrix("W1", W1)
    p.matrix("b1", b1)
    p.matrix("Z1", Z1)
    p.check(f"Z1[0][0] = X[0][0]*W1[0][0] + X[0][1]*W1[1][0] + b1[0] = {num(X.rows[0][0])}*{fac(W1.rows[0][0])} + "
            f"{fac(X.rows[0][1])}*{fac(W1.rows[1][0])} + {fac(b1.rows[0][0])} = {num(Z1.rows[0][0])}")
    H = squash.forward(Z1, training=True)
    p.step(f"{activation}", f"H = {activation_formula}, entry by entry", f"{_shape(Z1)} -> {_shape(H)}")
    p.matrix("H", H)
    z = Z1.rows[0][0]
    p.check(f"H[0][0] = {activation}({num(z)}) = {num(H.rows[0][0])}")
    Z2 = output.forward(H, training=True)
    p.step("output layer", "Z2 = H @ W2 + b2", f"{_shape(H)} @ {_shape(W2)} + {_shape(b2)} -> {_shape(Z2)}")
    p.matrix("W2", W2)
    p.matrix("b2", b2)
    p.matrix("Z2", Z2)
    terms = " + ".join(f"{fac(H.rows[0][k])}*{fac(W2.rows[k][0])}" for k in range(3))
    p.check(f"Z2[0][0] = sum over k of H[0][k]*W2[k][0] + b2[0] = {terms} + {fac(b2.rows[0][0])} = "
            f"{num(Z2.rows[0][0])}")

    loss_before = criterion.forward(Z2, Y)
    if loss == "cross_entropy":
        P = Z2.map(math.exp)
        P = Matrix([[v / sum(row) for v in row] for row in P.rows])
        p.step("softmax", "P[i][j] = e^Z2[i][j] / sum over k of e^Z2[i][k], row by row")
        p.matrix("P, the predicted probabilities", P)
        p.check(f"P[0][0] = e^{num(Z2.rows[0][0])} / (e^{num(Z2.rows[0][0])} + e^{num(Z2.rows[0][1])}) = "
                f"{num(P.rows[0][0])}")
        p.step("loss", "L = -(1/n) * sum over rows of log P[i][true class of row i]")
        p.say(f"    L = -(log P[0][0] + log P[1][1]) / 2 = -(log {num(P.rows[0][0])} + log {num(P.rows[1][1])}) / 2"
              f" = {num(loss_before)}")
    else:
        count = Z2.shape[0] * Z2.shape[1]
        p.step("loss", f"L = (1/{count}) * sum of (Z2 - Y)^2 over all {count} entries (mean squared error)")
        squares = " + ".join(f"({num(a)} - {fac(b)})^2" for ra, rb in zip(Z2.rows, Y.rows) for a, b in zip(ra, rb))
        p.say(f"    L = ({squares}) / {count} = {num(loss_before)}")

    # --------------------------------------------------------------- backward
    p.say()
    p.say("BACKWARD PASS: the chain rule, from the loss back to the first layer")
    p.say("Each step multiplies the gradient that arrives (dL/d of a layer's output) by that layer's local")
    p.say("derivative, giving dL/d of its input and of its weights.")
    dZ2 = criterion.backward()
    if loss == "cross_entropy":
        p.step("loss and softmax together", "dL/dZ2 = (P - Y) / n",
               "the fused softmax + cross-entropy gradient, see losses.py")
        p.matrix("dZ2", dZ2)
        p.check(f"dZ2[0][0] = ({num(P.rows[0][0])} - {fac(Y.rows[0][0])}) / {n} = {num(dZ2.rows[0][0])}")
    else:
        count = Z2.shape[0] * Z2.shape[1]
        p.step("back through the loss", f"dL/dZ2 = 2 * (Z2 - Y) / {count}")
        p.matrix("dZ2", dZ2)
        p.check(f"dZ2[0][0] = 2 * ({num(Z2.rows[0][0])} - {fac(Y.rows[0][0])}) / {count} = {num(dZ2.rows[0][0])}")
    dH = output.backward(dZ2)
    dW2, db2 = output.weight.grad, output.bias.grad
    p.step("output layer weights", "dL/dW2 = H.T @ dZ2,  dL/db2 = sum of dZ2 over the rows",
           f"{_shape(H.T)} @ {_shape(dZ2)} -> {_shape(dW2)}")
    p.matrix("dW2", dW2)
    p.matrix("db2", db2)
    p.check(f"dW2[0][0] = H[0][0]*dZ2[0][0] + H[1][0]*dZ2[1][0] = {num(H.rows[0][0])}*{fac(dZ2.rows[0][0])} + "
            f"{fac(H.rows[1][0])}*{fac(dZ2.rows[1][0])} = {num(dW2.rows[0][0])}")
    p.step("back through the output layer", "dL/dH = dZ2 @ W2.T", f"{_shape(dZ2)} @ {_shape(W2.T)} -> {_shape(dH)}")
    p.matrix("dH", dH)
    p.check(f"dH[0][0] = dZ2[0][0]*W2[0][0] + dZ2[0][1]*W2[0][1] = {num(dZ2.rows[0][0])}*{fac(W2.rows[0][0])} + "
            f"{fac(dZ2.rows[0][1])}*{fac(W2.rows[0][1])} = {num(dH.rows[0][0])}")
    dZ1 = squash.backward(dH)
    p.step(f"back through {activation}", f"dL/dZ1 = dH * {activation}'(Z1) = dH * ({derivative}), entry by entry")
    p.matrix("dZ1", dZ1)
    h = H.rows[0][0]
    local = {"sigmoid": h * (1.0 - h), "tanh": 1.0 - h * h, "relu": 1.0 if Z1.rows[0][0] > 0 else 0.0}[activation]
    p.check(f"dZ1[0][0] = dH[0][0] * {activation}'(Z1[0][0]) = {num(dH.rows[0][0])} * {fac(local)} = "
            f"{num(dZ1.rows[0][0])}")
    hidden.backward(dZ1)
    dW1, db1 = hidden.weight.grad, hidden.bias.grad
    p.step("hidden layer weights", "dL/dW1 = X.T @ dZ1,  dL/db1 = sum of dZ1 over the rows",
           f"{_shape(X.T)} @ {_shape(dZ1)} -> {_shape(dW1)}")
    p.matrix("dW1", dW1)
    p.matrix("db1", db1)
    p.check(f"dW1[0][0] = X[0][0]*dZ1[0][0] + X[1][0]*dZ1[1][0] = {num(X.rows[0][0])}*{fac(dZ1.rows[0][0])} + "
            f"{fac(X.rows[1][0])}*{fac(dZ1.rows[1][0])} = {num(dW1.rows[0][0])}")
    p.say("    (dL/dX = dZ1 @ W1.T is not needed: the inputs are data, not weights.)")

    # ----------------------------------------------------------------- update
    SGD(hidden.parameters() + output.parameters(), lr=lr).step()
    loss_after = criterion.forward(output.forward(squash.forward(hidden.forward(X))), Y)
    print_update(p, lr, (("W1", W1, dW1, hidden.weight.value), ("b1", b1, db1, hidden.bias.value),
                         ("W2", W2, dW2, output.weight.value), ("b2", b2, db2, output.bias.value)),
                 loss_before, loss_after)
    return loss_before, loss_after


def print_update(p, lr, parameters, loss_before, loss_after):
    """The walk's ending, shared with explain --autograd: each (name, before, gradient, after)
    of the SGD step, then the loss on the same batch before and after it."""
    num, fac = p.num, p.factor
    p.say()
    p.say(f"UPDATE: plain SGD moves every parameter against its gradient, W = W - lr * dW, lr = {lr:g}")
    for name, before, grad, after in parameters:
        p.matrix(f"{name} new", after)
        p.check(f"{name}[0][0] = {num(before.rows[0][0])} - {lr:g} * {fac(grad.rows[0][0])} = "
                f"{num(after.rows[0][0])}")
    p.say()
    p.say(f"The same batch through the updated network: loss {num(loss_after)}, was {num(loss_before)}"
          + (" - one step downhill." if loss_after < loss_before else
             " - higher: this learning rate overshot; try a smaller --lr."))
