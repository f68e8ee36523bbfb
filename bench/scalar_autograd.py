"""Scalar reverse-mode autograd in the style of micrograd: one graph node per number.

Written for bench/autograd_speed.py, to measure what a graph of scalars costs against a graph
of matrices (autograd.py) and against the hand-written layers, on the same network. Each
Value holds one float, its gradient, its parents and a closure that sends the gradient back;
backward() sorts the graph without recursion (a 64-64-10 MLP on 32 rows is ~300,000 nodes).
"""

import math


class Value:
    """One number in a computation graph: .data, .grad, and how to pass a gradient back."""

    __slots__ = ("data", "grad", "parents", "_backward")

    def __init__(self, data, parents=()):
        self.data = data
        self.grad = 0.0
        self.parents = parents
        self._backward = None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def backward():  # d(a + b) = da + db
            self.grad += out.grad
            other.grad += out.grad
        out._backward = backward
        return out

    __radd__ = __add__

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def backward():  # d(a * b) = b da + a db
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = backward
        return out

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def relu(self):
        out = Value(self.data if self.data > 0.0 else 0.0, (self,))

        def backward():
            self.grad += out.grad if out.data > 0.0 else 0.0
        out._backward = backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,))

        def backward():
            self.grad += out.data * out.grad
        out._backward = backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,))

        def backward():
            self.grad += out.grad / self.data
        out._backward = backward
        return out

    def backward(self):
        """Fill .grad of every Value this one depends on (each visited after all its users)."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((parent, False) for parent in node.parents if id(parent) not in seen)
        self.grad = 1.0
        for node in reversed(order):
            if node._backward is not None:
                node._backward()


def dot(values, weights):
    """sum of v * w as a chain of Value additions (micrograd's Neuron: sum((wi * xi for ...), b))."""
    total = values[0] * weights[0]
    for v, w in zip(values[1:], weights[1:]):
        total = total + v * w
    return total


def mlp_loss(X_rows, labels, W1, b1, W2, b2):
    """Softmax cross-entropy of the 2-layer ReLU MLP on a batch; W given as lists of columns of Values.

    X_rows are plain floats (data, not nodes): multiplying a Value by a float makes one node,
    as micrograd does when inputs are wrapped only where they meet a weight."""
    total = None
    for x, label in zip(X_rows, labels):
        hidden = [(dot_plain(x, column) + bias).relu() for column, bias in zip(W1, b1)]
        logits = [dot(hidden, column) + bias for column, bias in zip(W2, b2)]
        top = max(z.data for z in logits)  # a constant shift: it cancels in the gradient
        exps = [(z - top).exp() for z in logits]
        sum_exps = exps[0]
        for e in exps[1:]:
            sum_exps = sum_exps + e
        row_loss = sum_exps.log() + top - logits[label]
        total = row_loss if total is None else total + row_loss
    return total * (1.0 / len(X_rows))


def dot_plain(floats, weights):
    """sum of x * w for plain floats x (the input row) and Values w."""
    total = weights[0] * floats[0]
    for x, w in zip(floats[1:], weights[1:]):
        total = total + w * x
    return total


class ScalarAdam:
    """Adam over a flat list of Values, the same rule as optimizers.Adam."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [0.0] * len(params)
        self.v = [0.0] * len(params)

    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1.0 - beta1 ** self.t)
        root_correction = math.sqrt(1.0 - beta2 ** self.t)
        for i, p in enumerate(self.params):
            g = p.grad
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * g * g
            p.data -= step_size * self.m[i] / (math.sqrt(self.v[i]) / root_correction + self.eps)

    def zero_grad(self):
        for p in self.params:
            p.grad = 0.0
