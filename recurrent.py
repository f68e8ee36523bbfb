"""Recurrent layers: RNN, LSTM and GRU, with backpropagation through time.

Each is PyTorch's single-layer, batch-first cell (torch.nn.RNN, LSTM, GRU with
num_layers=1, batch_first=True, bias=True), started from h_0 = 0 (and c_0 = 0).
Shapes, for n sequences of T steps of D = input_size values and H = hidden_size:
    X   (n, T * D)    step t of row i in columns t*D to (t+1)*D (x.reshape(n, -1) in PyTorch)
    Y   (n, T * H)    every hidden state h_1 .. h_T, with return_sequences=True (PyTorch's output)
        (n, H)        the last one, h_T, with return_sequences=False (PyTorch's h_n)
    weight_ih (D, G*H), weight_hh (H, G*H), bias_ih and bias_hh (1, G*H), with G the number
    of gate blocks (RNN 1, GRU 3, LSTM 4), in PyTorch's order; the weights are PyTorch's
    weight_ih_l0 and weight_hh_l0 transposed, so that a step is a row times a matrix:
        a_t = x_t @ weight_ih + bias_ih + h_(t-1) @ weight_hh + bias_hh      (1, G*H)
T is read off the row width, so one layer takes sequences of any length. Every
weight and bias starts uniform on [-1/sqrt(H), 1/sqrt(H)], as in PyTorch.

How the work is arranged (the speed of pure Python is in the number of Python-level
operations, not in the arithmetic):
  * the input projections x_t @ weight_ih of all n * T steps are ONE matrix product,
    done before the time loop; so are, after the backward loop, the weight gradients
        dweight_ih = sum_t x_t.T @ da_t          dweight_hh = sum_t h_(t-1).T @ da_t
    which are single products of the n * T stacked rows;
  * inside the time loop, each step is one (n, H) @ (H, G*H) product over the whole
    batch, and the gate arithmetic is list comprehensions over one row of H values;
  * h_0 = 0, so the first step's h_0 @ weight_hh is skipped, and sigmoid is computed
    as 0.5 + 0.5 * tanh(a / 2) (the same function, exactly), which cannot overflow.

Backpropagation through time. Given dY, the gradient reaching each output h_t, walk
t = T .. 1: the gradient of h_t is what the output receives plus what step t + 1
sends back, dh_t = dY_t + dh_(t+1 -> t); each cell's backward (in its docstring)
turns dh_t into the gradients of its pre-activations da_t and sends
da_t @ weight_hh.T (plus, for LSTM and GRU, a direct path) back to h_(t-1).
docs/recurrent.md works one step through by hand.
"""

import math
import operator
import random

from layers import Layer, Parameter, _positive_int, default_rng, flat_size
from matrix import Matrix
from sequence import join_steps, split_steps

_add = operator.add
_tanh = math.tanh


def _sigmoid_row(values):
    """sigma(a) = 1 / (1 + e^-a) = 0.5 + 0.5 * tanh(a / 2), for each a in a row; never overflows."""
    return [0.5 + 0.5 * _tanh(0.5 * a) for a in values]


class _Recurrent(Layer):
    """What RNN, LSTM and GRU share: the parameters, the shapes, the two big products.

    A subclass sets `gates` (G) and defines _steps(projected, n, T) -> hidden states,
    and _backprop(dh_out, n, T) -> (da_ih, da_hh), the gradients of x_t @ weight_ih + bias_ih
    and of h_(t-1) @ weight_hh + bias_hh for every step, each a list of T blocks of n rows.
    """

    gates = 1

    def __init__(self, input_size, hidden_size, return_sequences=True, rng=None):
        name = type(self).__name__
        self.input_size = _positive_int(input_size, f"{name} input_size")
        self.hidden_size = _positive_int(hidden_size, f"{name} hidden_size")
        if not isinstance(return_sequences, bool):
            raise ValueError(f"{name} return_sequences must be true or false, got {return_sequences!r}")
        self.return_sequences = return_sequences
        rng = rng if rng is not None else default_rng()
        width, bound = self.gates * hidden_size, 1.0 / math.sqrt(hidden_size)
        self.weight_ih = Parameter(Matrix.random(input_size, width, rng, "uniform", bound), "weight_ih")
        self.weight_hh = Parameter(Matrix.random(hidden_size, width, rng, "uniform", bound), "weight_hh")
        self.bias_ih = Parameter(Matrix.random(1, width, rng, "uniform", bound), "bias_ih")
        self.bias_hh = Parameter(Matrix.random(1, width, rng, "uniform", bound), "bias_hh")
        self.inputs = None

    # ------------------------------------------------------------------ passes
    def forward(self, x, training=False):
        if not isinstance(x, Matrix):
            raise TypeError(f"{self!r} takes a Matrix of shape (n, T * {self.input_size}), got {type(x).__name__}")
        n, width = x.shape
        if width % self.input_size:
            raise ValueError(f"{self!r} takes time steps of {self.input_size} values, but its input rows have "
                             f"{width} values (not a multiple of {self.input_size})")
        steps = width // self.input_size
        # one product for the input side of every step: row t * n + i is x_t of sequence i
        self.inputs = Matrix.from_rows(split_steps(x.rows, self.input_size, time_major=True), self.input_size)
        projected = (self.inputs @ self.weight_ih.value + self.bias_ih.value).rows
        hidden = self._steps(projected, n, steps)  # T blocks of n rows of H values
        self.shape = (n, steps)
        if self.return_sequences:
            return Matrix.from_rows(join_steps([row for block in hidden for row in block], n, time_major=True),
                                steps * self.hidden_size)
        return Matrix.from_rows(hidden[-1], self.hidden_size)

    def backward(self, grad, input_grad=True):
        self._saved(self.inputs)
        n, steps = self.shape
        h = self.hidden_size
        if self.return_sequences:
            rows = split_steps(grad.rows, h, time_major=True)
            dh_out = [rows[t * n:(t + 1) * n] for t in range(steps)]
        else:  # only h_T reached the output
            dh_out = [None] * (steps - 1) + [grad.rows]
        da_ih, da_hh = self._backprop(dh_out, n, steps)
        stacked_ih = Matrix.from_rows([row for block in da_ih for row in block], self.gates * h)
        self.weight_ih.grad = self.inputs.T @ stacked_ih
        self.bias_ih.grad = stacked_ih.sum(axis=0)
        stacked_hh = Matrix.from_rows([row for block in da_hh for row in block], self.gates * h)
        self.bias_hh.grad = stacked_hh.sum(axis=0)
        if steps > 1:  # h_0 = 0 adds nothing to dweight_hh: the products start at step 2
            previous = Matrix.from_rows([row for block in self.hidden[:-1] for row in block], h)
            self.weight_hh.grad = previous.T @ Matrix.from_rows(stacked_hh.rows[n:], self.gates * h)
        else:
            self.weight_hh.grad = Matrix.zeros(h, self.gates * h)
        if not input_grad:
            return None
        grad_steps = stacked_ih @ self.weight_ih.value.T
        return Matrix.from_rows(join_steps(grad_steps.rows, n, time_major=True), steps * self.input_size)

    def _recurrent_product(self, hidden_rows):
        """h_(t-1) @ weight_hh + bias_hh for the n rows of one step: one product over the batch."""
        return (Matrix.from_rows(hidden_rows, self.hidden_size) @ self.weight_hh.value + self.bias_hh.value).rows

    def _back_product(self, grad_rows, weight_hh_t):
        """da_t @ weight_hh.T for the n rows of one step: what step t sends back to h_(t-1)."""
        return (Matrix.from_rows(grad_rows, self.gates * self.hidden_size) @ weight_hh_t).rows

    # ------------------------------------------------------------ bookkeeping
    def parameters(self):
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    def output_shape(self, input_shape):
        """(T, D) -> (T, H), or (H,) with return_sequences=False."""
        size = flat_size(input_shape)
        if size % self.input_size:
            raise ValueError(f"{self!r} takes time steps of {self.input_size} values, but its input has shape "
                             f"{tuple(input_shape)} ({size} values, not a multiple of {self.input_size})")
        if self.return_sequences:
            return (size // self.input_size, self.hidden_size)
        return (self.hidden_size,)

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "return_sequences": self.return_sequences}

    @classmethod
    def from_config(cls, config):
        # a private generator: loading a model must not move the shared one
        return cls(**config, rng=random.Random(0))

    def _options(self):
        return "" if self.return_sequences else ", return_sequences=False"

    def __repr__(self):
        return f"{type(self).__name__}({self.input_size} -> {self.hidden_size}{self._options()})"


class RNN(_Recurrent):
    """Elman recurrent layer, torch.nn.RNN (one layer, batch first, h_0 = 0):

        h_t = tanh(x_t @ W_ih + b_ih + h_(t-1) @ W_hh + b_hh)        (nonlinearity="tanh")
        h_t = relu(...)                                               (nonlinearity="relu")
    Shapes: W_ih (D, H), W_hh (H, H), b_ih and b_hh (1, H).

    Backward through one step, given dh_t (from the output and from step t + 1), with
    a_t the pre-activation:
        da_t = dh_t * (1 - h_t^2)          (tanh' = 1 - tanh^2, written with the output)
        da_t = dh_t * [h_t > 0]            (relu)
        dh_(t-1) += da_t @ W_hh.T          db_ih = db_hh = sum over t and rows of da_t
    """

    gates = 1

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", return_sequences=True, rng=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, return_sequences, rng)

    def _steps(self, projected, n, steps):
        relu = self.nonlinearity == "relu"
        hidden = []
        for t in range(steps):
            block = projected[t * n:(t + 1) * n]
            if t:  # h_0 = 0: nothing to add at the first step but the bias
                block = [list(map(_add, a, b)) for a, b in zip(block, self._recurrent_product(hidden[-1]))]
            else:
                bias = self.bias_hh.value.rows[0]
                block = [list(map(_add, row, bias)) for row in block]
            if relu:
                hidden.append([[a if a > 0.0 else 0.0 for a in row] for row in block])
            else:
                hidden.append([list(map(_tanh, row)) for row in block])
        self.hidden = hidden
        return hidden

    def _backprop(self, dh_out, n, steps):
        weight_hh_t = self.weight_hh.value.T
        relu = self.nonlinearity == "relu"
        da = [None] * steps
        carried = None  # dh_(t) sent back from step t + 1
        for t in range(steps - 1, -1, -1):
            dh = dh_out[t]
            if carried is not None:
                dh = carried if dh is None else [list(map(_add, a, b)) for a, b in zip(dh, carried)]
            if relu:
                block = [[g if y > 0.0 else 0.0 for g, y in zip(grow, hrow)] for grow, hrow in zip(dh, self.hidden[t])]
            else:
                block = [[g * (1.0 - y * y) for g, y in zip(grow, hrow)] for grow, hrow in zip(dh, self.hidden[t])]
            da[t] = block
            if t:
                carried = self._back_product(block, weight_hh_t)
        return da, da  # a_t = x-side + h-side: both get the same gradient

    def get_config(self):
        return dict(super().get_config(), nonlinearity=self.nonlinearity)

    def _options(self):
        return ("" if self.nonlinearity == "tanh" else ", relu") + super()._options()


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), torch.nn.LSTM (one layer,
    batch first, h_0 = c_0 = 0). With a_t = x_t @ W_ih + b_ih + h_(t-1) @ W_hh + b_hh,
    (1, 4H), split into the gate blocks in PyTorch's order i, f, g, o:

        i_t = sigma(a_i)     input gate          f_t = sigma(a_f)     forget gate
        g_t = tanh(a_g)      candidate cell      o_t = sigma(a_o)     output gate
        c_t = f_t * c_(t-1) + i_t * g_t          h_t = o_t * tanh(c_t)
    Shapes: W_ih (D, 4H), W_hh (H, 4H), b_ih and b_hh (1, 4H).

    Backward through one step, given dh_t (output plus step t + 1) and dc_t (from step
    t + 1), with sigma' = sigma (1 - sigma) and tanh' = 1 - tanh^2:
        do = dh_t * tanh(c_t)                          da_o = do * o (1 - o)
        dc = dc_t + dh_t * o_t * (1 - tanh(c_t)^2)     (the cell's total gradient)
        di = dc * g_t      da_i = di * i (1 - i)       dg = dc * i_t      da_g = dg * (1 - g^2)
        df = dc * c_(t-1)  da_f = df * f (1 - f)       dc_(t-1) = dc * f_t
        dh_(t-1) = [da_i, da_f, da_g, da_o] @ W_hh.T
    The path dc_(t-1) = dc * f_t, a product with no weight matrix and no squashing
    derivative, is what lets the gradient travel across many steps.
    """

    gates = 4

    def _steps(self, projected, n, steps):
        h = self.hidden_size
        bias = self.bias_hh.value.rows[0]
        hidden, cells, saved = [], [], []
        zeros = [[0.0] * h for _ in range(n)]
        for t in range(steps):
            block = projected[t * n:(t + 1) * n]
            recurrent = self._recurrent_product(hidden[-1]) if t else [bias] * n
            previous_cells = cells[-1] if t else zeros
            h_block, c_block, gate_block = [], [], []
            for x_row, h_row, c_prev in zip(block, recurrent, previous_cells):
                a = list(map(_add, x_row, h_row))
                i, f = _sigmoid_row(a[:h]), _sigmoid_row(a[h:2 * h])
                g, o = list(map(_tanh, a[2 * h:3 * h])), _sigmoid_row(a[3 * h:])
                c = [fv * cv + iv * gv for fv, cv, iv, gv in zip(f, c_prev, i, g)]
                tanh_c = list(map(_tanh, c))
                h_block.append(list(map(operator.mul, o, tanh_c)))
                c_block.append(c)
                gate_block.append((i, f, g, o, tanh_c))
            hidden.append(h_block)
            cells.append(c_block)
            saved.append(gate_block)
        self.hidden, self.cells, self.gate_values = hidden, cells, saved
        return hidden

    def _backprop(self, dh_out, n, steps):
        weight_hh_t = self.weight_hh.value.T
        h = self.hidden_size
        zeros = [[0.0] * h for _ in range(n)]
        da = [None] * steps
        carried_h, carried_c = zeros, zeros
        for t in range(steps - 1, -1, -1):
            dh_block = dh_out[t] if dh_out[t] is not None else zeros
            previous_cells = self.cells[t - 1] if t else zeros
            block, next_c = [], []
            for dh_o, dh_c, dc_c, (i, f, g, o, tanh_c), c_prev in zip(
                    dh_block, carried_h, carried_c, self.gate_values[t], previous_cells):
                dh = list(map(_add, dh_o, dh_c))
                dc = [d + dhv * ov * (1.0 - tc * tc) for d, dhv, ov, tc in zip(dc_c, dh, o, tanh_c)]
                da_i = [d * gv * iv * (1.0 - iv) for d, gv, iv in zip(dc, g, i)]
                da_f = [d * cp * fv * (1.0 - fv) for d, cp, fv in zip(dc, c_prev, f)]
                da_g = [d * iv * (1.0 - gv * gv) for d, iv, gv in zip(dc, i, g)]
                da_o = [dhv * tc * ov * (1.0 - ov) for dhv, tc, ov in zip(dh, tanh_c, o)]
                block.append(da_i + da_f + da_g + da_o)
                next_c.append(list(map(operator.mul, dc, f)))
            da[t] = block
            if t:
                carried_h, carried_c = self._back_product(block, weight_hh_t), next_c
        return da, da


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014), torch.nn.GRU (one layer, batch first,
    h_0 = 0). The two sides are kept apart, because the reset gate multiplies the
    recurrent part of the candidate only: with gate blocks in PyTorch's order r, z, n,
        x-side  p_t = x_t @ W_ih + b_ih          h-side  q_t = h_(t-1) @ W_hh + b_hh    (1, 3H)
        r_t = sigma(p_r + q_r)                   reset gate
        z_t = sigma(p_z + q_z)                   update gate
        n_t = tanh(p_n + r_t * q_n)              candidate, q_n = W_hn h_(t-1) + b_hn
        h_t = (1 - z_t) * n_t + z_t * h_(t-1)
    Shapes: W_ih (D, 3H), W_hh (H, 3H), b_ih and b_hh (1, 3H).

    Backward through one step, given dh_t (output plus step t + 1):
        dn = dh_t * (1 - z_t)                    da_n = dn * (1 - n_t^2)      (tanh')
        dz = dh_t * (h_(t-1) - n_t)              da_z = dz * z (1 - z)        (sigma')
        dr = da_n * q_n                          da_r = dr * r (1 - r)
        dp = [da_r, da_z, da_n]                  (the x-side: p_n enters n_t directly)
        dq = [da_r, da_z, da_n * r_t]            (the h-side: q_n enters through r_t * q_n)
        dh_(t-1) = dh_t * z_t + dq @ W_hh.T      (the direct path through z_t, then the gates)
    """

    gates = 3

    def _steps(self, projected, n, steps):
        h = self.hidden_size
        bias = self.bias_hh.value.rows[0]
        zeros = [[0.0] * h for _ in range(n)]
        hidden, saved = [], []
        for t in range(steps):
            block = projected[t * n:(t + 1) * n]
            recurrent = self._recurrent_product(hidden[-1]) if t else [bias] * n
            previous = hidden[-1] if t else zeros
            h_block, gate_block = [], []
            for p, q, h_prev in zip(block, recurrent, previous):
                r = _sigmoid_row(map(_add, p[:h], q[:h]))
                z = _sigmoid_row(map(_add, p[h:2 * h], q[h:2 * h]))
                q_n = q[2 * h:]
                candidate = [_tanh(pn + rv * qn) for pn, rv, qn in zip(p[2 * h:], r, q_n)]
                h_block.append([(1.0 - zv) * nv + zv * hv for zv, nv, hv in zip(z, candidate, h_prev)])
                gate_block.append((r, z, candidate, q_n))
            hidden.append(h_block)
            saved.append(gate_block)
        self.hidden, self.gate_values = hidden, saved
        return hidden

    def _backprop(self, dh_out, n, steps):
        weight_hh_t = self.weight_hh.value.T
        h = self.hidden_size
        zeros = [[0.0] * h for _ in range(n)]
        da_x, da_h = [None] * steps, [None] * steps
        carried = zeros
        for t in range(steps - 1, -1, -1):
            dh_block = dh_out[t] if dh_out[t] is not None else zeros
            previous = self.hidden[t - 1] if t else zeros
            x_block, h_block, direct = [], [], []
            for dh_o, dh_c, (r, z, candidate, q_n), h_prev in zip(dh_block, carried, self.gate_values[t], previous):
                dh = list(map(_add, dh_o, dh_c))
                da_n = [d * (1.0 - zv) * (1.0 - nv * nv) for d, zv, nv in zip(dh, z, candidate)]
                da_z = [d * (hv - nv) * zv * (1.0 - zv) for d, hv, nv, zv in zip(dh, h_prev, candidate, z)]
                da_r = [d * qn * rv * (1.0 - rv) for d, qn, rv in zip(da_n, q_n, r)]
                x_block.append(da_r + da_z + da_n)
                h_block.append(da_r + da_z + list(map(operator.mul, da_n, r)))
                direct.append(list(map(operator.mul, dh, z)))
            da_x[t], da_h[t] = x_block, h_block
            if t:
                back = self._back_product(h_block, weight_hh_t)
                carried = [list(map(_add, a, b)) for a, b in zip(direct, back)]
        return da_x, da_h
