"""Train each data set's config on five seeded splits and print one table of test scores.

    python demos/benchmark_datasets.py                     every config, seeds 0-4 (the digits CNN takes
                                                           most of the time: minutes per split)
    python demos/benchmark_datasets.py --only iris digits  some of them
    python demos/benchmark_datasets.py --seeds 0 1         other seeds

The protocol, the same for every data set: for each seed s, pipeline.train(config,
seed=s) splits the rows 80/20 (stratified by class for classification), fits the
normalization on the training rows, initializes the weights and shuffles the
batches, all from that one seed, trains for the config's epochs and scores the
test rows. The table gives the mean and the worst test score over the seeds
(accuracy for classification, R^2 for regression) and the seconds per split.

The targets are the scores of scikit-learn's MLPClassifier / MLPRegressor (one
hidden layer, standardized inputs) on the same protocol, rounded up, and for
diabetes the R^2 of plain linear regression. As a reference on exactly our rows,
the table adds ordinary least squares on the diabetes splits (closed form,
solved below by Gaussian elimination).

The exit status is 0 when every target is met, 1 otherwise.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import argparse  # noqa: E402  (after the path set-up, like every import of the framework)
import math  # noqa: E402
import time  # noqa: E402

from app import pipeline  # noqa: E402
from app.config import load_config  # noqa: E402
from metrics import regression_scores  # noqa: E402
from utils import InputError, make_rng  # noqa: E402

# data set -> (config file, the metric, the mean test score to reach)
BENCHMARKS = {
    "iris": ("configs/iris.json", "accuracy", 0.95),
    "digits": ("configs/digits.json", "accuracy", 0.975),
    "digits_cnn": ("configs/digits_cnn.json", "accuracy", 0.985),  # the 64 columns as a 1x8x8 image
    "breast_cancer": ("configs/breast_cancer.json", "accuracy", 0.97),
    "diabetes": ("configs/diabetes.json", "r2", 0.42),
}
MAX_SECONDS_PER_SPLIT = {"digits": 60.0}


def run_benchmark(name, seeds, log=sys.stderr):
    """Train the data set's config once per seed; returns (scores, seconds per split)."""
    config_file, metric, _ = BENCHMARKS[name]
    config_path = os.path.join(ROOT, config_file)
    config = load_config(config_path)
    scores, seconds = [], []
    for seed in seeds:
        started = time.perf_counter()
        _, _, result = pipeline.train(config, config_path=config_path, verbose=False, seed=seed)
        seconds.append(time.perf_counter() - started)
        scores.append(result[metric])
        print(f"{name} seed {seed}: test {metric} {result[metric]:.4f} ({seconds[-1]:.1f} s)", file=log, flush=True)
    return scores, seconds


# ------------------------------------------------------ the linear reference
def solve(A, b):
    """x with A x = b, by Gaussian elimination with partial pivoting (A square, lists of lists)."""
    n = len(A)
    rows = [list(map(float, A[i])) + [float(b[i])] for i in range(n)]
    for col in range(n):
        # the largest pivot keeps the rounding errors small
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-12:
            raise ValueError("the system is singular")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, n):
            factor = rows[r][col] / rows[col][col]
            rows[r] = [x - factor * y for x, y in zip(rows[r], rows[col])]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (rows[i][n] - sum(rows[i][j] * x[j] for j in range(i + 1, n))) / rows[i][i]
    return x


def least_squares_r2(config_path, seed):
    """Test R^2 of ordinary least squares, y = X w + c, on the split pipeline.train makes for `seed`."""
    config = load_config(config_path)
    data = pipeline.prepare_data(config, make_rng(seed), config_path)
    X = [row + [1.0] for row in data.inputs(data.train).rows]  # the 1 gives the intercept
    y = [row[0] for row in data.train.values.rows]
    columns = list(zip(*X))
    # normal equations: (X^T X) w = X^T y
    gram = [[math.fsum(a * b for a, b in zip(ci, cj)) for cj in columns] for ci in columns]
    weights = solve(gram, [math.fsum(a * t for a, t in zip(ci, y)) for ci in columns])
    test = [row + [1.0] for row in data.inputs(data.test).rows]
    predicted = [sum(w * x for w, x in zip(weights, row)) for row in test]
    return regression_scores([row[0] for row in data.test.values.rows], predicted)["r2"]


# ------------------------------------------------------------------ the table
def format_table(rows):
    """rows: dicts with the keys of COLUMNS; returns the table as lines of text."""
    columns = [("data set", "name", "<"), ("config", "config", "<"), ("metric", "metric", "<"),
               ("mean", "mean", ">"), ("min", "min", ">"), ("s/split", "seconds", ">"),
               ("target", "target", ">"), ("met", "met", "<")]
    cells = [[row.get(key, "") for _, key, _ in columns] for row in rows]
    widths = [max([len(title)] + [len(line[i]) for line in cells]) for i, (title, _, _) in enumerate(columns)]
    lines = ["  ".join(f"{title:{align}{w}}" for (title, _, align), w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for line in cells:
        lines.append("  ".join(f"{text:{align}{w}}" for text, (_, _, align), w in zip(line, columns, widths)).rstrip())
    return lines


def main(argv=None):
    try:
        return run(argv)
    except InputError as error:  # a damaged config or data file: one line; anything else is a bug
        print("error: " + str(error).replace("\n", " "), file=sys.stderr)
        return 2


def run(argv=None):
    parser = argparse.ArgumentParser(description="Mean and worst test score of each data set's config "
                                                 "over seeded 80/20 splits.")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS),
                        metavar="NAME", help="data sets to run: " + ", ".join(BENCHMARKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="the split seeds (default: 0 1 2 3 4)")
    args = parser.parse_args(argv)
    rows, all_met = [], True
    for name in args.only:
        config_file, metric, target = BENCHMARKS[name]
        scores, seconds = run_benchmark(name, args.seeds)
        mean, per_split = sum(scores) / len(scores), sum(seconds) / len(seconds)
        met = mean >= target and per_split < MAX_SECONDS_PER_SPLIT.get(name, math.inf)
        all_met = all_met and met
        rows.append({"name": name, "config": config_file, "metric": metric, "mean": f"{mean:.4f}",
                     "min": f"{min(scores):.4f}", "seconds": f"{per_split:.1f}",
                     "target": f">= {target}" + (f", < {MAX_SECONDS_PER_SPLIT[name]:.0f} s"
                                                  if name in MAX_SECONDS_PER_SPLIT else ""),
                     "met": "yes" if met else "NO"})
        if name == "diabetes":
            started = time.perf_counter()
            reference = [least_squares_r2(os.path.join(ROOT, config_file), seed) for seed in args.seeds]
            rows.append({"name": "  reference", "config": "least squares, same splits", "metric": "r2",
                         "mean": f"{sum(reference) / len(reference):.4f}", "min": f"{min(reference):.4f}",
                         "seconds": f"{(time.perf_counter() - started) / len(args.seeds):.1f}"})
    print(f"test scores over {len(args.seeds)} seeded 80/20 splits (seeds {' '.join(map(str, args.seeds))})")
    print("\n".join(format_table(rows)))
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
