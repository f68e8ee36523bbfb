"""Utilities: CSV data, splitting, normalization, metrics, files, seeding, and the Hilbert curve.

Depends on matrix.py only: nothing here knows about layers or networks.
"""

import codecs
import csv
import io
import json
import math
import os
import random
import stat
import sys
from functools import lru_cache

from matrix import Matrix


class DataError(ValueError):
    """A problem with a data file or its contents; the message names the file and line."""


# ------------------------------------------------------------------ seeding
def make_rng(seed):
    """A private random.Random(seed): one seed fixes a run without touching the global generator."""
    return random.Random(seed)


# -------------------------------------------------------------------- files
def read_json(path, kind, error=ValueError):
    """Parse the JSON file at `path`; every way it can fail becomes `error`, naming the file.

    `kind` says what the file should be ("model", "checkpoint") in the messages.
    Only data is read: JSON has no way to make Python run anything.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise error(f"{path}: {kind} file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a {kind} file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{path}: not a valid {kind} file (damaged or truncated JSON: {problem})") from None
    except RecursionError:  # json recurses once per [ or {, and a damaged file can nest deeper than Python goes
        raise error(f"{path}: not a valid {kind} file (lists nested too deeply)") from None


def write_atomic(path, text):
    """Write `text` to `path` so that a crash leaves either the old file or the new one.

    The text goes to a temporary file in the same folder, is flushed to disk, and
    is then renamed over `path`; a rename within one file system is atomic. The
    new file keeps the permissions of the one it replaces (a new path gets the
    usual ones, 0666 less the umask).
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, temp_path = _new_temporary_file(folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(temp_path, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass  # nothing to replace: the temporary file was created with the usual permissions
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except OSError:
            pass
        raise
    _sync_folder(folder)


def _new_temporary_file(folder):
    """(file descriptor, path) of a new, empty file `.tmp-<random>.part` in `folder`.

    os.open with mode 0o666 lets the umask apply as for any new file;
    tempfile.mkstemp would make it readable by its owner only, and the saved
    model with it. O_EXCL: never open a file that exists already.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp_path = os.path.join(folder, f".tmp-{os.urandom(6).hex()}.part")
        try:
            return os.open(temp_path, flags, 0o666), temp_path
        except FileExistsError:
            continue  # 48 random bits: practically never


def _sync_folder(folder):
    """Flush the folder's entry for the renamed file to disk, so that a power cut cannot undo
    the rename. Where folders cannot be opened (Windows), the rename is left to the system."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def check_writable(path):
    """Raise OSError now, before any work, if `path` could not be written later."""
    if "\0" in path:
        raise OSError(f"{path!r}: a file name cannot hold a NUL character")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise OSError(f"{path}: is a directory, expected a file path")
    name_max = _longest_name(folder)
    try:
        name_length = len(os.fsencode(os.path.basename(path)))
    except UnicodeEncodeError as error:
        raise OSError(f"{path!r}: cannot be a file name here ({error.reason})") from None
    if name_length > name_max:
        raise OSError(f"{path}: the file name is longer than the {name_max} bytes a name can have here")
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise OSError(f"{path}: folder {folder} {what}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OSError(f"{path}: cannot be written (permission denied)")


def _longest_name(folder):
    """The longest file name, in bytes, that the folder's file system takes (255 where it cannot say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # Windows has no pathconf
        return 255


# ---------------------------------------------------------------------- CSV
def read_text(path):
    """The text of a file: UTF-8 (a byte-order mark is dropped), UTF-16 with its byte-order
    mark (spreadsheets' "Unicode text"), else Latin-1.

    Returns (text, encoding). Latin-1 decodes any bytes, so it is the fallback
    for spreadsheets exported in a Windows code page; the caller may warn. A file
    with NUL bytes otherwise is binary (a spreadsheet's own format, an image): an error.
    """
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, expected a CSV file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror})") from None
    except ValueError as error:  # a NUL character or a lone surrogate in the name
        raise DataError(f"{path!r}: cannot be a file name ({error})") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as error:
            raise DataError(f"{path}: damaged UTF-16 text at byte {error.start}") from None
    if b"\x00" in raw:
        raise DataError(f"{path}: not a text file (it holds NUL bytes at byte {raw.index(0)}); "
                        "a spreadsheet must be saved as CSV first")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def read_csv_rows(path, delimiter=","):
    """Read a CSV file with a header row: returns (header, [(line_number, cells), ...]).

    Cells are stripped of surrounding spaces; blank lines are skipped; quoted
    fields and Windows line ends are handled by the csv module. Every row must
    have as many cells as the header.
    """
    problem = delimiter_problem(delimiter)
    if problem:
        raise DataError(f"{path}: the CSV delimiter {problem}")
    text, encoding = read_text(path)
    if encoding == "latin-1":
        print(f"warning: {path}: not UTF-8 text; read as Latin-1 (ISO-8859-1), so check any accented "
              "names; save the file as UTF-8 to be sure", file=sys.stderr)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header, rows, end = None, [], 0
    try:
        for cells in reader:
            # a row starts on the line after the last one ended (a quoted field may span lines)
            line, end = end + 1, reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if header is None:
                header = cells
                if all(_is_number(name) for name in header):
                    raise DataError(f"{path} line {line}: the first row is all numbers ({_preview(header)}), "
                                    "so the header is missing: add a first row naming the columns")
                if any(not name for name in header):
                    raise DataError(f"{path} line {line}: the header has an empty column name")
                seen = set()
                for name in header:
                    if name in seen:
                        raise DataError(f"{path} line {line}: duplicate column name {name!r} in the header")
                    seen.add(name)
                continue
            if len(cells) != len(header):
                spans = (f" (a quoted field runs on to line {end}: is a closing quote missing?)"
                         if end > line else "")
                raise DataError(f"{path} line {line}: expected {len(header)} values (as in the header), "
                                f"found {len(cells)}{spans}")
            rows.append((line, cells))
    except csv.Error as error:
        raise DataError(f"{path} line {reader.line_num}: {error}") from None
    if header is None:
        raise DataError(f"{path}: the file is empty, expected a header row and data rows")
    if not rows:
        raise DataError(f"{path}: has a header but no data rows")
    return header, rows


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _names(header):
    """Column names for a message, each quoted if it holds characters a terminal would not show."""
    return ", ".join(name if name.isprintable() else repr(name) for name in header)


def _preview(cells, count=4):
    """The first few cells, for a message: '5.1, 3.5, 1.4, 0.2, ...'."""
    return ", ".join(cells[:count]) + (", ..." if len(cells) > count else "")


def header_hint(header, delimiter):
    """Why the expected columns may be missing from a header, for the end of a message, or ''.

    One column holding another usual delimiter: the file was read with the wrong one.
    Mostly numbers: the first row is data and the header is missing.
    """
    if len(header) == 1:
        for other in (";", "\t", "|", ",", " "):
            if other != delimiter and other in header[0]:
                return (f"; that is one column: the values seem to be separated by {other!r}, not "
                        f"{delimiter!r}; name that delimiter (data.delimiter in a config, --delimiter "
                        "for predict)")
    if sum(map(_is_number, header)) * 2 > len(header):
        return f"; the first row looks like data ({_preview(header)}): is the header row missing?"
    return ""


def delimiter_problem(delimiter):
    """Why `delimiter` cannot separate the values of a CSV file, or '' when it can."""
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        return f"must be a single character, got {delimiter!r}"
    if delimiter in '"\r\n.+-' or delimiter.isalnum():
        return (f"cannot be {delimiter!r}: quotes, line ends, letters, digits, '.', '+' and '-' are parts "
                "of the values")
    return ""


def parse_number(text, path, line, column):
    """A finite float from a CSV cell, or a DataError naming the file, line and column."""
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path} line {line}: column {column!r} has {text!r}, which is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path} line {line}: column {column!r} has {text!r}; NaN and infinite values are not allowed")
    return value


class Dataset:
    """Features X (n, d) as a Matrix and targets, with the names that give them meaning.

    Classification: `labels` is a list of class indices into `class_names`.
    Regression: `values` is an (n, k) Matrix of target numbers.
    """

    def __init__(self, X, feature_names, target_name, task, labels=None, class_names=None, values=None):
        self.X, self.feature_names, self.target_name, self.task = X, feature_names, target_name, task
        self.labels, self.class_names, self.values = labels, class_names, values

    def __len__(self):
        return len(self.X)

    def targets(self):
        """The training targets: one-hot rows for classification, the values for regression."""
        if self.task == "classification":
            return one_hot(self.labels, len(self.class_names))
        return self.values

    def subset(self, indices):
        labels = [self.labels[i] for i in indices] if self.labels is not None else None
        values = self.values.take(indices) if self.values is not None else None
        return Dataset(self.X.take(indices), self.feature_names, self.target_name, self.task,
                       labels, self.class_names, values)


def _looks_like_classes(cells):
    """A numeric target is taken as class labels when every value is a whole number and there are few of them."""
    try:
        numbers = [float(c) for c in cells]
    except ValueError:
        return True
    distinct = set(numbers)
    return all(v.is_integer() for v in distinct) and len(distinct) <= 20


def load_csv(path, target, features=None, delimiter=",", task="auto", class_names=None):
    """Load a CSV whose columns are numeric features and one target column.

    target: the target column's name. features: the feature columns to use
    (default: every other column), found by name, so their order in the file
    does not matter. task: "classification", "regression" or "auto" (text
    targets, or a few whole numbers, mean classification). class_names: the
    classes of a trained model, to read new rows with the same numbering.
    """
    header, rows = read_csv_rows(path, delimiter)
    if target not in header:
        raise DataError(f"{path}: target column {target!r} is not in the header; columns: {_names(header)}"
                        + header_hint(header, delimiter))
    if features is None:
        features = [name for name in header if name != target]
    missing = [name for name in features if name not in header]
    if missing:
        raise DataError(f"{path}: missing feature column(s) {', '.join(map(repr, missing))}"
                        + header_hint(header, delimiter))
    if not features:
        raise DataError(f"{path}: no feature columns besides the target {target!r}")
    positions = [header.index(name) for name in features]
    X = Matrix._wrap(
        [[parse_number(cells[p], path, line, header[p]) for p in positions] for line, cells in rows], len(positions)
    )
    target_at = header.index(target)
    target_cells = [cells[target_at] for _, cells in rows]
    if task == "auto":
        task = "classification" if _looks_like_classes(target_cells) else "regression"
    if task == "regression":
        values = Matrix._wrap([[parse_number(cells[target_at], path, line, target)] for line, cells in rows], 1)
        return Dataset(X, list(features), target, task, values=values)
    if any(not c for c in target_cells):
        line = rows[target_cells.index("")][0]
        raise DataError(f"{path} line {line}: the target column {target!r} is empty")
    if class_names is None:
        class_names = sorted_class_names(target_cells)
        if len(class_names) < 2:
            raise DataError(f"{path}: the target column {target!r} has only one class ({class_names[0]!r}); need at least 2")
    index = {name: i for i, name in enumerate(class_names)}
    labels = []
    for (line, _), cell in zip(rows, target_cells):
        name = _class_name(cell)
        if name not in index:
            raise DataError(f"{path} line {line}: unknown class {cell!r}; the model knows {', '.join(class_names)}")
        labels.append(index[name])
    return Dataset(X, list(features), target, task, labels=labels, class_names=list(class_names))


def _class_name(cell):
    """'3', '3.0' and ' 3 ' name the same class: whole numbers are written without a decimal point."""
    try:
        value = float(cell)
    except ValueError:
        return cell
    return str(int(value)) if value.is_integer() else cell


def sorted_class_names(cells):
    """The distinct class names, numbers in numeric order, text in alphabetical order."""
    names = {_class_name(c) for c in cells}
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def one_hot(labels, n_classes):
    """Class indices -> rows with a 1.0 at the class and 0.0 elsewhere: 1 of 3 -> [0, 1, 0]."""
    return Matrix._wrap([[1.0 if j == label else 0.0 for j in range(n_classes)] for label in labels], n_classes)


# ---------------------------------------------------------------- splitting
def train_test_split(labels, test_fraction, rng, stratify=True):
    """Shuffled (train_indices, test_indices) for n = len(labels) rows.

    Stratified: each class is split separately, so that both parts keep the
    class proportions; pass stratify=False for regression targets.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction!r}")
    groups = {}
    for i, label in enumerate(labels):
        groups.setdefault(label if stratify else 0, []).append(i)
    train, test = [], []
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        n_test = int(round(len(members) * test_fraction))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test.extend(members[:n_test])
        train.extend(members[n_test:])
    if not train or not test:
        raise DataError(f"{len(labels)} rows are too few to split with fraction {test_fraction:g}")
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


# ------------------------------------------------------------ normalization
class Normalizer:
    """Per-column scaling fitted on training rows only, then applied to any rows.

    zscore: x' = (x - mean) / std  (population std; a constant column gets std 1)
    minmax: x' = (x - min) / (max - min)
    none:   x' = x
    """

    METHODS = ("zscore", "minmax", "none")

    def __init__(self, method="zscore", shift=None, scale=None):
        if method not in self.METHODS:
            raise ValueError(f"unknown normalization {method!r}; valid: {', '.join(self.METHODS)}")
        self.method, self.shift, self.scale = method, shift, scale

    def fit(self, X, names=None):
        """Fit on the rows of X; `names` (one per column) name a column whose values are too large."""
        n = len(X)
        shifts, scales = [], []
        for index, column in enumerate(zip(*X.rows)):
            try:
                shift, spread = self._statistics(column, n)
            except OverflowError:  # fsum and ** raise where other float arithmetic gives inf
                shift = spread = math.inf
            if not (math.isfinite(shift) and math.isfinite(spread)):
                name = repr(names[index]) if names else str(index + 1)
                raise ValueError(f"column {name} holds values up to {max(map(abs, column)):.3g}, too large to "
                                 f"normalize ({self.method}): its sums pass the float range (about 1.8e308)")
            shifts.append(shift)
            scales.append(spread if spread > 0.0 else 1.0)
        self.shift, self.scale = shifts, scales
        return self

    def _statistics(self, column, n):
        """(shift, spread) of one column."""
        if self.method == "zscore":
            mean = math.fsum(column) / n
            return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in column) / n)
        if self.method == "minmax":
            low = min(column)
            return low, max(column) - low
        return 0.0, 1.0

    def transform(self, X):
        if self.shift is None:
            raise ValueError("Normalizer.transform called before fit")
        if X.shape[1] != len(self.shift):
            raise ValueError(f"normalizer fitted on {len(self.shift)} columns, got shape {X.shape}")
        return (X - Matrix._wrap([self.shift])) / Matrix._wrap([self.scale])

    def inverse_transform(self, X):
        return X * Matrix._wrap([self.scale]) + Matrix._wrap([self.shift])

    def to_dict(self):
        return {"method": self.method, "shift": self.shift, "scale": self.scale}

    @classmethod
    def from_dict(cls, data):
        shift, scale = data.get("shift"), data.get("scale")
        numbers = [v for values in (shift, scale) if isinstance(values, list) for v in values]
        if (not isinstance(shift, list) or not isinstance(scale, list) or len(shift) != len(scale)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in numbers) or not all(s > 0 for s in scale)):
            raise ValueError("normalization statistics need 'shift' and 'scale', two lists of finite numbers "
                             "of one length, each scale > 0")
        return cls(data.get("method"), [float(v) for v in shift], [float(v) for v in scale])


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
    residual = math.fsum((a - p) ** 2 for a, p in zip(actual, predicted))
    mean = math.fsum(actual) / n
    total = math.fsum((a - mean) ** 2 for a in actual)
    return {
        "rmse": math.sqrt(residual / n),
        "mae": math.fsum(abs(a - p) for a, p in zip(actual, predicted)) / n,
        "r2": 1.0 - residual / total if total > 0 else 0.0,
    }


def format_confusion_matrix(counts, class_names):
    """The confusion matrix as aligned text, rows = true class, columns = predicted."""
    width = max(6, max(len(n) for n in class_names), max(len(str(v)) for row in counts for v in row))
    lines = [" " * width + "  predicted ->", " " * width + " " + " ".join(f"{n:>{width}}" for n in class_names)]
    for name, row in zip(class_names, counts):
        lines.append(f"{name:>{width}} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


# ---------------------------------------------------------------- Hilbert curve
#
# A Hilbert curve walks through every cell of a 2**order x 2**order grid, one
# 4-neighbour step at a time, and cells close along the curve are close in the
# image. Flattening an image along it (instead of row by row) keeps each 2x2
# block together as 4 consecutive values, so a 1-D model sees 2-D locality and
# shrinking the vector by averaging groups of 4 is 2x2 block averaging.
# docs/hilbert.md draws the curve and explains why.


# The order-1 curve: position 0..3 -> quadrant (x, y). x is the column, y the row.
# It starts top-left, goes down, right, then up:   0   3
#                                                  |   |
#                                                  1---2
_HILBERT_QUADRANTS = ((0, 0), (0, 1), (1, 1), (1, 0))
_HILBERT_DIGIT_OF_QUADRANT = {quadrant: digit for digit, quadrant in enumerate(_HILBERT_QUADRANTS)}


def _check_hilbert_order(order):
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ValueError("Hilbert curve order must be an integer >= 0, got {!r}".format(order))


def _is_power_of_four(n):
    """True for 1, 4, 16, 64, ...: a single set bit at an even position."""
    return n >= 1 and n & (n - 1) == 0 and (n.bit_length() - 1) % 2 == 0


def _turn_into_quadrant(digit, size, x, y):
    """Turn a sub-curve on a size x size block so it fits quadrant `digit` of the next order.

    The sub-curves in quadrants 1 and 2 keep the orientation of the whole curve.
    Quadrant 0 is transposed (x, y) -> (y, x) so that it leaves toward quadrant 1;
    quadrant 3 is transposed about the other diagonal, (x, y) -> (size-1-y, size-1-x),
    so that it enters from quadrant 2. Both maps are their own inverse.
    """
    if digit == 0:
        return y, x
    if digit == 3:
        return size - 1 - y, size - 1 - x
    return x, y


def hilbert_d2xy(order, d):
    """Cell (x, y) visited at position d of the Hilbert curve on a 2**order square grid.

    x is the column and y the row, both in 0 .. 2**order - 1; d is in 0 .. 4**order - 1.

    Read d in base 4 from the least significant digit up. The lowest digit places
    the cell in a 2x2 block with the order-1 curve 0 -> (0,0), 1 -> (0,1),
    2 -> (1,1), 3 -> (1,0). Each further digit says which quadrant of a block
    twice as big holds everything built so far: the part is turned to fit that
    quadrant (see _turn_into_quadrant) and moved into it. This is the usual
    formulation (Wikipedia, "Hilbert curve", d2xy).

    Coarse-cell property: for every d,
        hilbert_d2xy(k + 1, d) // 2 == hilbert_d2xy(k, d // 4)   (each coordinate).
    Dropping the lowest digit leaves exactly the order-k computation on d // 4,
    and each step (x -> y, x -> s-1-y, x -> x + s) commutes with halving when
    s is even. So positions 4m .. 4m+3 fill the 2x2 block over coarse cell m.
    """
    _check_hilbert_order(order)
    if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < 4 ** order:
        raise ValueError("Hilbert position must be an integer in 0 .. {} for order {}, got {!r}"
                         .format(4 ** order - 1, order, d))
    x = y = 0
    size = 1  # side of the block built so far
    while size < 2 ** order:
        digit = d % 4
        x, y = _turn_into_quadrant(digit, size, x, y)
        quadrant_x, quadrant_y = _HILBERT_QUADRANTS[digit]
        x += size * quadrant_x
        y += size * quadrant_y
        d //= 4
        size *= 2
    return x, y


def hilbert_xy2d(order, x, y):
    """Position d at which the Hilbert curve of the given order visits cell (x, y).

    The inverse of hilbert_d2xy, run from the largest block down: find the
    quadrant holding (x, y), add its digit times the quadrant's cell count,
    move (x, y) into the quadrant and undo the turn, and repeat on the quadrant.
    """
    _check_hilbert_order(order)
    side = 2 ** order
    for name, value in (("x", x), ("y", y)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < side:
            raise ValueError("Hilbert cell {} must be an integer in 0 .. {} for order {}, got {!r}"
                             .format(name, side - 1, order, value))
    d = 0
    size = side // 2  # side of a quadrant at the current level
    while size >= 1:
        quadrant_x, quadrant_y = x // size, y // size
        digit = _HILBERT_DIGIT_OF_QUADRANT[(quadrant_x, quadrant_y)]
        d += digit * size * size
        x, y = _turn_into_quadrant(digit, size, x - size * quadrant_x, y - size * quadrant_y)
        size //= 2
    return d


@lru_cache(maxsize=None)
def _hilbert_cells(order):
    """The whole curve as a tuple of (x, y), cached: flatten runs on thousands of images."""
    return tuple(hilbert_d2xy(order, d) for d in range(4 ** order))


def _describe_image_shape(image):
    row_lengths = [len(row) for row in image]
    if len(set(row_lengths)) <= 1:
        return "{} rows x {} columns".format(len(image), row_lengths[0] if row_lengths else 0)
    return "{} rows of lengths {}".format(len(image), row_lengths)


def hilbert_flatten(image):
    """Square image (list of rows, side 2**order) -> list of side*side values in curve order.

    v[d] = image[y][x] where (x, y) = hilbert_d2xy(order, d). Each group of 4
    consecutive values is one 2x2 block of the image (the coarse-cell property).
    """
    side = len(image)
    is_square = all(len(row) == side for row in image)
    if not (is_square and side >= 1 and side & (side - 1) == 0):
        raise ValueError("hilbert_flatten needs a square image whose side is a power of two "
                         "(1, 2, 4, 8, 16, ...), got {}".format(_describe_image_shape(image)))
    order = side.bit_length() - 1
    return [image[y][x] for x, y in _hilbert_cells(order)]


def hilbert_unflatten(vector):
    """Inverse of hilbert_flatten: list of 4**order values in curve order -> list of rows."""
    if not _is_power_of_four(len(vector)):
        raise ValueError("hilbert_unflatten needs a length that is a power of 4 "
                         "(1, 4, 16, 64, 256, ...), got {}".format(len(vector)))
    order = (len(vector).bit_length() - 1) // 2
    side = 2 ** order
    image = [[None] * side for _ in range(side)]
    for value, (x, y) in zip(vector, _hilbert_cells(order)):
        image[y][x] = value
    return image


def hilbert_resample(vector, length):
    """Change the resolution of a curve-ordered vector to `length` values.

    Both lengths must be powers of 4. One step down replaces each group of 4
    consecutive values by their mean,
        out[m] = (v[4m] + v[4m+1] + v[4m+2] + v[4m+3]) / 4,
    which by the coarse-cell property is the 2x2 block average of the image.
    One step up repeats each value 4 times (each pixel becomes a 2x2 block).
    Larger ratios repeat the step.
    """
    for name, value in (("input length", len(vector)), ("target length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or not _is_power_of_four(value):
            raise ValueError("hilbert_resample needs lengths that are powers of 4 "
                             "(1, 4, 16, 64, 256, ...), got {} {!r}".format(name, value))
    values = list(vector)
    while len(values) > length:
        values = [sum(values[start:start + 4]) / 4 for start in range(0, len(values), 4)]
    while len(values) < length:
        values = [value for value in values for _ in range(4)]
    return values
