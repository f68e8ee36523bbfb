"""Tests for losses.py: PyTorch's definitions on small examples by hand, gradients by finite
differences, and stability at logits of +-1000."""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from losses import LOSSES, MSE, BinaryCrossEntropy, CrossEntropy, get_loss  # noqa: E402
from matrix import Matrix  # noqa: E402
from tests.gradcheck import check_loss, random_matrix, trial_shapes  # noqa: E402

# log(e^1 + e^2 + e^3), the log-sum-exp of the logits [1, 2, 3]
LSE_123 = math.log(math.exp(1) + math.exp(2) + math.exp(3))


class MSETest(unittest.TestCase):
    pred = Matrix([[1.0, 2.0], [3.0, 4.0]])
    target = Matrix([[0.0, 2.0], [5.0, 4.0]])

    def test_mean_over_every_entry(self):
        # differences 1, 0, -2, 0; squares 1, 0, 4, 0; mean over N = 4 entries
        self.assertEqual(MSE().forward(self.pred, self.target), 1.25)

    def test_gradient_by_hand(self):
        loss = MSE()
        loss.forward(self.pred, self.target)
        # 2 (p - t) / N = 2 * [[1, 0], [-2, 0]] / 4
        self.assertEqual(loss.backward().rows, [[0.5, 0.0], [-1.0, 0.0]])

    def test_calling_the_loss_is_forward(self):
        self.assertEqual(MSE()(self.pred, self.target), 1.25)

    def test_shape_mismatch_names_both_shapes(self):
        with self.assertRaisesRegex(ValueError, r"MSE: predictions have shape \(2, 2\) but targets have shape \(2, 1\)"):
            MSE().forward(self.pred, Matrix([[1.0], [2.0]]))


class CrossEntropyTest(unittest.TestCase):
    def test_one_row_class_index_as_pytorch(self):
        # torch.nn.functional.cross_entropy(tensor([[1., 2., 3.]]), tensor([2])) = log(e + e^2 + e^3) - 3
        self.assertAlmostEqual(LSE_123 - 3.0, 0.40760596444438, places=14)
        self.assertAlmostEqual(CrossEntropy().forward(Matrix([[1.0, 2.0, 3.0]]), [2]), 0.40760596444438, places=14)

    def test_mean_over_rows(self):
        # row 1: lse - 3 = 0.40760596444438; row 2 (class 0): lse - 1 = 2.40760596444438; mean 1.40760596444438
        logits = Matrix([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
        self.assertAlmostEqual(CrossEntropy().forward(logits, [2, 0]), 1.40760596444438, places=14)

    def test_one_hot_rows_equal_class_indices(self):
        logits = Matrix([[0.5, -1.0, 2.0], [3.0, 0.0, -2.0]])
        by_index = CrossEntropy().forward(logits, [1, 0])
        by_one_hot = CrossEntropy().forward(logits, Matrix([[0, 1, 0], [1, 0, 0]]))
        self.assertEqual(by_index, by_one_hot)

    def test_soft_probability_targets_as_pytorch(self):
        # -sum_j t_j log softmax(z)_j = sum_j t_j (lse - z_j) = lse - (0.25*1 + 0.25*2 + 0.5*3) = lse - 2.25
        loss = CrossEntropy().forward(Matrix([[1.0, 2.0, 3.0]]), Matrix([[0.25, 0.25, 0.5]]))
        self.assertAlmostEqual(loss, LSE_123 - 2.25, places=14)
        self.assertAlmostEqual(loss, 1.15760596444438, places=14)

    def test_equals_negative_log_of_the_softmax_probability(self):
        # the unfused way: softmax first, then -log of the target's probability, averaged
        logits = Matrix([[0.2, -1.3, 0.7, 2.0], [1.5, 1.5, -0.5, 0.0]])
        targets = [3, 1]
        exps = [[math.exp(v) for v in row] for row in logits.rows]
        expected = -sum(math.log(e[t] / sum(e)) for e, t in zip(exps, targets)) / 2
        self.assertAlmostEqual(CrossEntropy().forward(logits, targets), expected, places=14)

    def test_gradient_is_softmax_minus_target_over_n(self):
        loss = CrossEntropy()
        loss.forward(Matrix([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), [2, 0])
        total = math.exp(1) + math.exp(2) + math.exp(3)
        softmax = [math.exp(1) / total, math.exp(2) / total, math.exp(3) / total]
        expected = [[softmax[0] / 2, softmax[1] / 2, (softmax[2] - 1) / 2],
                    [(1 / 3 - 1) / 2, 1 / 6, 1 / 6]]
        self.assertTrue(loss.backward().allclose(expected, rtol=1e-14, atol=1e-16))

    def test_class_index_out_of_range(self):
        with self.assertRaisesRegex(ValueError, "class index 3 out of range for 3 classes"):
            CrossEntropy().forward(Matrix([[1.0, 2.0, 3.0]]), [3])
        with self.assertRaisesRegex(ValueError, "class index -1 out of range"):
            CrossEntropy().forward(Matrix([[1.0, 2.0, 3.0]]), [-1])

    def test_wrong_number_of_class_indices(self):
        with self.assertRaisesRegex(ValueError, "2 predictions but 1 class indices"):
            CrossEntropy().forward(Matrix([[1.0, 2.0], [3.0, 4.0]]), [0])

    def test_targets_of_another_kind_are_rejected(self):
        for targets in ([[0.0, 1.0]], [True], [0.0], "0", []):
            with self.subTest(targets=targets):
                with self.assertRaisesRegex(ValueError, "targets must be a Matrix of shape"):
                    CrossEntropy().forward(Matrix([[1.0, 2.0]]), targets)


class BinaryCrossEntropyTest(unittest.TestCase):
    def test_values_as_pytorch(self):
        # binary_cross_entropy_with_logits, mean over N = 2 entries:
        #   z = 0, t = 1: -log sigma(0) = log 2 = 0.6931471805599453
        #   z = 2, t = 0: -log(1 - sigma(2)) = log(1 + e^2) = 2.1269280110429727
        self.assertAlmostEqual(math.log1p(math.exp(2)), 2.1269280110429727, places=15)
        loss = BinaryCrossEntropy().forward(Matrix([[0.0], [2.0]]), Matrix([[1.0], [0.0]]))
        self.assertAlmostEqual(loss, (0.6931471805599453 + 2.1269280110429727) / 2, places=15)

    def test_equals_the_unfused_formula_for_moderate_logits(self):
        logits = Matrix([[0.3, -1.2], [2.5, -0.1], [0.0, 4.0]])
        target = Matrix([[1.0, 0.0], [0.3, 1.0], [0.5, 0.0]])
        expected = 0.0
        for zrow, trow in zip(logits.rows, target.rows):
            for z, t in zip(zrow, trow):
                s = 1.0 / (1.0 + math.exp(-z))
                expected -= t * math.log(s) + (1.0 - t) * math.log(1.0 - s)
        self.assertAlmostEqual(BinaryCrossEntropy().forward(logits, target), expected / 6, places=14)

    def test_gradient_is_sigmoid_minus_target_over_n(self):
        loss = BinaryCrossEntropy()
        loss.forward(Matrix([[0.0, 2.0]]), Matrix([[1.0, 0.0]]))
        # (sigma(z) - t) / N with N = 2
        expected = [[(0.5 - 1.0) / 2, (1.0 / (1.0 + math.exp(-2.0))) / 2]]
        self.assertTrue(loss.backward().allclose(expected, rtol=1e-15))


class StabilityTest(unittest.TestCase):
    def test_cross_entropy_is_finite_at_plus_and_minus_1000(self):
        logits = Matrix([[1000.0, -1000.0], [1000.0, -1000.0]])
        loss = CrossEntropy()
        # row 1 is certain and right (0), row 2 certain and wrong (2000); mean 1000
        self.assertEqual(loss.forward(logits, [0, 1]), 1000.0)
        self.assertEqual(loss.backward().rows, [[0.0, 0.0], [0.5, -0.5]])

    def test_cross_entropy_of_equal_huge_logits(self):
        # (1000 + log 2) - 1000 keeps the log 2 only to about 1000 ulp
        self.assertAlmostEqual(CrossEntropy().forward(Matrix([[1000.0, 1000.0]]), [1]), math.log(2), delta=1e-12)

    def test_binary_cross_entropy_is_finite_at_plus_and_minus_1000(self):
        loss = BinaryCrossEntropy()
        logits = Matrix([[1000.0, -1000.0, 1000.0, -1000.0]])
        target = Matrix([[1.0, 0.0, 0.0, 1.0]])
        # right and certain: 0, 0; wrong and certain: 1000, 1000; mean 500
        self.assertEqual(loss.forward(logits, target), 500.0)
        self.assertEqual(loss.backward().rows, [[0.0, 0.0, 0.25, -0.25]])


class GradientTest(unittest.TestCase):
    """backward() against central differences of forward(), random shapes, several trials.

    The step h is where the check is most accurate, measured over 200 random
    trials: 3e-5 for the cross-entropies (worst relative error 1.5e-7; at
    h = 1e-6 rounding noise, of order eps / h, reaches 4e-6 on the smallest
    gradients); 1e-4 for MSE, a quadratic, on which central differences have
    no truncation error at all.
    """

    H = 3e-5

    def test_mse_gradient(self):
        rng = random.Random(21)
        for shape in trial_shapes(21):
            check_loss(MSE(), random_matrix(rng, *shape), random_matrix(rng, *shape), 1e-4, "MSE")

    def test_cross_entropy_gradient_with_one_hot_targets(self):
        rng = random.Random(22)
        for n, c in trial_shapes(22):
            c += 1  # at least two classes
            classes = [rng.randrange(c) for _ in range(n)]
            target = Matrix([[1.0 if j == k else 0.0 for j in range(c)] for k in classes])
            check_loss(CrossEntropy(), random_matrix(rng, n, c, -4.0, 4.0), target, self.H, "CrossEntropy one-hot")

    def test_cross_entropy_gradient_with_class_indices(self):
        rng = random.Random(23)
        for n, c in trial_shapes(23):
            c += 1
            indices = [rng.randrange(c) for _ in range(n)]
            check_loss(CrossEntropy(), random_matrix(rng, n, c, -4.0, 4.0), indices, self.H, "CrossEntropy indices")

    def test_cross_entropy_gradient_with_soft_probability_targets(self):
        rng = random.Random(24)
        for n, c in trial_shapes(24):
            c += 1
            weights = [[rng.random() for _ in range(c)] for _ in range(n)]
            target = Matrix([[w / sum(row) for w in row] for row in weights])
            check_loss(CrossEntropy(), random_matrix(rng, n, c, -4.0, 4.0), target, self.H, "CrossEntropy soft")

    def test_cross_entropy_gradient_with_targets_that_do_not_sum_to_one(self):
        # dL/dz = (softmax(z) * sum_j t_j - t) / n: the row's target mass scales the softmax term
        rng = random.Random(26)
        for n, c in trial_shapes(26):
            c += 1
            target = random_matrix(rng, n, c, 0.0, 1.0)
            check_loss(CrossEntropy(), random_matrix(rng, n, c, -4.0, 4.0), target, self.H, "CrossEntropy mass")

    def test_binary_cross_entropy_gradient(self):
        rng = random.Random(25)
        for shape in trial_shapes(25):
            target = random_matrix(rng, *shape, 0.0, 1.0)
            target.rows[0][0] = 1.0  # a hard label among the soft ones
            check_loss(BinaryCrossEntropy(), random_matrix(rng, *shape, -4.0, 4.0), target, self.H, "BCE")


class RegistryTest(unittest.TestCase):
    def test_names_build_their_classes(self):
        self.assertEqual(LOSSES, {"mse": MSE, "cross_entropy": CrossEntropy,
                                  "binary_cross_entropy": BinaryCrossEntropy})
        for name, cls in LOSSES.items():
            self.assertIsInstance(get_loss(name), cls)
            self.assertEqual(cls.name, name)

    def test_classification_losses_fuse_their_output_activation(self):
        self.assertEqual(CrossEntropy.fuses_with, "softmax")
        self.assertEqual(BinaryCrossEntropy.fuses_with, "sigmoid")
        self.assertIsNone(MSE.fuses_with)

    def test_unknown_name_lists_the_valid_ones(self):
        with self.assertRaises(ValueError) as caught:
            get_loss("hinge")
        self.assertEqual(str(caught.exception), "unknown loss 'hinge'; valid: binary_cross_entropy, cross_entropy, mse")


if __name__ == "__main__":
    unittest.main()
