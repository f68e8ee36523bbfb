"""Write the small Fashion-MNIST slice committed in data/fashion-mnist/ from the full files.

    python demos/fashion_mnist_slice.py --source DIR      DIR holding the four official .gz files

The slice is the first 300 images of each class in the training file (3,000 images) and the first
100 of each class in the test file (1,000), in the files' own order, written as gzipped IDX files
named slice-<official name> (idx.write_idx: no time stamp in the gzip header, so the same source
always gives the same bytes). `demos/fashion_mnist.py --quick` and the tests read it.
"""

import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from idx import load_images, write_idx  # noqa: E402
from utils import InputError  # noqa: E402
from demos.fashion_mnist import DATA_DIR, FILES, SLICE_PREFIX  # noqa: E402

PER_CLASS = {"train": 300, "test": 100}


def first_of_each_class(labels, per_class, n_classes=10):
    """The indices of the first `per_class` images of every class, in file order."""
    counts, chosen = [0] * n_classes, []
    for index, label in enumerate(labels):
        if counts[label] < per_class:
            counts[label] += 1
            chosen.append(index)
    short = [c for c in range(n_classes) if counts[c] < per_class]
    if short:
        raise ValueError(f"class {short[0]} has only {counts[short[0]]} images, the slice takes {per_class}")
    return chosen


def write_slice(source, target=DATA_DIR):
    """Read the official files in `source`, write the slice's four files in `target`; returns their paths."""
    written = []
    for part, (images_name, labels_name) in FILES.items():
        data = load_images(os.path.join(source, images_name), os.path.join(source, labels_name))
        part_slice = data.subset(first_of_each_class(data.labels, PER_CLASS[part]))
        images_path = os.path.join(target, SLICE_PREFIX + images_name)
        labels_path = os.path.join(target, SLICE_PREFIX + labels_name)
        write_idx(images_path, (len(part_slice),) + part_slice.shape[1:], part_slice.pixels)
        write_idx(labels_path, (len(part_slice),), part_slice.labels)
        written += [images_path, labels_path]
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, metavar="DIR", help="the folder of the four official .gz files")
    parser.add_argument("--target", default=DATA_DIR, metavar="DIR", help="where the slice goes (data/fashion-mnist/)")
    args = parser.parse_args(argv)
    try:
        try:
            os.makedirs(args.target, exist_ok=True)
        except OSError as error:
            raise InputError(f"{args.target}: cannot make the folder ({error.strerror or error})") from None
        for path in write_slice(args.source, args.target):
            print(f"wrote {path} ({os.path.getsize(path):,} bytes)")
    except InputError as error:  # IDXError is one; any other exception is a bug and keeps its traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
