"""Tests for charts.py: SVG structure, ticks, the value-to-pixel map, atomic saving, text charts."""

import math
import os
import shutil
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from collections import OrderedDict
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import charts  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg_text):
    return ET.fromstring(svg_text.encode("utf-8"))


def groups(root, css_class):
    return [g for g in root.iter(SVG + "g") if g.get("class") == css_class]


def polyline_points(element):
    """The (px, py) pixel pairs of a <polyline>."""
    return [tuple(float(c) for c in pair.split(",")) for pair in element.get("points").split()]


def plot_area(root):
    rect = next(r for r in root.iter(SVG + "rect") if r.get("class") == "plot-area")
    return tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))


def make_series(count):
    return OrderedDict(("run {}".format(i), [1.0 / (e + i + 1) for e in range(10)])
                       for i in range(count))


class LineChartStructureTest(unittest.TestCase):
    def test_svg_is_well_formed_with_namespace_and_viewbox(self):
        root = parse(charts.line_chart_svg({"train": [0.9, 0.5, 0.3]}, title="Loss"))
        self.assertEqual(root.tag, SVG + "svg")
        self.assertEqual(root.get("viewBox"), "0 0 720 420")
        texts = [t.text for t in root.iter(SVG + "text")]
        self.assertIn("Loss", texts)
        self.assertIn("epoch", texts)
        self.assertIn("loss", texts)

    def test_one_curve_and_one_legend_entry_per_series(self):
        for count in (1, 2, 5):
            root = parse(charts.line_chart_svg(make_series(count)))
            curves = groups(root, "series")
            self.assertEqual(len(curves), count)
            self.assertEqual(len(list(root.iter(SVG + "polyline"))), count)
            self.assertEqual(len(groups(root, "legend-entry")), count)
            self.assertEqual([g.get("data-series") for g in curves], list(make_series(count)))

    def test_list_of_pairs_is_accepted_like_a_mapping(self):
        pairs = [("b", [3.0, 2.0]), ("a", [1.0, 0.5])]
        self.assertEqual(charts.line_chart_svg(pairs), charts.line_chart_svg(OrderedDict(pairs)))

    def test_many_curves_cycle_the_palette_but_differ_in_colour_or_dash(self):
        root = parse(charts.line_chart_svg(make_series(12)))
        styles = [(g.get("stroke"), g.get("stroke-dasharray")) for g in groups(root, "series")]
        self.assertEqual(len(set(styles)), 12)
        self.assertTrue(all(colour in charts.PALETTE for colour, _ in styles))
        self.assertEqual(styles[0][0], styles[len(charts.PALETTE)][0])

    def test_names_with_markup_characters_are_escaped_and_parse(self):
        name = 'val <b> & "quoted" \'x\''
        svg = charts.line_chart_svg({name: [1.0, 2.0]}, title="a < b & c", y_label='"y"')
        self.assertNotIn("<b>", svg)
        root = parse(svg)
        self.assertEqual(groups(root, "series")[0].get("data-series"), name)
        legend_texts = [t.text for t in groups(root, "legend-entry")[0].iter(SVG + "text")]
        self.assertEqual(legend_texts, [name])
        self.assertIn("a < b & c", [t.text for t in root.iter(SVG + "text")])

    def test_empty_series_raises_value_error(self):
        with self.assertRaises(ValueError):
            charts.line_chart_svg({})
        with self.assertRaises(ValueError):
            charts.line_chart_svg([])
        with self.assertRaises(ValueError):
            charts.line_chart_svg({"all nan": [float("nan"), float("inf")]})


class TickTest(unittest.TestCase):
    def test_ticks_for_hand_computed_range_step_by_two_tenths(self):
        # range 0.94 over 5 intervals needs a step >= 0.188; the next 1-2-5 step is 0.2
        self.assertEqual(charts.nice_ticks(0.03, 0.97), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])

    def test_ticks_cover_data_and_use_round_steps(self):
        for low, high in [(0.03, 0.97), (-3.7, 12.2), (1e-4, 3e-3), (250.0, 1890.0), (0.1, 0.7)]:
            ticks = charts.nice_ticks(low, high)
            self.assertLessEqual(ticks[0], low)
            self.assertGreaterEqual(ticks[-1], high)
            step = ticks[1] - ticks[0]
            mantissa = step / 10 ** math.floor(math.log10(step))
            self.assertTrue(any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5)), (low, high, step))
            self.assertLessEqual(len(ticks), 8)

    def test_tick_labels_are_compact(self):
        # step 0.1: 3 * 0.1 is 0.30000000000000004 in floating point
        root = parse(charts.line_chart_svg({"a": [0.1, 0.5]}))
        labels = [t.text for g in groups(root, "y-ticks") for t in g.iter(SVG + "text")]
        self.assertEqual(labels, ["0.1", "0.2", "0.3", "0.4", "0.5"])

    def test_epoch_axis_uses_whole_numbers(self):
        self.assertEqual(charts.nice_ticks(1, 3, integer=True), [1.0, 2.0, 3.0])

    def test_zero_range_is_widened(self):
        ticks = charts.nice_ticks(0.5, 0.5)
        self.assertLess(ticks[0], 0.5)
        self.assertGreater(ticks[-1], 0.5)
        self.assertEqual(charts.nice_ticks(0.0, 0.0), [-1.0, -0.5, 0.0, 0.5, 1.0])


class MappingTest(unittest.TestCase):
    def test_min_at_bottom_and_max_at_top_of_plot_area(self):
        # 0 and 1 are tick values, so they land exactly on the plot box edges
        root = parse(charts.line_chart_svg({"loss": [1.0, 0.5, 0.0]}))
        left, top, width, height = plot_area(root)
        points = polyline_points(next(root.iter(SVG + "polyline")))
        self.assertEqual(len(points), 3)
        (x1, y1), (x2, y2), (x3, y3) = points
        self.assertAlmostEqual(y1, top, delta=0.01)              # max -> top edge
        self.assertAlmostEqual(y3, top + height, delta=0.01)     # min -> bottom edge
        self.assertAlmostEqual(y2, top + height / 2, delta=0.01)
        self.assertAlmostEqual(x1, left, delta=0.01)             # epoch 1 -> left edge
        self.assertAlmostEqual(x3, left + width, delta=0.01)     # epoch 3 -> right edge

    def test_log_axis_puts_decades_at_equal_heights(self):
        root = parse(charts.line_chart_svg({"loss": [100.0, 10.0, 1.0]}, log_y=True))
        (_, y1), (_, y2), (_, y3) = polyline_points(next(root.iter(SVG + "polyline")))
        self.assertAlmostEqual(y2 - y1, y3 - y2, delta=0.02)
        self.assertLess(y1, y3)

    def test_explicit_xy_pairs_are_placed_at_their_x(self):
        root = parse(charts.line_chart_svg({"a": [(0, 0.0), (5, 1.0), (10, 0.5)]}))
        left, _, width, _ = plot_area(root)
        xs = [x for x, _ in polyline_points(next(root.iter(SVG + "polyline")))]
        self.assertAlmostEqual(xs[1], left + width / 2, delta=0.01)


class EdgeCaseTest(unittest.TestCase):
    def test_nan_breaks_the_line_into_two_pieces(self):
        root = parse(charts.line_chart_svg({"a": [1.0, 0.8, float("nan"), 0.5, 0.4, 0.3]}))
        pieces = [polyline_points(p) for p in groups(root, "series")[0].iter(SVG + "polyline")]
        self.assertEqual([len(p) for p in pieces], [2, 3])

    def test_infinity_is_skipped(self):
        root = parse(charts.line_chart_svg({"a": [1.0, 0.5, float("inf"), 0.2, 0.1]}))
        self.assertEqual(len(list(root.iter(SVG + "polyline"))), 2)
        self.assertNotIn("inf", charts.line_chart_svg({"a": [1.0, float("inf"), 0.2]}))

    def test_single_point_is_drawn_as_a_marker(self):
        root = parse(charts.line_chart_svg({"a": [0.42]}))
        curve = groups(root, "series")[0]
        self.assertEqual(len(list(curve.iter(SVG + "circle"))), 1)
        self.assertEqual(len(list(curve.iter(SVG + "polyline"))), 0)

    def test_constant_series_lies_inside_the_plot_area(self):
        root = parse(charts.line_chart_svg({"a": [2.0, 2.0, 2.0]}))
        _, top, _, height = plot_area(root)
        ys = {y for _, y in polyline_points(next(root.iter(SVG + "polyline")))}
        self.assertEqual(len(ys), 1)
        self.assertTrue(top < ys.pop() < top + height)

    def test_curves_of_different_lengths_share_the_x_axis(self):
        root = parse(charts.line_chart_svg({"long": [1.0] * 10, "short": [0.5] * 3}))
        left, _, width, _ = plot_area(root)
        long_curve, short_curve = [polyline_points(p) for p in root.iter(SVG + "polyline")]
        self.assertAlmostEqual(long_curve[-1][0], left + width, delta=0.01)
        self.assertLess(short_curve[-1][0], left + width / 2)


class SaveSvgTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.path = os.path.join(self.folder, "loss.svg")

    def tearDown(self):
        shutil.rmtree(self.folder)

    def test_saved_file_parses_and_no_temp_files_remain(self):
        charts.save_svg(self.path, charts.line_chart_svg({"a": [1.0, 0.5]}))
        ET.parse(self.path)
        self.assertEqual(os.listdir(self.folder), ["loss.svg"])

    def test_failed_write_keeps_old_file_and_removes_temp_file(self):
        old = charts.line_chart_svg({"old": [1.0, 0.5]})
        charts.save_svg(self.path, old)
        with mock.patch.object(os, "replace", side_effect=OSError("disk full")):
            with self.assertRaises(OSError):
                charts.save_svg(self.path, charts.line_chart_svg({"new": [2.0, 1.0]}))
        with open(self.path, encoding="utf-8") as file:
            self.assertEqual(file.read(), old)
        self.assertEqual(os.listdir(self.folder), ["loss.svg"])


class TextChartTest(unittest.TestCase):
    def plot_rows(self, chart):
        return [line for line in chart.splitlines() if "|" in line]

    def test_has_requested_height_and_labels_max_and_min(self):
        chart = charts.text_chart([0.9, 0.7, 0.4, 0.2, 0.1], width=20, height=7)
        rows = self.plot_rows(chart)
        self.assertEqual(len(rows), 7)
        self.assertTrue(rows[0].startswith("0.9 |*"))
        self.assertTrue(rows[-1].startswith("0.1 |"))
        self.assertTrue(rows[-1].endswith("*"))
        self.assertEqual(chart.splitlines()[0], "loss")

    def test_long_series_is_downsampled_by_column_means(self):
        values = [1.0] * 50 + [3.0] * 50
        chart = charts.text_chart(values, width=10, height=5)
        rows = self.plot_rows(chart)
        self.assertTrue(all(len(row.split("|", 1)[1]) <= 10 for row in rows))
        self.assertEqual(rows[0].split("|", 1)[1], "     *****")
        self.assertEqual(rows[-1].split("|", 1)[1], "*****")
        self.assertIn("100", chart.splitlines()[-1])  # last epoch below the axis

    def test_single_and_constant_values(self):
        for values in ([3.0], [2.0, 2.0, 2.0]):
            chart = charts.text_chart(values, height=6)
            self.assertEqual(len(self.plot_rows(chart)), 6)
            self.assertEqual(chart.count("*"), len(values))

    def test_no_finite_value_raises_value_error(self):
        with self.assertRaises(ValueError):
            charts.text_chart([])
        with self.assertRaises(ValueError):
            charts.text_chart([float("nan")])


if __name__ == "__main__":
    unittest.main()
