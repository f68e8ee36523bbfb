"""Tests for losses.SequenceCrossEntropy: a value by hand, finite differences with ignored
positions, and (when it is installed) torch's cross_entropy with ignore_index."""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from losses import SequenceCrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from tests.gradcheck import check_loss, random_matrix  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


class SequenceCrossEntropyTest(unittest.TestCase):
    logits = Matrix([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 5.0, 0.0, 0.0]])
    targets = [[2, -1], [0, 1]]  # V = 3 classes, T = 2 positions; row 0 ends after one position

    def test_value_by_hand(self):
        # three scored positions: log(e + e^2 + e^3) - 3,  log(3 e) - 1 = log 3,  log(e^5 + 2) - 0
        expected = (math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3 + math.log(3)
                    + math.log(math.exp(5) + 2)) / 3
        loss = SequenceCrossEntropy()
        self.assertAlmostEqual(loss.forward(self.logits, self.targets), expected, delta=1e-15)
        self.assertEqual(loss.count, 3)
        self.assertAlmostEqual(loss.total, 3 * expected, delta=1e-14)

    def test_gradient_by_hand_is_zero_at_ignored_positions(self):
        loss = SequenceCrossEntropy()
        loss.forward(self.logits, Matrix(self.targets))
        grad = loss.backward().rows
        self.assertEqual(grad[0][3:], [0.0, 0.0, 0.0])
        # row 1, position 0: (softmax([1, 1, 1]) - onehot(0)) / 3 = [(1/3 - 1) / 3, 1/9, 1/9]
        for mine, expected in zip(grad[1][:3], [-2 / 9, 1 / 9, 1 / 9]):
            self.assertAlmostEqual(mine, expected, delta=1e-15)

    def test_gradient_matches_finite_differences(self):
        rng = random.Random(9)
        for n, steps, classes in ((1, 1, 2), (2, 3, 4), (3, 5, 3)):
            targets = [[rng.randrange(classes) for _ in range(steps)] for _ in range(n)]
            targets[0][-1] = -1 if steps > 1 else targets[0][-1]  # one ignored position
            logits = random_matrix(rng, n, steps * classes, -3.0, 3.0)
            self.assertLess(check_loss(SequenceCrossEntropy(), logits, targets, what=f"T={steps}"), 1e-6)

    def test_other_ignore_index_and_large_logits(self):
        loss = SequenceCrossEntropy(ignore_index=7)
        value = loss.forward(Matrix([[1000.0, -1000.0, 0.0, 0.0]]), [[0, 7]])
        self.assertEqual(value, 0.0)

    def test_bad_targets_name_their_position(self):
        loss = SequenceCrossEntropy()
        with self.assertRaises(ValueError) as caught:
            loss.forward(self.logits, [[2, 3], [0, 1]])
        self.assertEqual(str(caught.exception), "SequenceCrossEntropy: target 3 at row 0, position 1 is not a class "
                                                "id from 0 to 2 or the ignore_index -1")
        with self.assertRaises(ValueError):
            loss.forward(self.logits, [[-1, -1], [-1, -1]])  # nothing to score
        with self.assertRaises(ValueError):
            loss.forward(self.logits, [[0, 1, 2], [0, 1, 2]])  # 6 logits do not split into 3 positions of 3
        with self.assertRaises(ValueError):
            SequenceCrossEntropy().backward()

    @unittest.skipIf(torch is None, "torch is not installed")
    def test_equal_to_torch_cross_entropy_with_ignore_index(self):
        rng = random.Random(3)
        n, steps, classes = 4, 5, 6
        logits = random_matrix(rng, n, steps * classes, -4.0, 4.0)
        targets = [[rng.randrange(classes) for _ in range(steps)] for _ in range(n)]
        for i in range(n):  # padded like names of lengths 5, 4, 3, 2
            for t in range(steps - i, steps):
                targets[i][t] = -1
        logits_torch = torch.tensor(logits.rows, dtype=torch.float64, requires_grad=True)
        expected = torch.nn.functional.cross_entropy(logits_torch.reshape(-1, classes),
                                                     torch.tensor(targets).reshape(-1), ignore_index=-1)
        expected.backward()
        loss = SequenceCrossEntropy()
        self.assertLess(abs(loss.forward(logits, targets) - expected.item()), 1e-12)
        difference = (torch.tensor(loss.backward().rows, dtype=torch.float64) - logits_torch.grad).abs().max()
        self.assertLess(difference.item(), 1e-12)


if __name__ == "__main__":
    unittest.main()
