"""Data sets: reading CSV files, class names, one-hot targets, splitting and normalization.

Depends on matrix.py (and losses.one_hot, the one one-hot) only: nothing here knows about layers or networks.
"""

import codecs
import csv
import io
import math
import os
import sys

from losses import one_hot  # noqa: F401 (Dataset.targets; imported from here by older code)
from matrix import Matrix
from utils import InputError, is_number, quote, short


class DataError(InputError):
    """A problem with a data file or its contents; the message names the file and line."""


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
        raise DataError(f"{quote(path)}: cannot be a file name ({error})") from None
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
                        raise DataError(f"{path} line {line}: duplicate column name {quote(name)} in the header")
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
    return short(", ".join(short(name, 60) if name.isprintable() else quote(name, 60) for name in header), 400)


def _preview(cells, count=4):
    """The first few cells, for a message: '5.1, 3.5, 1.4, 0.2, ...'."""
    return ", ".join(short(cell, 40) for cell in cells[:count]) + (", ..." if len(cells) > count else "")


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
        raise DataError(f"{path} line {line}: column {quote(column)} has {quote(text)}, which is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path} line {line}: column {quote(column)} has {quote(text)}; NaN and infinite values are not allowed")
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


def load_csv(path, target, features=None, delimiter=",", task="auto", class_names=None, header_and_rows=None):
    """Load a CSV whose columns are numeric features and one target column.

    target: the target column's name. features: the feature columns to use
    (default: every other column), found by name, so their order in the file
    does not matter. task: "classification", "regression" or "auto" (text
    targets, or a few whole numbers, mean classification). class_names: the
    classes of a trained model, to read new rows with the same numbering.
    header_and_rows: what read_csv_rows(path, delimiter) returned, or some of its
    rows, when the caller has read the file already.
    """
    header, rows = header_and_rows if header_and_rows is not None else read_csv_rows(path, delimiter)
    if target not in header:
        raise DataError(f"{path}: target column {quote(target)} is not in the header; columns: {_names(header)}"
                        + header_hint(header, delimiter))
    if features is None:
        features = [name for name in header if name != target]
    if target in features:
        raise DataError(f"{path}: the feature columns include the target {quote(target)}: the model would "
                        "read the answer it is asked to predict; leave it out of the features")
    twice = sorted({name for name in features if features.count(name) > 1})
    if twice:
        raise DataError(f"{path}: the feature columns name {short(', '.join(map(quote, twice)), 400)} twice; "
                        "name each column once")
    missing = [name for name in features if name not in header]
    if missing:
        raise DataError(f"{path}: missing feature column(s) {short(', '.join(map(quote, missing)), 400)}"
                        + header_hint(header, delimiter))
    if not features:
        raise DataError(f"{path}: no feature columns besides the target {quote(target)}")
    positions = [header.index(name) for name in features]
    X = Matrix.from_rows(
        [[parse_number(cells[p], path, line, header[p]) for p in positions] for line, cells in rows], len(positions)
    )
    target_at = header.index(target)
    target_cells = [cells[target_at] for _, cells in rows]
    if task == "auto":
        task = "classification" if _looks_like_classes(target_cells) else "regression"
    if task == "regression":
        values = Matrix.from_rows([[parse_number(cells[target_at], path, line, target)] for line, cells in rows], 1)
        return Dataset(X, list(features), target, task, values=values)
    if any(not c for c in target_cells):
        line = rows[target_cells.index("")][0]
        raise DataError(f"{path} line {line}: the target column {quote(target)} is empty")
    if class_names is None:
        class_names = sorted_class_names(target_cells)
        if len(class_names) < 2:
            raise DataError(f"{path}: the target column {quote(target)} has only one class ({quote(class_names[0])}); need at least 2")
    index = {name: i for i, name in enumerate(class_names)}
    labels = []
    for (line, _), cell in zip(rows, target_cells):
        name = _class_name(cell)
        if name not in index:
            raise DataError(f"{path} line {line}: unknown class {quote(cell)}; the model knows {short(', '.join(class_names))}")
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
    pixels: x' = (x - min) / (max - min) with ONE min and max over every column: the pixels of
            an image scaled alike, so that a pattern reads the same wherever it is (a convolution's
            premise, which per-column scaling breaks: a corner pixel that is rarely bright gets
            stretched more than a central one)
    none:   x' = x
    """

    METHODS = ("zscore", "minmax", "pixels", "none")

    def __init__(self, method="zscore", shift=None, scale=None):
        if method not in self.METHODS:
            raise ValueError(f"unknown normalization {method!r}; valid: {', '.join(self.METHODS)}")
        self.method, self.shift, self.scale = method, shift, scale

    def fit(self, X, names=None):
        """Fit on the rows of X; `names` (one per column) name a column whose values are too large."""
        n = len(X)
        if self.method == "pixels":
            low, high = min(map(min, X.rows)), max(map(max, X.rows))
            spread = high - low if high > low else 1.0
            if not math.isfinite(spread):
                raise ValueError(f"values from {low:.3g} to {high:.3g} are too far apart to normalize (pixels)")
            self.shift, self.scale = [low] * X.shape[1], [spread] * X.shape[1]
            return self
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
        return (X - Matrix.from_rows([self.shift])) / Matrix.from_rows([self.scale])

    def inverse_transform(self, X):
        return X * Matrix.from_rows([self.scale]) + Matrix.from_rows([self.shift])

    def to_dict(self):
        return {"method": self.method, "shift": self.shift, "scale": self.scale}

    @classmethod
    def from_dict(cls, data):
        shift, scale = data.get("shift"), data.get("scale")
        numbers = [v for values in (shift, scale) if isinstance(values, list) for v in values]
        if (not isinstance(shift, list) or not isinstance(scale, list) or len(shift) != len(scale)
                or not all(is_number(v) for v in numbers) or not all(s > 0 for s in scale)):
            raise ValueError("normalization statistics need 'shift' and 'scale', two lists of finite numbers "
                             "of one length, each scale > 0")
        return cls(data.get("method"), [float(v) for v in shift], [float(v) for v in scale])
