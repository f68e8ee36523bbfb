"""Tests for the scores a training run reports: precision, recall, F1, the confusion
matrix, RMSE, MAE and R^2 against numbers worked out by hand on tiny vectors, and
the lines pipeline.report_lines prints from them.
"""

import math
import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from app import pipeline  # noqa: E402
from activations import Softmax  # noqa: E402
from layers import Dense  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from datasets import Dataset  # noqa: E402
from metrics import confusion_matrix, precision_recall_f1, regression_scores  # noqa: E402

# Six rows, three classes. By hand, from the confusion matrix
#            predicted 0  1  2
#   true 0            1  1  0
#   true 1            0  2  0
#   true 2            1  0  1
# class 0: TP 1, predicted 2, actual 2 -> precision 1/2, recall 1/2, F1 1/2
# class 1: TP 2, predicted 3, actual 2 -> precision 2/3, recall 1,   F1 2*(2/3)/(5/3) = 4/5
# class 2: TP 1, predicted 1, actual 2 -> precision 1,   recall 1/2, F1 2*(1/2)/(3/2) = 2/3
ACTUAL = [0, 0, 1, 1, 2, 2]
PREDICTED = [0, 1, 1, 1, 2, 0]


class ClassificationMetricsTest(unittest.TestCase):
    def test_confusion_matrix_counts_true_rows_against_predicted_columns(self):
        self.assertEqual(confusion_matrix(ACTUAL, PREDICTED, 3), [[1, 1, 0], [0, 2, 0], [1, 0, 1]])

    def test_precision_recall_f1_match_hand_computed_values(self):
        expected = [(1 / 2, 1 / 2, 1 / 2, 2), (2 / 3, 1.0, 4 / 5, 2), (1.0, 1 / 2, 2 / 3, 2)]
        for c, (scores, (precision, recall, f1, support)) in enumerate(
                zip(precision_recall_f1(ACTUAL, PREDICTED, 3), expected)):
            with self.subTest(cls=c):
                self.assertAlmostEqual(scores["precision"], precision, places=12)
                self.assertAlmostEqual(scores["recall"], recall, places=12)
                self.assertAlmostEqual(scores["f1"], f1, places=12)
                self.assertEqual(scores["support"], support)

    def test_a_class_never_predicted_scores_zero_instead_of_dividing_by_zero(self):
        scores = precision_recall_f1([0, 1, 1], [0, 0, 0], 2)
        self.assertEqual((scores[1]["precision"], scores[1]["recall"], scores[1]["f1"]), (0.0, 0.0, 0.0))
        # class 0: TP 1 of 3 predicted, 1 of 1 actual -> F1 = 2 * (1/3) * 1 / (4/3) = 1/2
        self.assertAlmostEqual(scores[0]["f1"], 0.5, places=12)


class RegressionMetricsTest(unittest.TestCase):
    def test_rmse_mae_r2_match_hand_computed_values(self):
        # residuals 0, 0, 0, -1: SS_res = 1; mean 2.5, SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
        scores = regression_scores([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
        self.assertAlmostEqual(scores["rmse"], math.sqrt(1 / 4), places=12)
        self.assertAlmostEqual(scores["mae"], 1 / 4, places=12)
        self.assertAlmostEqual(scores["r2"], 1 - 1 / 5, places=12)

    def test_r2_is_negative_when_worse_than_predicting_the_mean(self):
        # predicting [3, 1] for [1, 3]: SS_res = 8, SS_tot = 2 -> R^2 = 1 - 4 = -3
        self.assertAlmostEqual(regression_scores([1.0, 3.0], [3.0, 1.0])["r2"], -3.0, places=12)

    def test_perfect_predictions_score_r2_one_and_zero_errors(self):
        scores = regression_scores([2.0, 5.0, 7.0], [2.0, 5.0, 7.0])
        self.assertEqual((scores["rmse"], scores["mae"], scores["r2"]), (0.0, 0.0, 1.0))


def fixed_classifier():
    """A 2 -> 3 softmax network with hand-set weights: the class is the argmax of (x0, x1, -x0 - x1)."""
    dense = Dense(2, 3, init="zeros")
    dense.weight.value = Matrix([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]])
    return Network([dense, Softmax()], metadata={"task": "classification"})


class EvaluateAndReportTest(unittest.TestCase):
    def test_evaluate_scores_a_network_with_known_answers(self):
        network = fixed_classifier()
        # rows chosen so the network predicts PREDICTED; their labels are ACTUAL
        points = {0: [1.0, 0.0], 1: [0.0, 1.0], 2: [-1.0, -1.0]}
        X = Matrix([points[p] for p in PREDICTED])
        part = Dataset(X, ["x0", "x1"], "y", "classification", labels=ACTUAL, class_names=["a", "b", "c"])
        scores = pipeline.evaluate(network, part, X)
        self.assertAlmostEqual(scores["accuracy"], 4 / 6, places=12)
        self.assertEqual(scores["confusion"], [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
        self.assertAlmostEqual(scores["per_class"][1]["f1"], 4 / 5, places=12)

    def test_classification_report_names_the_classes_and_ends_with_the_accuracy_line(self):
        scores = {"accuracy": 4 / 6, "per_class": precision_recall_f1(ACTUAL, PREDICTED, 3),
                  "confusion": confusion_matrix(ACTUAL, PREDICTED, 3), "class_names": ["setosa", "versicolor", "b"]}
        lines = pipeline.report_lines(scores)
        self.assertEqual(lines[-1], "test accuracy: 0.6667")
        self.assertEqual(lines[1].split(), ["setosa", "0.5000", "0.5000", "0.5000", "2"])
        self.assertEqual(lines[2].split(), ["versicolor", "0.6667", "1.0000", "0.8000", "2"])
        matrix_text = "\n".join(lines)
        self.assertIn("versicolor          0          2          0", matrix_text)
        self.assertEqual(pipeline.report_lines(scores, prefix="")[-1], "accuracy: 0.6667")

    def test_regression_report_gives_rmse_mae_and_r2_lines(self):
        scores = regression_scores([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
        self.assertEqual(pipeline.report_lines(scores), ["test rmse: 0.5", "test mae: 0.25", "test r2: 0.8000"])
        self.assertEqual(pipeline.report_lines(scores, prefix="")[-1], "r2: 0.8000")


if __name__ == "__main__":
    unittest.main()
