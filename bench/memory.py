"""Peak memory of training at real size: Fashion-MNIST's 60,000 images kept as bytes, beside the digits run.

    python bench/memory.py                   both rows (about a minute of CPU on CPython)
    python bench/memory.py --data DIR        the folder of the four Fashion-MNIST .gz files

Each workload runs in a fresh process, whose high-water mark of resident memory (VmHWM, or
ru_maxrss where there is no /proc) is its peak:
  * digits: one epoch of configs/digits.json's network (bench/digits_fit.py, as in
    bench/RESULTS.md), the figure the compact-data work must not raise (< 34 MB);
  * Fashion-MNIST: all 60,000 training and 10,000 test images read into idx.ByteImages, then
    Network.fit on the whole training set with the demo's MLP (784-256-128-100-10, batches of 64)
    for BATCHES batches, then evaluate and predict_classes on test images in batches of 256. The
    peak is the bytes plus one batch's floats, the same after 40 batches as after 10 epochs (each
    batch frees the last one's), so a short run measures the full run's peak. Target < 500 MB.
    The same pixels as lists of Python floats would take n * (8 * 784 + 56 + 24 * 784) bytes.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import harness  # noqa: E402

BATCHES = 40
EVALUATED = 2048  # test images evaluated in the child (8 batches of 256: the same peak as all 10,000)
TARGETS_MB = {"digits": 34.0, "fashion": 500.0}


class _EnoughBatches(Exception):
    pass


def fashion_child(folder):
    """Print, as JSON, the peak RSS of loading the full set, BATCHES training steps and evaluation."""
    from callbacks import Callback
    from demos.fashion_mnist import FILES, build_mlp
    from idx import load_images
    from losses import CrossEntropy
    from optimizers import Adam
    from utils import make_rng

    class StopAfter(Callback):
        def on_batch_end(self, run):
            if run.batch >= BATCHES:
                raise _EnoughBatches

    started = time.process_time()
    train = load_images(*(os.path.join(folder, name) for name in FILES["train"]))
    test = load_images(*(os.path.join(folder, name) for name in FILES["test"]))
    loaded = harness.max_rss_bytes()
    network = build_mlp(make_rng(0))
    loss = CrossEntropy()
    try:
        network.fit(train, train.targets, loss, Adam(network.parameters()), epochs=1, batch_size=64,
                    rng=make_rng(0), callbacks=[StopAfter()])
    except _EnoughBatches:
        pass
    part = test.subset(range(EVALUATED))
    scores = network.evaluate(part, part.targets, loss)
    network.predict_classes(part)
    print(json.dumps({"max_rss": harness.max_rss_bytes(), "after_loading": loaded, "n_train": len(train),
                      "n_test": len(test), "accuracy": scores["accuracy"], "cpu_seconds": time.process_time() - started}))


def child_result(arguments):
    output = subprocess.run([sys.executable] + arguments, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def find_fashion(data=None):
    """The folder with the four files of the full Fashion-MNIST: `data`, else data/fashion-mnist/ or
    Debian's folder; None when none has them."""
    from demos.fashion_mnist import DATA_DIR, DEBIAN_DIR, FILES
    names = [name for pair in FILES.values() for name in pair]
    folders = [data] if data else [DATA_DIR, DEBIAN_DIR]
    found = [folder for folder in folders if all(os.path.isfile(os.path.join(folder, n)) for n in names)]
    return found[0] if found else None


def fashion_peak(folder):
    """The Fashion-MNIST child's figures (max_rss, after_loading, n_train, ...), from a fresh process."""
    return child_result([os.path.abspath(__file__), "--fashion-child", folder])


def digits_child():
    """Run in a fresh process (bench/memory.py --digits-child): one digits epoch; print the peak of max RSS
    and of tracemalloc, as JSON."""
    from digits_fit import fit_digits, load_digits
    from matrix import Matrix
    X_rows, Y_rows = load_digits()
    X, Y = Matrix(X_rows), Matrix(Y_rows)
    fit_digits(X, Y)
    rss = harness.max_rss_bytes()  # before tracing, whose own bookkeeping takes memory
    peak = None
    tracemalloc = harness.tracemalloc  # None on PyPy
    if tracemalloc is not None:
        tracemalloc.start()
        X_rows, Y_rows = load_digits()
        X, Y = Matrix(X_rows), Matrix(Y_rows)
        fit_digits(X, Y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps({"max_rss": rss, "traced_peak": peak}))


def memory_rows(bench):
    """bench/run.py's rows: the digits epoch's peak memory, and Fashion-MNIST's when the full set is found."""
    output = subprocess.run([sys.executable, os.path.abspath(__file__), "--digits-child"],
                            capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    mb = 1024.0 * 1024.0
    rss = result["max_rss"]
    if rss is None:
        target = "max RSS unknown on this system"
    elif sys.implementation.name == "pypy":  # the target is CPython's; PyPy's JIT and GC start larger
        empty = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, {!r}); import harness; "
                                "print(harness.max_rss_bytes())".format(HERE)],
                               capture_output=True, text=True, check=True).stdout
        target = "no target on PyPy (an empty PyPy process: {:.1f} MB max RSS)".format(int(empty) / mb)
    else:
        target = bench.check("memory", rss / mb < TARGETS_MB["digits"],
                             "max RSS < {:.0f} MB".format(TARGETS_MB["digits"]))
    bench.add("peak memory, digits epoch (data loading included), fresh process",
              "no tracemalloc on this interpreter" if result["traced_peak"] is None
              else "{:.1f} MB traced peak (tracemalloc)".format(result["traced_peak"] / mb),
              "" if rss is None else "{:.1f} MB max RSS (whole process)".format(rss / mb), None, "", "", target)
    label = "peak memory, Fashion-MNIST: 70,000 images as bytes, {} batches of the MLP, evaluation".format(
        BATCHES)
    folder = find_fashion(bench.fashion_data)
    if folder is None:
        bench.add(label, "skipped: the full set is not found (--fashion-data DIR)")
        return
    result = fashion_peak(folder)
    if result["max_rss"] is not None:
        rss = result["max_rss"] / mb
        target = bench.check("Fashion-MNIST memory", rss < TARGETS_MB["fashion"],
                             "max RSS < {:.0f} MB".format(TARGETS_MB["fashion"]))
        bench.add(label, "{:.0f} MB after loading".format(result["after_loading"] / mb),
                  "{:.0f} MB max RSS (whole process)".format(rss), None, "", "", target)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", metavar="DIR", help="the folder of the four Fashion-MNIST .gz files")
    parser.add_argument("--fashion-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--digits-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.digits_child:
        digits_child()
        return 0
    if args.fashion_child:
        fashion_child(args.fashion_child)
        return 0
    from demos.fashion_mnist import DATA_DIR, DEBIAN_DIR
    mb = 1024.0 * 1024.0
    print(f"{sys.implementation.name} {sys.version.split()[0]}")
    digits = child_result([os.path.abspath(__file__), "--digits-child"])
    if digits["max_rss"] is not None:
        rss = digits["max_rss"] / mb
        print(f"digits epoch: peak RSS {rss:.1f} MB (target < {TARGETS_MB['digits']:.0f} MB: "
              f"{'yes' if rss < TARGETS_MB['digits'] else 'NO'})")
    folder = find_fashion(args.data)
    if folder is None:
        folders = [args.data] if args.data else [DATA_DIR, DEBIAN_DIR]
        print(f"Fashion-MNIST: skipped (the four files are not in {' or '.join(folders)}; pass --data DIR)")
        return 0
    result = fashion_peak(folder)
    if result["max_rss"] is None:
        print("Fashion-MNIST: peak RSS unknown on this system")
        return 0
    rss, loaded = result["max_rss"] / mb, result["after_loading"] / mb
    as_floats = (result["n_train"] + result["n_test"]) * (8 * 784 + 56 + 24 * 784) / mb
    print(f"Fashion-MNIST, {result['n_train']:,} + {result['n_test']:,} images as bytes: {loaded:.0f} MB after "
          f"loading; peak RSS {rss:.0f} MB after {BATCHES} batches of 64 of the MLP and evaluating "
          f"{EVALUATED:,} test images in batches of 256 (target < {TARGETS_MB['fashion']:.0f} MB: "
          f"{'yes' if rss < TARGETS_MB['fashion'] else 'NO'}); as lists of floats the pixels alone would take "
          f"{as_floats:,.0f} MB. {result['cpu_seconds']:.0f} s of CPU.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
