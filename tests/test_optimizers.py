"""Tests for optimizers.py: the first steps of each optimizer against PyTorch's update rules, by hand.

Every test starts from one parameter p = [[1.0, -2.0]] and sets its gradient by
hand before each step:
    step 1: g = [0.5, -1.0]      step 2: g = [-0.25, 2.0]      step 3: g = [1.0, 0.5]
The expected values are literals worked out from the formulas in the comments
(to 40 digits, then rounded); `reference_*` below writes the same formulas out
again as plain scalar loops, an implementation independent of optimizers.py.
"""

import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from layers import Parameter  # noqa: E402
from matrix import Matrix  # noqa: E402
from optimizers import OPTIMIZERS, SGD, Adam, AdamW, RMSprop, get_optimizer  # noqa: E402

START = [1.0, -2.0]
GRADS = [[0.5, -1.0], [-0.25, 2.0], [1.0, 0.5]]


def run(make_optimizer, steps):
    """Take `steps` steps from START with the gradients GRADS; the value after each step."""
    param = Parameter(Matrix([START]), "weight")
    optimizer = make_optimizer([param])
    values = []
    for grad in GRADS[:steps]:
        optimizer.zero_grad()
        param.grad = Matrix([grad])
        optimizer.step()
        values.append(param.value.rows[0][:])
    return values


# ---------------------------------------------- the PyTorch formulas, written out per scalar
def reference_sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0, steps=3):
    p, buffer, out = START[:], [None, None], []
    for grad in GRADS[:steps]:
        for i in range(2):
            g = grad[i] + weight_decay * p[i]
            if momentum:
                buffer[i] = g if buffer[i] is None else momentum * buffer[i] + g
                g = g + momentum * buffer[i] if nesterov else buffer[i]
            p[i] = p[i] - lr * g
        out.append(p[:])
    return out


def reference_rmsprop(lr, alpha, eps, momentum=0.0, steps=3):
    p, v, buffer, out = START[:], [0.0, 0.0], [0.0, 0.0], []
    for grad in GRADS[:steps]:
        for i in range(2):
            g = grad[i]
            v[i] = alpha * v[i] + (1 - alpha) * g * g
            update = g / (math.sqrt(v[i]) + eps)
            if momentum:
                buffer[i] = momentum * buffer[i] + update
                update = buffer[i]
            p[i] = p[i] - lr * update
        out.append(p[:])
    return out


def reference_adam(lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False, steps=3):
    p, m, v, out = START[:], [0.0, 0.0], [0.0, 0.0], []
    for t, grad in enumerate(GRADS[:steps], start=1):
        for i in range(2):
            if decoupled:
                p[i] = p[i] * (1 - lr * weight_decay)
                g = grad[i]
            else:
                g = grad[i] + weight_decay * p[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1 ** t)
            v_hat = v[i] / (1 - beta2 ** t)
            p[i] = p[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(p[:])
    return out


class OptimizerTestCase(unittest.TestCase):
    def assert_steps(self, actual, expected, places=12):
        self.assertEqual(len(actual), len(expected))
        for step, (a_row, e_row) in enumerate(zip(actual, expected), start=1):
            for a, e in zip(a_row, e_row):
                self.assertAlmostEqual(a, e, places=places, msg=f"step {step}: mine {a_row} vs expected {e_row}")


class SGDTest(OptimizerTestCase):
    def test_plain_sgd(self):
        # p = p - lr * g with lr = 0.1
        #   1: [1 - 0.05, -2 + 0.1] = [0.95, -1.9]
        #   2: [0.95 + 0.025, -1.9 - 0.2] = [0.975, -2.1]
        #   3: [0.975 - 0.1, -2.1 - 0.05] = [0.875, -2.15]
        expected = [[0.95, -1.9], [0.975, -2.1], [0.875, -2.15]]
        self.assert_steps(run(lambda ps: SGD(ps, lr=0.1), 3), expected)
        self.assert_steps(reference_sgd(0.1), expected)

    def test_sgd_with_momentum(self):
        # b_1 = g_1, b_t = 0.9 b_(t-1) + g_t, p = p - 0.1 b_t
        #   1: b = [0.5, -1]                           p = [0.95, -1.9]
        #   2: b = [0.45 - 0.25, -0.9 + 2] = [0.2, 1.1]  p = [0.95 - 0.02, -1.9 - 0.11] = [0.93, -2.01]
        #   3: b = [0.18 + 1, 0.99 + 0.5] = [1.18, 1.49] p = [0.93 - 0.118, -2.01 - 0.149] = [0.812, -2.159]
        expected = [[0.95, -1.9], [0.93, -2.01], [0.812, -2.159]]
        self.assert_steps(run(lambda ps: SGD(ps, lr=0.1, momentum=0.9), 3), expected)
        self.assert_steps(reference_sgd(0.1, momentum=0.9), expected)

    def test_sgd_with_nesterov_momentum(self):
        # the buffer as above, but the step is g_t + 0.9 b_t
        #   1: step = [0.5 + 0.45, -1 - 0.9] = [0.95, -1.9]        p = [0.905, -1.81]
        #   2: step = [-0.25 + 0.18, 2 + 0.99] = [-0.07, 2.99]     p = [0.912, -2.109]
        expected = [[0.905, -1.81], [0.912, -2.109]]
        self.assert_steps(run(lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 2), expected)
        self.assert_steps(reference_sgd(0.1, momentum=0.9, nesterov=True, steps=2), expected)

    def test_sgd_with_weight_decay(self):
        # g = grad + 0.1 p, p = p - 0.1 g
        #   1: g = [0.5 + 0.1, -1 - 0.2] = [0.6, -1.2]              p = [0.94, -1.88]
        #   2: g = [-0.25 + 0.094, 2 - 0.188] = [-0.156, 1.812]     p = [0.9556, -2.0612]
        expected = [[0.94, -1.88], [0.9556, -2.0612]]
        self.assert_steps(run(lambda ps: SGD(ps, lr=0.1, weight_decay=0.1), 2), expected)
        self.assert_steps(reference_sgd(0.1, weight_decay=0.1, steps=2), expected)

    def test_sgd_decays_before_the_momentum_buffer(self):
        # as torch: b_2 = 0.9 * [0.6, -1.2] + [-0.156, 1.812] = [0.384, 0.732]; p = [0.94 - 0.0384, -1.88 - 0.0732]
        expected = [[0.94, -1.88], [0.9016, -1.9532]]
        self.assert_steps(run(lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1), 2), expected)
        self.assert_steps(reference_sgd(0.1, momentum=0.9, weight_decay=0.1, steps=2), expected)

    def test_nesterov_needs_momentum(self):
        with self.assertRaisesRegex(ValueError, "Nesterov momentum needs momentum > 0"):
            SGD([Parameter(Matrix([[1.0]]))], lr=0.1, nesterov=True)


class RMSpropTest(OptimizerTestCase):
    def test_rmsprop_without_momentum(self):
        # v = 0.99 v + 0.01 g^2, p = p - 0.01 g / (sqrt(v) + 1e-8)
        #   1: v = [0.0025, 0.01], sqrt(v) = [0.05, 0.1]
        #      p = [1 - 0.01 * 0.5 / 0.05000001, -2 + 0.01 * 1 / 0.10000001] = [0.90000002, -1.90000001]
        #   2: v = [0.002475 + 0.000625, 0.0099 + 0.04] = [0.0031, 0.0499]
        #      p = [p + 0.01 * 0.25 / 0.0556776..., p - 0.01 * 2 / 0.2233830...]
        expected = [[0.900000019999996, -1.900000009999999],
                    [0.9449013374421751, -1.9895323021991522],
                    [0.8574273783928594, -2.0114796538632556]]
        self.assert_steps(run(lambda ps: RMSprop(ps, lr=0.01), 3), expected)
        self.assert_steps(reference_rmsprop(0.01, 0.99, 1e-8), expected)

    def test_rmsprop_with_momentum(self):
        # b = 0.9 b + g / (sqrt(v) + eps), p = p - lr b: step 1 as without momentum,
        # step 2 moves by 0.9 * (step 1's move) more: 0.9449013... - 0.09 * 0.99999980 = 0.8549013...
        expected = [[0.900000019999996, -1.900000009999999],
                    [0.8549013554421715, -1.8995323111991513],
                    [0.7268385982908138, -1.9210587339424916]]
        self.assert_steps(run(lambda ps: RMSprop(ps, lr=0.01, momentum=0.9), 3), expected)
        self.assert_steps(reference_rmsprop(0.01, 0.99, 1e-8, momentum=0.9), expected)


class AdamTest(OptimizerTestCase):
    def test_adam_bias_correction_at_steps_one_and_two(self):
        # lr 0.1, betas (0.9, 0.999), eps 1e-8
        #   t = 1: m = 0.1 g = [0.05, -0.1], v = 0.001 g^2 = [0.00025, 0.001]
        #          m_hat = m / (1 - 0.9) = g, v_hat = v / (1 - 0.999) = g^2
        #          p = p - 0.1 * g / (|g| + 1e-8) = [0.9 + 2e-9, -1.9 - 1e-9]
        #   t = 2: m = [0.045 - 0.025, -0.09 + 0.2] = [0.02, 0.11]
        #          v = [0.00024975 + 0.0000625, 0.000999 + 0.004] = [0.00031225, 0.004999]
        #          m_hat = m / (1 - 0.9^2) = m / 0.19,  v_hat = v / (1 - 0.999^2) = v / 0.001999
        #          p = [0.9 - 0.1 * 0.1052632 / 0.3952254, -1.9 - 0.1 * 0.5789474 / 1.5813761]
        expected = [[0.900000002, -1.900000001],
                    [0.8733662987078462, -1.936610353472075],
                    [0.8075551396770896, -1.978175473146774]]
        self.assert_steps(run(lambda ps: Adam(ps, lr=0.1), 3), expected)
        self.assert_steps(reference_adam(0.1, 0.9, 0.999, 1e-8), expected)

    def test_adam_with_the_power_of_t_missing_would_differ(self):
        # the bug this guards against: dividing by (1 - beta) instead of (1 - beta^t) at t = 2
        m, v = [0.02, 0.11], [0.00031225, 0.004999]
        wrong = [0.9 - 0.1 * (m[0] / 0.1) / math.sqrt(v[0] / 0.001), -1.9 - 0.1 * (m[1] / 0.1) / math.sqrt(v[1] / 0.001)]
        actual = run(lambda ps: Adam(ps, lr=0.1), 2)[1]
        self.assertGreater(abs(actual[0] - wrong[0]), 1e-3)
        self.assertGreater(abs(actual[1] - wrong[1]), 1e-3)

    def test_adam_weight_decay_is_added_to_the_gradient(self):
        # L2: g = grad + 0.1 p, so g_1 = [0.6, -1.2]; Adam's first step only sees the sign: p = [0.9, -1.9]
        expected = [[0.9000000016666666, -1.9000000008333333],
                    [0.8544413674617622, -1.925017878464325],
                    [0.7815043998631656, -1.9531272706914882]]
        self.assert_steps(run(lambda ps: Adam(ps, lr=0.1, weight_decay=0.1), 3), expected)
        self.assert_steps(reference_adam(0.1, 0.9, 0.999, 1e-8, weight_decay=0.1), expected)

    def test_adamw_decays_the_weights_not_the_gradient(self):
        # decoupled: p = p * (1 - 0.1 * 0.1) = [0.99, -1.98] first, then Adam's step with the raw g:
        #   t = 1: p = [0.99 - 0.1, -1.98 + 0.1] = [0.89, -1.88] (plus eps terms)
        expected = [[0.890000002, -1.880000001],
                    [0.8544662986878462, -1.8978103534620752],
                    [0.7801104766702112, -1.9203973696021532]]
        self.assert_steps(run(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1), 3), expected)
        self.assert_steps(reference_adam(0.1, 0.9, 0.999, 1e-8, weight_decay=0.1, decoupled=True), expected)

    def test_adamw_and_adam_with_decay_differ_from_the_first_step(self):
        adam = run(lambda ps: Adam(ps, lr=0.1, weight_decay=0.1), 1)[0]
        adamw = run(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1), 1)[0]
        self.assertAlmostEqual(adam[0] - adamw[0], 0.01, places=8)  # lr * lambda * p = 0.1 * 0.1 * 1

    def test_adamw_default_decay_is_0_01(self):
        self.assertEqual(AdamW([Parameter(Matrix([[1.0]]))]).weight_decay, 0.01)
        self.assertEqual(Adam([Parameter(Matrix([[1.0]]))]).weight_decay, 0.0)


class CommonBehaviourTest(OptimizerTestCase):
    def test_each_parameter_keeps_its_own_state(self):
        # two parameters stepped together move exactly as each would alone
        first, second = Parameter(Matrix([START])), Parameter(Matrix([[3.0], [-1.0]]))
        optimizer = Adam([first, second], lr=0.1)
        alone = Parameter(Matrix([[3.0], [-1.0]]))
        alone_optimizer = Adam([alone], lr=0.1)
        for grad in GRADS:
            first.grad, second.grad = Matrix([grad]), Matrix([[grad[1]], [grad[0]]])
            alone.grad = Matrix([[grad[1]], [grad[0]]])
            optimizer.step()
            alone_optimizer.step()
        self.assertEqual(second.value.rows, alone.value.rows)
        self.assert_steps([first.value.rows[0]], [reference_adam(0.1, 0.9, 0.999, 1e-8)[-1]])

    def test_zero_grad_clears_every_gradient(self):
        params = [Parameter(Matrix([[1.0, 2.0]])), Parameter(Matrix([[3.0]]))]
        params[0].grad, params[1].grad = Matrix([[5.0, 5.0]]), Matrix([[7.0]])
        SGD(params, lr=0.1).zero_grad()
        self.assertEqual([p.grad.rows for p in params], [[[0.0, 0.0]], [[0.0]]])

    def test_step_leaves_the_gradient_alone(self):
        for name, cls in OPTIMIZERS.items():
            param = Parameter(Matrix([START]))
            param.grad = Matrix([GRADS[0]])
            cls([param], lr=0.1).step()
            self.assertEqual(param.grad.rows, [GRADS[0]], name)

    def test_step_counter_and_state_dict(self):
        param = Parameter(Matrix([START]))
        optimizer = Adam([param], lr=0.1)
        for grad in GRADS[:2]:
            param.grad = Matrix([grad])
            optimizer.step()
        state = optimizer.state_dict()
        self.assertEqual(state["name"], "adam")
        self.assertEqual(state["t"], 2)
        self.assertEqual(state["lr"], 0.1)
        m, v = state["state"][0]["exp_avg"][0], state["state"][0]["exp_avg_sq"][0]
        self.assert_steps([m, v], [[0.02, 0.11], [0.00031225, 0.004999]], places=15)

    def test_load_state_dict_resumes_exactly(self):
        for name in OPTIMIZERS:
            options = {"momentum": 0.9} if name in ("sgd", "rmsprop") else {}
            uninterrupted = run(lambda ps: get_optimizer(name, ps, lr=0.05, **options), 3)[-1]
            param = Parameter(Matrix([START]))
            optimizer = get_optimizer(name, [param], lr=0.05, **options)
            for grad in GRADS[:2]:
                param.grad = Matrix([grad])
                optimizer.step()
            resumed = get_optimizer(name, [param], lr=0.05, **options)
            resumed.load_state_dict(optimizer.state_dict())
            param.grad = Matrix([GRADS[2]])
            resumed.step()
            self.assertEqual(param.value.rows[0], uninterrupted, name)

    def test_load_state_dict_rejects_another_parameter_count(self):
        one = SGD([Parameter(Matrix([[1.0]]))], lr=0.1, momentum=0.5)
        two = SGD([Parameter(Matrix([[1.0]])), Parameter(Matrix([[1.0]]))], lr=0.1, momentum=0.5)
        with self.assertRaisesRegex(ValueError, "optimizer state has 1 parameters, the model has 2"):
            two.load_state_dict(one.state_dict())

    def test_bad_hyper_parameters_are_rejected(self):
        param = [Parameter(Matrix([[1.0]]))]
        cases = [
            (lambda: SGD(param, lr=0), r"learning rate lr must be a number > 0, got 0"),
            (lambda: SGD(param, lr=-0.1), "learning rate lr"),
            (lambda: SGD(param, lr=float("nan")), "learning rate lr"),
            (lambda: SGD(param, lr="0.1"), "learning rate lr"),
            (lambda: SGD(param, momentum=1.0), r"momentum must be a number in \[0, 1\), got 1.0"),
            (lambda: SGD(param, weight_decay=-1), "weight_decay"),
            (lambda: RMSprop(param, alpha=1.0), "alpha"),
            (lambda: RMSprop(param, eps=0), "eps"),
            (lambda: Adam(param, betas=(0.9,)), "betas must be a pair"),
            (lambda: Adam(param, betas=(0.9, 1.0)), "beta2"),
            (lambda: Adam([], lr=0.1), "Adam was given no parameters"),
        ]
        for make, pattern in cases:
            with self.subTest(pattern=pattern):
                with self.assertRaisesRegex(ValueError, pattern):
                    make()

    def test_registry_and_unknown_name(self):
        self.assertEqual(OPTIMIZERS, {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW})
        for name, cls in OPTIMIZERS.items():
            self.assertEqual(cls.name, name)
        with self.assertRaises(ValueError) as caught:
            get_optimizer("adagrad", [Parameter(Matrix([[1.0]]))])
        self.assertEqual(str(caught.exception), "unknown optimizer 'adagrad'; valid: adam, adamw, rmsprop, sgd")


if __name__ == "__main__":
    unittest.main()
