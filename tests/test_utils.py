"""Tests for utils.py: CSV loading and its errors, splitting, normalization, metrics and safe file writing.

(The Hilbert curve at the end of utils.py has its own tests in test_hilbert.py.)
"""

import contextlib
import io
import json
import math
import os
import random
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import pipeline  # noqa: E402
from matrix import Matrix  # noqa: E402
from datasets import (DataError, Normalizer, delimiter_problem, load_csv, one_hot, read_csv_rows,
    sorted_class_names, train_test_split)  # noqa: E402
from metrics import accuracy, confusion_matrix, precision_recall_f1, regression_scores  # noqa: E402
from utils import (InputError, check_writable, finite_sum, make_rng, parse_json, quote, read_json,  # noqa: E402
                   write_atomic)


class TempFolderTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def file(self, content, name="data.csv"):
        """Write content (str, written as UTF-8 bytes exactly as given, or bytes) and return its path."""
        path = os.path.join(self.folder.name, name)
        with open(path, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
        return path


# ---------------------------------------------------------------------- CSV
class LoadCsvTest(TempFolderTest):
    def test_header_numeric_features_and_string_classes_in_sorted_order(self):
        path = self.file("x,y,kind\n1,2.5,versicolor\n3,-4,setosa\n5,6e-1,virginica\n7,8,setosa\n")
        data = load_csv(path, "kind")
        self.assertEqual(data.task, "classification")
        self.assertEqual(data.feature_names, ["x", "y"])
        self.assertEqual(data.X.rows, [[1.0, 2.5], [3.0, -4.0], [5.0, 0.6], [7.0, 8.0]])
        self.assertEqual(data.class_names, ["setosa", "versicolor", "virginica"])
        self.assertEqual(data.labels, [1, 0, 2, 0])
        self.assertEqual(data.targets().rows, [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])

    def test_target_may_be_any_column_and_features_are_found_by_name(self):
        path = self.file("label,a,b,c\nyes,1,2,3\nno,4,5,6\n")
        data = load_csv(path, "label", features=["c", "a"])
        self.assertEqual(data.feature_names, ["c", "a"])
        self.assertEqual(data.X.rows, [[3.0, 1.0], [6.0, 4.0]])
        self.assertEqual(data.class_names, ["no", "yes"])

    def test_numeric_classes_sort_as_numbers_and_3_equals_3_point_0(self):
        path = self.file("x,digit\n0,10\n1,2\n2,3.0\n3,3\n4,2\n")
        data = load_csv(path, "digit")
        self.assertEqual(data.class_names, ["2", "3", "10"])
        self.assertEqual(data.labels, [2, 0, 1, 1, 0])

    def test_many_fractional_targets_mean_regression(self):
        path = self.file("x,price\n1,1.5\n2,2.25\n3,0.75\n")
        data = load_csv(path, "price")
        self.assertEqual(data.task, "regression")
        self.assertEqual(data.values.rows, [[1.5], [2.25], [0.75]])
        self.assertIsNone(data.labels)

    def test_byte_order_mark_is_dropped(self):
        data = load_csv(self.file("\ufefflength,kind\n1,a\n2,b\n"), "kind")
        self.assertEqual(data.feature_names, ["length"])

    def test_windows_line_ends(self):
        data = load_csv(self.file("a,kind\r\n1,x\r\n2,y\r\n"), "kind")
        self.assertEqual(data.X.rows, [[1.0], [2.0]])
        self.assertEqual(data.class_names, ["x", "y"])

    def test_quoted_fields(self):
        path = self.file('"a","b, with comma",kind\n"1.5",2,"Iris, setosa"\n3," 4 ",other\n')
        data = load_csv(path, "kind")
        self.assertEqual(data.feature_names, ["a", "b, with comma"])
        self.assertEqual(data.X.rows, [[1.5, 2.0], [3.0, 4.0]])
        self.assertEqual(data.class_names, ["Iris, setosa", "other"])

    def test_blank_lines_are_skipped(self):
        data = load_csv(self.file("a,kind\n1,x\n\n2,y\n\n\n  \n"), "kind")
        self.assertEqual(len(data), 2)

    def test_other_delimiter(self):
        data = load_csv(self.file("a;kind\n1,5;x\n2;y\n".replace("1,5", "1.5")), "kind", delimiter=";")
        self.assertEqual(data.X.rows, [[1.5], [2.0]])

    def test_latin_1_file_is_read_with_one_warning_naming_it(self):
        path = self.file("a,kind\n1,caf\xe9\n2,tea\n".encode("latin-1"))
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            data = load_csv(path, "kind")
        self.assertEqual(data.class_names, ["caf\xe9", "tea"])
        self.assertEqual(stderr.getvalue().count("\n"), 1)
        self.assertTrue(stderr.getvalue().startswith(f"warning: {path}: not UTF-8 text; read as Latin-1"))

    def test_utf_8_gives_no_warning(self):
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            load_csv(self.file("a,kind\n1,caf\xe9\n2,tea\n"), "kind")
        self.assertEqual(stderr.getvalue(), "")

    def test_utf_16_with_a_byte_order_mark_is_read(self):
        for encoding in ("utf-16-le", "utf-16-be"):
            with self.subTest(encoding=encoding):
                mark = "\ufeff".encode(encoding)
                data = load_csv(self.file(mark + "a,kind\r\n1,caf\xe9\r\n2,tea\r\n".encode(encoding)), "kind")
                self.assertEqual(data.class_names, ["caf\xe9", "tea"])

    def test_known_class_names_keep_their_numbering(self):
        data = load_csv(self.file("a,kind\n1,b\n2,b\n"), "kind", class_names=["a", "b", "c"])
        self.assertEqual(data.labels, [1, 1])

    def test_the_real_training_file_loads(self):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        data = load_csv(os.path.join(root, "train_data.csv"), "species")
        self.assertEqual(data.X.shape, (150, 4))
        self.assertEqual(data.class_names, ["setosa", "versicolor", "virginica"])
        self.assertEqual([data.labels.count(c) for c in range(3)], [50, 50, 50])


class CsvErrorTest(TempFolderTest):
    def assert_error(self, content, message, target="kind", **options):
        path = self.file(content)
        with self.assertRaises(DataError) as caught:
            load_csv(path, target, **options)
        self.assertIn(message, str(caught.exception))
        self.assertIn(path, str(caught.exception))
        self.assertNotIn("\n", str(caught.exception))

    def test_ragged_row_names_its_line(self):
        self.assert_error("a,b,kind\n1,2,x\n3,y\n", "line 3: expected 3 values (as in the header), found 2")

    def test_line_numbers_count_blank_lines(self):
        self.assert_error("a,b,kind\n1,2,x\n\n\n1,2,3,x\n", "line 5: expected 3 values")

    def test_non_numeric_cell_names_line_and_column(self):
        self.assert_error("a,b,kind\n1,2,x\n3,abc,y\n", "line 3: column 'b' has 'abc', which is not a number")

    def test_empty_feature_cell(self):
        self.assert_error("a,b,kind\n1,,x\n3,4,y\n", "line 2: column 'b' has '', which is not a number")

    def test_nan_and_infinity_are_rejected(self):
        for bad in ("nan", "NaN", "inf", "-Infinity"):
            with self.subTest(bad=bad):
                self.assert_error(f"a,kind\n1,x\n{bad},y\n", f"line 3: column 'a' has {bad!r}; NaN and infinite")

    def test_target_not_in_header_lists_the_columns(self):
        self.assert_error("a,b,kind\n1,2,x\n", "target column 'species' is not in the header; columns: a, b, kind",
                          target="species")

    def test_missing_feature_column(self):
        self.assert_error("a,b,kind\n1,2,x\n3,4,y\n", "missing feature column(s) 'z'", features=["a", "z"])

    def test_one_class_is_not_enough(self):
        self.assert_error("a,kind\n1,x\n2,x\n", "has only one class ('x'); need at least 2")

    def test_empty_target_cell(self):
        self.assert_error("a,kind\n1,x\n2,\n3,y\n", "line 3: the target column 'kind' is empty")

    def test_unknown_class_for_a_trained_model(self):
        self.assert_error("a,kind\n1,x\n2,q\n", "line 3: unknown class 'q'; the model knows x, y", class_names=["x", "y"])

    def test_empty_file(self):
        for content in ("", "\n\n", "\ufeff"):
            with self.subTest(content=content):
                self.assert_error(content, "the file is empty")

    def test_header_without_rows(self):
        self.assert_error("a,kind\n", "has a header but no data rows")

    def test_duplicate_and_empty_column_names(self):
        self.assert_error("a,a,kind\n1,2,x\n", "line 1: duplicate column name 'a'")
        self.assert_error("a,,kind\n1,2,x\n", "line 1: the header has an empty column name")

    def test_binary_file(self):
        self.assert_error(b"PK\x03\x04\x14\x00\x06\x00", "not a text file (it holds NUL bytes at byte 5)")

    def test_first_row_of_numbers_means_no_header(self):
        self.assert_error("1,2,0\n3,4,1\n", "line 1: the first row is all numbers (1, 2, 0)")
        self.assert_error("1,2,x\n3,4,y\n", "the first row looks like data (1, 2, x): is the header row missing?")

    def test_another_delimiter_is_named(self):
        self.assert_error("a;b;kind\n1;2;x\n", "the values seem to be separated by ';', not ','")
        self.assert_error("a\tb\tkind\n1\t2\tx\n", "separated by '\\t', not ','")

    def test_delimiters_that_are_part_of_values_are_refused(self):
        for delimiter in (".", "-", "1", "e", '"', "\n", ";;", ""):
            with self.subTest(delimiter=delimiter):
                self.assertTrue(delimiter_problem(delimiter))
                self.assert_error("a,kind\n1,x\n", "the CSV delimiter", delimiter=delimiter)
        for delimiter in (",", ";", "\t", "|", " ", ":"):
            self.assertEqual(delimiter_problem(delimiter), "")

    def test_an_unclosed_quote_names_the_line_it_starts_on(self):
        self.assert_error('a,b,kind\n1,2,x\n3,"4,y\n5,6,x\n', "line 3: expected 3 values (as in the header), "
                          "found 2 (a quoted field runs on to line 4: is a closing quote missing?)")

    def test_only_a_target_column(self):
        self.assert_error("kind\nx\ny\n", "no feature columns besides the target 'kind'")

    def test_missing_file_and_directory(self):
        with self.assertRaisesRegex(DataError, "file not found"):
            load_csv(os.path.join(self.folder.name, "nothing.csv"), "kind")
        with self.assertRaisesRegex(DataError, "is a directory"):
            load_csv(self.folder.name, "kind")

    def test_read_csv_rows_keeps_line_numbers(self):
        header, rows = read_csv_rows(self.file("a,b\n\n1,2\n3,4\n"))
        self.assertEqual(header, ["a", "b"])
        self.assertEqual(rows, [(3, ["1", "2"]), (4, ["3", "4"])])

    def test_sorted_class_names(self):
        self.assertEqual(sorted_class_names(["b", "a", "b"]), ["a", "b"])
        self.assertEqual(sorted_class_names(["10", "9", "9.0"]), ["9", "10"])


# ---------------------------------------------------------------- splitting
class SplitTest(unittest.TestCase):
    labels = [0] * 60 + [1] * 30 + [2] * 10

    def test_stratified_split_keeps_the_class_proportions(self):
        train, test = train_test_split(self.labels, 0.2, random.Random(0))
        # 20% of each class: 12 of 60, 6 of 30, 2 of 10
        self.assertEqual([sum(self.labels[i] == c for i in test) for c in range(3)], [12, 6, 2])
        self.assertEqual([sum(self.labels[i] == c for i in train) for c in range(3)], [48, 24, 8])

    def test_split_is_a_partition_of_the_rows(self):
        train, test = train_test_split(self.labels, 0.3, random.Random(1))
        self.assertEqual(sorted(train + test), list(range(100)))
        self.assertFalse(set(train) & set(test))

    def test_split_is_reproducible_from_the_seed(self):
        first = train_test_split(self.labels, 0.2, random.Random(4))
        again = train_test_split(self.labels, 0.2, random.Random(4))
        other = train_test_split(self.labels, 0.2, random.Random(5))
        self.assertEqual(first, again)
        self.assertNotEqual(first, other)

    def test_split_shuffles(self):
        train, test = train_test_split(self.labels, 0.2, random.Random(0))
        self.assertNotEqual(test, sorted(test))

    def test_every_class_with_two_rows_reaches_both_parts(self):
        labels = [0] * 50 + [1] * 2
        train, test = train_test_split(labels, 0.1, random.Random(0))
        self.assertEqual(sum(labels[i] == 1 for i in test), 1)
        self.assertEqual(sum(labels[i] == 1 for i in train), 1)

    def test_unstratified_split_takes_the_fraction_of_all_rows(self):
        train, test = train_test_split([0] * 10, 0.3, random.Random(0), stratify=False)
        self.assertEqual((len(train), len(test)), (7, 3))

    def test_fraction_outside_zero_one_is_rejected(self):
        for fraction in (0.0, 1.0, -0.2, 1.5):
            with self.subTest(fraction=fraction):
                with self.assertRaisesRegex(ValueError, r"test fraction must be in \(0, 1\)"):
                    train_test_split(self.labels, fraction, random.Random(0))

    def test_too_few_rows_to_split(self):
        with self.assertRaisesRegex(DataError, "1 rows are too few to split"):
            train_test_split([0], 0.5, random.Random(0))


# ------------------------------------------------------------ normalization
class NormalizerTest(unittest.TestCase):
    train = Matrix([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]])
    test = Matrix([[5.0, 20.0, 7.0]])

    def test_zscore_uses_the_training_mean_and_population_std(self):
        normalizer = Normalizer("zscore").fit(self.train)
        # means [2, 20, 5]; population stds [1, 10, 0 -> 1 for the constant column]
        self.assertEqual(normalizer.shift, [2.0, 20.0, 5.0])
        self.assertEqual(normalizer.scale, [1.0, 10.0, 1.0])
        self.assertEqual(normalizer.transform(self.train).rows, [[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]])
        self.assertEqual(normalizer.transform(self.test).rows, [[3.0, 0.0, 2.0]])

    def test_minmax_maps_the_training_range_to_zero_one(self):
        normalizer = Normalizer("minmax").fit(self.train)
        self.assertEqual(normalizer.transform(self.train).rows, [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
        self.assertEqual(normalizer.transform(self.test).rows, [[2.0, 0.5, 2.0]])

    def test_pixels_scale_every_column_by_one_min_and_max(self):
        # training values from 1 to 30: every column becomes (x - 1) / 29, whatever its own range
        normalizer = Normalizer("pixels").fit(self.train)
        self.assertEqual(normalizer.shift, [1.0] * 3)
        self.assertEqual(normalizer.scale, [29.0] * 3)
        self.assertEqual(normalizer.transform(self.test).rows, [[4 / 29, 19 / 29, 6 / 29]])
        again = Normalizer.from_dict(normalizer.to_dict())
        self.assertEqual(again.transform(self.test).rows, normalizer.transform(self.test).rows)

    def test_none_is_the_identity(self):
        self.assertEqual(Normalizer("none").fit(self.train).transform(self.test).rows, self.test.rows)

    def test_inverse_transform_undoes_transform(self):
        normalizer = Normalizer("zscore").fit(self.train)
        self.assertTrue(normalizer.inverse_transform(normalizer.transform(self.test)).allclose(self.test))

    def test_round_trip_through_a_dict(self):
        normalizer = Normalizer("minmax").fit(self.train)
        again = Normalizer.from_dict(normalizer.to_dict())
        self.assertEqual(again.transform(self.test).rows, normalizer.transform(self.test).rows)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown normalization 'l2'; valid: zscore, minmax, pixels, none"):
            Normalizer("l2")
        with self.assertRaisesRegex(ValueError, "before fit"):
            Normalizer().transform(self.test)
        with self.assertRaisesRegex(ValueError, r"fitted on 3 columns, got shape \(1, 2\)"):
            Normalizer().fit(self.train).transform(Matrix([[1.0, 2.0]]))

    def test_values_too_large_to_normalize_name_their_column(self):
        huge = Matrix([[1.0, 1e308], [2.0, 1.7e308]])  # finite, but their sum is not
        with self.assertRaisesRegex(ValueError, r"column 'b' holds values up to 1.7e\+308, too large to normalize"):
            Normalizer("zscore").fit(huge, ["a", "b"])
        with self.assertRaisesRegex(ValueError, "column 2 holds values"):  # max - min overflows to inf
            Normalizer("minmax").fit(Matrix([[1.0, -1.7e308], [2.0, 1.7e308]]))
        self.assertEqual(Normalizer("none").fit(huge).scale, [1.0, 1.0])

    def test_saved_statistics_are_checked(self):
        for data in ({"method": "zscore", "shift": [0.0], "scale": [0.0]},
                     {"method": "zscore", "shift": [0.0, 1.0], "scale": [1.0]},
                     {"method": "zscore", "shift": ["0"], "scale": [1.0]},
                     {"method": "minmax", "shift": [0.0]}):
            with self.subTest(data=data):
                with self.assertRaisesRegex(ValueError, "two lists of finite numbers of one length, each scale > 0"):
                    Normalizer.from_dict(data)


class PipelineNormalizationTest(TempFolderTest):
    def test_normalizer_is_fitted_on_the_training_rows_only(self):
        lines = ["a,b,kind"] + [f"{i},{i * i % 7},{'xy'[i % 2]}" for i in range(20)]
        path = self.file("\n".join(lines) + "\n")
        config = {"data": {"path": path, "target": "kind", "test_fraction": 0.25, "normalize": "zscore"}}
        data = pipeline.prepare_data(config, random.Random(0))
        columns = list(zip(*data.train.X.rows))
        means = [math.fsum(c) / len(c) for c in columns]
        self.assertEqual(len(data.train) + len(data.test), 20)
        self.assertEqual(data.normalizer.shift, means)
        all_means = [math.fsum(c) / 20 for c in zip(*data.dataset.X.rows)]
        self.assertNotEqual(data.normalizer.shift, all_means)  # so the check above can tell the two apart


# ------------------------------------------------------------------ metrics
class MetricsTest(unittest.TestCase):
    actual = [0, 0, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 2, 0]

    def test_accuracy(self):
        self.assertEqual(accuracy(self.predicted, self.actual), 4 / 6)
        self.assertEqual(accuracy([1, 1], [1, 1]), 1.0)
        with self.assertRaisesRegex(ValueError, "equal non-empty lists, got 1 and 2"):
            accuracy([1], [1, 2])
        with self.assertRaises(ValueError):
            accuracy([], [])

    def test_confusion_matrix_rows_are_true_classes(self):
        self.assertEqual(confusion_matrix(self.actual, self.predicted, 3), [[1, 1, 0], [0, 2, 0], [1, 0, 1]])

    def test_precision_recall_f1_by_hand(self):
        scores = precision_recall_f1(self.actual, self.predicted, 3)
        # class 0: TP 1, predicted 0 twice, actually 0 twice:  P = 1/2, R = 1/2, F1 = 1/2
        # class 1: TP 2, predicted 3 times, actually twice:     P = 2/3, R = 1,   F1 = 2 (2/3) / (5/3) = 4/5
        # class 2: TP 1, predicted once, actually twice:        P = 1,   R = 1/2, F1 = 2 (1/2) / (3/2) = 2/3
        expected = [(0.5, 0.5, 0.5), (2 / 3, 1.0, 0.8), (1.0, 0.5, 2 / 3)]
        for c, (s, (p, r, f1)) in enumerate(zip(scores, expected)):
            self.assertAlmostEqual(s["precision"], p, places=15, msg=f"class {c}")
            self.assertAlmostEqual(s["recall"], r, places=15, msg=f"class {c}")
            self.assertAlmostEqual(s["f1"], f1, places=15, msg=f"class {c}")
            self.assertEqual(s["support"], 2)

    def test_a_class_never_predicted_scores_zero_without_dividing_by_zero(self):
        scores = precision_recall_f1([0, 1, 2], [0, 0, 0], 3)
        self.assertEqual(scores[1], {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
        self.assertAlmostEqual(scores[0]["precision"], 1 / 3, places=15)

    def test_regression_scores_by_hand(self):
        scores = regression_scores([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 5.0])
        # residuals -0.5, 0, 1, -1: SS_res = 2.25, RMSE = sqrt(2.25 / 4) = 0.75, MAE = 2.5 / 4 = 0.625
        # mean 2.5: SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5, R^2 = 1 - 2.25 / 5 = 0.55
        self.assertAlmostEqual(scores["rmse"], 0.75, places=15)
        self.assertAlmostEqual(scores["mae"], 0.625, places=15)
        self.assertAlmostEqual(scores["r2"], 0.55, places=15)

    def test_perfect_and_constant_regression(self):
        self.assertEqual(regression_scores([1.0, 2.0], [1.0, 2.0]), {"rmse": 0.0, "mae": 0.0, "r2": 1.0})
        self.assertEqual(regression_scores([3.0, 3.0], [3.0, 4.0])["r2"], 0.0)  # no variance to explain
        with self.assertRaisesRegex(ValueError, "equal non-empty lists"):
            regression_scores([1.0], [])

    def test_one_hot(self):
        self.assertEqual(one_hot([2, 0], 3).rows, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


# -------------------------------------------------------------------- files
class ReadJsonTest(TempFolderTest):
    # a character outside ASCII where a value must start: PyPy 7.3's fast decoder words it
    # by one byte of its UTF-8 form, a string PyPy then fails to format (SystemError)
    DAMAGED = ['[1, \ufeff2]', '{"a": [1, 2],\n "b": \u00e9}', '[1, 2\u20ac, 3]']

    def test_non_ascii_where_a_value_belongs_is_one_clean_error_line(self):
        for text in self.DAMAGED:
            with self.subTest(text=text):
                path = self.file(text, "model.json")
                with self.assertRaises(InputError) as caught:
                    read_json(path, "model")
                message = f"{caught.exception}"  # formatting it is what failed on PyPy
                self.assertIn("not a valid model file (damaged or truncated JSON: ", message)
                self.assertRegex(message, r"line \d+ column \d+ \(char \d+\)")
                self.assertNotIn("\n", message)

    def test_parse_json_reports_where_the_text_broke(self):
        with self.assertRaises(json.JSONDecodeError) as caught:
            parse_json('{"a": [1, 2],\n "b": \u00e9}')
        self.assertEqual((caught.exception.lineno, caught.exception.colno), (2, 7))
        self.assertEqual(f"{caught.exception}", "Expecting value: line 2 column 7 (char 20)")
        # the fast decoder's exception (whose message PyPy cannot print) is not attached
        self.assertNotIsInstance(caught.exception.__context__, json.JSONDecodeError)
        self.assertEqual(parse_json('{"a": [1, 2.5]}'), {"a": [1, 2.5]})


class WriteAtomicTest(TempFolderTest):
    def test_writes_the_text_and_leaves_no_temporary_file(self):
        path = os.path.join(self.folder.name, "out.json")
        write_atomic(path, "first\n")
        write_atomic(path, "second\n")
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "second\n")
        self.assertEqual(os.listdir(self.folder.name), ["out.json"])

    def test_a_failed_write_keeps_the_old_file(self):
        path = self.file("old contents", "out.json")
        with self.assertRaises(TypeError):
            write_atomic(path, None)  # writing fails half way: not text
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "old contents")
        self.assertEqual(os.listdir(self.folder.name), ["out.json"])

    def test_a_failed_rename_keeps_the_old_file(self):
        path = self.file("old contents", "out.json")
        with mock.patch("utils.os.replace", side_effect=OSError("disk gone")):
            with self.assertRaisesRegex(OSError, "disk gone"):
                write_atomic(path, "new contents")
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "old contents")
        self.assertEqual(os.listdir(self.folder.name), ["out.json"])

    def test_a_missing_folder_is_an_input_error(self):
        with self.assertRaisesRegex(InputError, "does not exist"):
            write_atomic(os.path.join(self.folder.name, "no", "out.json"), "x")

    def test_writing_onto_a_directory_is_an_input_error_and_leaves_it(self):
        with self.assertRaisesRegex(InputError, "is a directory, expected a file path"):
            write_atomic(self.folder.name, "x")
        self.assertEqual(os.listdir(self.folder.name), [])

    def test_check_writable(self):
        check_writable(os.path.join(self.folder.name, "new.json"))  # fine: nothing raised
        with self.assertRaisesRegex(InputError, "is a directory"):
            check_writable(self.folder.name)
        with self.assertRaisesRegex(InputError, "does not exist"):
            check_writable(os.path.join(self.folder.name, "no", "out.json"))

    def test_make_rng_is_private_and_reproducible(self):
        state = random.getstate()
        self.assertEqual(make_rng(3).random(), make_rng(3).random())
        self.assertEqual(random.getstate(), state)


if __name__ == "__main__":
    unittest.main()
