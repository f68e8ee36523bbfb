"""`python main.py explain --autograd`: the same training step as `explain`, as a computation graph.

The same 2-3-2 network, weights and batch as app/explain.py, written as Tensor operations
(autograd.py). The forward pass prints each node as the graph records it: its name, the
operation, its inputs and its value. The backward pass prints the nodes in the order
loss.backward() visits them (the reverse of a topological order, so that every node comes
after all the nodes computed from it), each with its gradient dL/d(node) and the rule that
sends that gradient on to its inputs. Nobody derived this backward pass: every rule is the
local one of a single operation, and the walk applies the chain rule. It ends with the same
SGD update, printed as `explain` prints it, and the same numbers.
"""

from app.explain import (HIDDEN_BIAS, HIDDEN_WEIGHTS, INPUTS, OUTPUT_BIAS, OUTPUT_WEIGHTS,
                         TARGETS, _Printer, check_options, print_update)
from autograd import Tensor, no_grad
from matrix import Matrix
from optimizers import SGD

# the hidden activations explain offers (app.explain.HIDDEN_ACTIVATIONS), as Tensor operations
_ACTIVATION_METHODS = {"sigmoid": Tensor.sigmoid, "tanh": Tensor.tanh, "relu": Tensor.relu}


def _named(tensor, name):
    tensor.name = name
    return tensor


def build_graph(X, T, parameters, activation, loss):
    """The forward pass as Tensor operations, every node named; returns the loss node.

        XW1 = X @ W1     Z1 = XW1 + b1     H = f(Z1)     HW2 = H @ W2     Z2 = HW2 + b2
        cross-entropy:   logP = log_softmax(Z2)   S = sum(logP * T)   L = S / (-n)
        mse:             D = Z2 - T   S = sum(D ** 2)   L = S / (n * c)
    (T the targets.)
    """
    W1, b1, W2, b2 = parameters
    XW1 = _named(X @ W1, "XW1")
    Z1 = _named(XW1 + b1, "Z1")
    H = _named(_ACTIVATION_METHODS[activation](Z1), "H")
    HW2 = _named(H @ W2, "HW2")
    Z2 = _named(HW2 + b2, "Z2")
    n, c = Z2.shape
    if loss == "cross_entropy":
        log_p = _named(Z2.log_softmax(), "logP")
        S = _named(_named(log_p * T, "logP*T").sum(), "S")
        return _named(S / (-n), "L")
    D = _named(Z2 - T, "D")
    S = _named(_named(D ** 2, "D^2").sum(), "S")
    return _named(S / (n * c), "L")


def _label(tensor):
    """A node's name, or the number a 1x1 constant holds (a number the expression used)."""
    return tensor.name if tensor.name else f"{tensor.data.rows[0][0]:g}"


def _expression(node):
    """How the node was computed, from its inputs' names: 'X @ W1', 'sigmoid(Z1)', 'D ** 2'."""
    names = [_label(parent) for parent in node.parents]
    if len(names) == 2:
        return f"{names[0]} {node.op} {names[1]}"
    if node.op.startswith("**"):
        return f"{names[0]} {node.op}"
    return f"{node.op}({names[0]})"


def _operands(node):
    """'A = S, B = -2': what A and B stand for in the node's rule."""
    return ",  ".join(f"{letter} = {_label(parent)}" for letter, parent in zip("AB", node.parents))


def graph_walk(activation="sigmoid", loss="cross_entropy", lr=0.5, decimals=4, out=print):
    """Print the step as a graph: forward nodes, backward visits, update.

    Returns {"loss_before", "loss_after", "order": the node names in backward order, and the
    gradients dW1, db1, dW2, db2 as Matrices}, so that a test can hold it against `explain`."""
    check_options(activation, loss, lr)
    p = _Printer(decimals, out)
    # the targets are T here (Y in explain): in the rules, Y is an operation's output and dY its gradient
    X, T = Tensor(Matrix(INPUTS), name="X"), Tensor(Matrix(TARGETS), name="T")
    parameters = [Tensor(Matrix(rows), requires_grad=True, name=name) for name, rows in
                  (("W1", HIDDEN_WEIGHTS), ("b1", HIDDEN_BIAS), ("W2", OUTPUT_WEIGHTS), ("b2", OUTPUT_BIAS))]
    before = [t.data.copy() for t in parameters]
    L = build_graph(X, T, parameters, activation, loss)
    order = L.topological_order()

    p.say("One training step of the same tiny network, as a computation graph")
    p.say("=" * 68)
    p.say(f"network: 2 inputs -> X @ W1 + b1 -> {activation} -> H @ W2 + b2 -> "
          + ("log_softmax, loss cross-entropy" if loss == "cross_entropy" else "loss MSE"))
    p.say(f"batch: n = 2 rows; optimizer: SGD with learning rate lr = {lr:g}; X and T are constants "
          "(no gradient), W1, b1, W2, b2 the leaves that require one.")
    p.say()
    p.matrix("X", X.data)
    p.matrix("T, the targets (Y in explain)", T.data)

    p.say()
    p.say("FORWARD: each operation computes its value and records a node: its inputs and its backward rule")
    step = 0
    for node in order:
        if node.parents:
            step += 1
            p.step(f"{step}. {node.name} = {_expression(node)}", f"({node.shape[0]}x{node.shape[1]})")
        else:
            p.step(f"   leaf {node.name}", f"({node.shape[0]}x{node.shape[1]}), requires a gradient")
        p.matrix(node.name, node.data)
    loss_before = L.item()
    p.say()
    p.say(f"    L = {p.num(loss_before)}")

    p.say()
    p.say("BACKWARD: loss.backward() visits the nodes in reverse topological order: a node's turn comes once")
    p.say("every node computed from it has sent its share back, so dL/d(node) is complete (the sum of the")
    p.say("shares); the node's rule then turns it into shares for its inputs. dL/dL = 1.")
    L.backward(retain_grad=True)
    for step, node in enumerate(reversed(order), 1):
        if node.parents:
            p.say()
            p.say(f"{step}. {node.name} = {_expression(node)}")
            p.matrix(f"d{node.name}", node.grad)
            p.say(f"    the rule of {node.op} sends it on:  {node.rule}   ({_operands(node)}, Y = {node.name})")
        else:
            p.step(f"{step}. leaf {node.name}", "its gradient stays in .grad for the optimizer")
            p.matrix(f"d{node.name}", node.grad)

    SGD(parameters, lr=lr).step()  # the Tensors are the optimizer's parameters
    with no_grad():
        loss_after = build_graph(X, T, parameters, activation, loss).item()
    gradients = {f"d{t.name}": t.grad for t in parameters}
    print_update(p, lr, [(t.name, old, t.grad, t.data) for t, old in zip(parameters, before)],
                 loss_before, loss_after)
    return dict(gradients, loss_before=loss_before, loss_after=loss_after,
                order=[node.name for node in reversed(order)])
