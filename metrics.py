"""Metrics: accuracy, the confusion matrix, precision / recall / F1, and regression scores.

Plain lists in, numbers out: nothing here knows about layers or networks.
"""

import math

from utils import finite_sum


# ------------------------------------------------------------------ metrics
def accuracy(predicted, actual):
    """Share of positions where predicted[i] == actual[i]."""
    if len(predicted) != len(actual) or not actual:
        raise ValueError(f"accuracy needs two equal non-empty lists, got {len(predicted)} and {len(actual)}")
    return sum(p == a for p, a in zip(predicted, actual)) / len(actual)


def confusion_matrix(actual, predicted, n_classes):
    """counts[i][j] = number of rows of true class i predicted as class j."""
    counts = [[0] * n_classes for _ in range(n_classes)]
    for a, p in zip(actual, predicted):
        counts[a][p] += 1
    return counts


def precision_recall_f1(actual, predicted, n_classes):
    """Per class c: precision = TP / (TP + FP), recall = TP / (TP + FN),
    F1 = 2 * precision * recall / (precision + recall); 0 where a denominator is 0."""
    counts = confusion_matrix(actual, predicted, n_classes)
    scores = []
    for c in range(n_classes):
        true_pos = counts[c][c]
        predicted_c = sum(counts[r][c] for r in range(n_classes))
        actual_c = sum(counts[c])
        precision = true_pos / predicted_c if predicted_c else 0.0
        recall = true_pos / actual_c if actual_c else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append({"precision": precision, "recall": recall, "f1": f1, "support": actual_c})
    return scores


def regression_scores(actual, predicted):
    """RMSE = sqrt(mean (y - p)^2), MAE = mean |y - p|, R^2 = 1 - SS_res / SS_tot (flat lists)."""
    n = len(actual)
    if n != len(predicted) or n == 0:
        raise ValueError(f"regression scores need two equal non-empty lists, got {n} and {len(predicted)}")
    # d * d and finite_sum rather than ** and math.fsum: predictions of a diverged model give
    # inf and nan scores (which the caller refuses to save) rather than an OverflowError
    residual = finite_sum((a - p) * (a - p) for a, p in zip(actual, predicted))
    mean = finite_sum(actual) / n
    total = finite_sum((a - mean) * (a - mean) for a in actual)
    return {
        "rmse": math.sqrt(residual / n),
        "mae": finite_sum(abs(a - p) for a, p in zip(actual, predicted)) / n,
        "r2": 1.0 - residual / total if total > 0 else 0.0,
    }


def format_confusion_matrix(counts, class_names):
    """The confusion matrix as aligned text, rows = true class, columns = predicted."""
    width = max(6, max(len(n) for n in class_names), max(len(str(v)) for row in counts for v in row))
    lines = [" " * width + "  predicted ->", " " * width + " " + " ".join(f"{n:>{width}}" for n in class_names)]
    for name, row in zip(class_names, counts):
        lines.append(f"{name:>{width}} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)
