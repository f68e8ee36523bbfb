"""Before / after: one digits epoch of Network.fit in an older revision of the repo and in this one.

    python bench/compare_revisions.py OLD [NEW] [--rounds 7] [--epochs 3]

OLD (and NEW; by default this work tree) are git revisions: a commit hash, HEAD~3, a
branch. Their files are exported into temporary folders (git archive; the working tree
is not touched), and each tree runs
the same digits epoch in a fresh process, with the API it had (fit took verbose=False
before the callbacks; bench/run.py's network, data and Adam settings).
The two sides alternate, round after round, so a slow moment on a noisy machine hits
both; each process reports the median of its epochs, and the table gives the median of
the rounds and the ratio new / old (below 1.00: this tree is faster).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, random, statistics, sys, time
sys.path[:0] = [{tree!r}, {bench!r}]
import run
from matrix import Matrix
X_rows, Y_rows = run.load_digits()
X, Y = Matrix(X_rows), Matrix(Y_rows)

def epoch():  # bench/run.py's fit_digits, written out: older trees passed verbose=False, newer ones cannot
    rng = random.Random(0)
    network = run.digits_network(rng)
    optimizer = run.Adam(network.parameters(), lr=0.001)
    try:
        network.fit(X, Y, run.CrossEntropy(), optimizer, epochs=1, batch_size=32, rng=rng, verbose=False)
    except TypeError:
        network.fit(X, Y, run.CrossEntropy(), optimizer, epochs=1, batch_size=32, rng=rng)

epoch()  # warm-up
times = []
for _ in range({epochs}):
    started = time.perf_counter()
    epoch()
    times.append(time.perf_counter() - started)
print(json.dumps(statistics.median(times)))
"""


def export(revision, folder):
    """The files of `revision` in `folder`, through git archive (nothing in the work tree changes)."""
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", revision], capture_output=True)
    if archive.returncode != 0:
        sys.exit(f"error: git archive {revision}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)


def epoch_seconds(tree, epochs):
    code = CHILD.format(tree=tree, bench=os.path.join(tree, "bench"), epochs=epochs)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree)
    if result.returncode != 0:
        sys.exit(f"error: the digits epoch failed in {tree}:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="the older revision, e.g. a commit hash")
    parser.add_argument("new", nargs="?", help="the newer revision (default: this work tree as it is)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per process (default 3)")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="compare-revisions-")
    try:
        old_tree, new_tree = os.path.join(folder, "old"), os.path.join(folder, "new")
        os.mkdir(old_tree)
        export(args.revision, old_tree)
        if args.new:
            os.mkdir(new_tree)
            export(args.new, new_tree)
        else:
            new_tree = ROOT
        old, new = [], []
        for _ in range(args.rounds):
            old.append(epoch_seconds(old_tree, args.epochs))
            new.append(epoch_seconds(new_tree, args.epochs))
        before, after = statistics.median(old), statistics.median(new)
        print(f"Python {sys.version.split()[0]}, {args.rounds} alternating rounds of {args.epochs} epochs each")
        print("| digits epoch (1,437 rows, 64-64-10, Adam, batch 32) | seconds |")
        print("|---|---|")
        print(f"| before: {args.revision} | {before:.3f} |")
        print(f"| after: {args.new or 'this tree'} | {after:.3f} |")
        print(f"| after / before | {after / before:.3f} |")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
