"""Charts of training curves: a standalone SVG line chart and a small text chart.

Standard library only. `line_chart_svg` returns the text of an SVG document that
any browser opens; `save_svg` writes it to disk atomically; `text_chart` draws a
series in plain ASCII for the terminal.

How a value becomes a pixel
---------------------------
The chart first picks an axis range [x_min, x_max] x [y_min, y_max] that covers
the data and ends on round tick values (steps of 1, 2 or 5 times a power of ten,
see `nice_ticks`). The plot box is the rectangle left..left+plot_width by
top..top+plot_height in pixels. Each axis is a linear map from data range to box:

    px = left + (x - x_min) / (x_max - x_min) * plot_width
    py = top  + (y_max - y) / (y_max - y_min) * plot_height

The y formula is flipped (y_max - y, not y - y_min) because SVG's y coordinate
grows downward: y_max lands on the top edge (py = top) and y_min on the bottom
edge (py = top + plot_height). With log_y=True the same map is applied to
log10(y) instead of y, so each power of ten takes the same height.

Values that are NaN or infinite (or not positive, on a log axis) cannot be
placed; they are skipped and break the curve into separate pieces, so a gap in
the line shows exactly where the data is missing.
"""

import math
import re
from xml.sax.saxutils import escape

from utils import write_atomic

# Okabe-Ito colour-blind-friendly palette (yellow left out: too pale on white).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"]
# Dash patterns cycle with a different length (5 against 7 colours), so the
# first 35 curves all differ in colour or dash, and curves read in grey too.
DASHES = ["", "8 4", "2 3", "10 3 2 3", "4 4"]

# Characters that XML 1.0 forbids even when escaped (control codes such as \x00).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text):
    """Escape user text (&, <, >, quotes) for use in SVG content or attributes."""
    text = _XML_FORBIDDEN.sub("", str(text))
    return escape(text, {'"': "&quot;", "'": "&apos;"})


def format_number(value):
    """Short label for a number: 0.3 not 0.30000000000000004, 1e+06 not 1000000.0."""
    if value == 0:
        return "0"  # also turns -0.0 into "0"
    return "{:.6g}".format(value)


def nice_ticks(low, high, max_ticks=6, integer=False):
    """Round tick values covering [low, high], spaced 1, 2 or 5 times a power of ten.

    The step is the smallest "nice" number at least (high - low) / (max_ticks - 1);
    the first tick is the largest multiple of the step <= low, the last the
    smallest multiple >= high. Example: 0.03..0.97 -> step 0.2 -> 0, 0.2, ..., 1.
    integer=True never uses a step below 1 (for epoch numbers).
    A zero range (low == high) is widened by 10% of |low| (or by 1 around 0).
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("tick range must be finite, got {}..{}".format(low, high))
    low, high = min(low, high), max(low, high)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw_step = (high - low) / max(max_ticks - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step * (1 - 1e-9))
    if integer:
        step = max(step, 1.0)
    # the small tolerance keeps 0.6 / 0.2 = 2.9999999999999996 from adding a tick
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    decimals = max(0, -math.floor(math.log10(step)))
    return [round(k * step, decimals) for k in range(first, last + 1)]


def _log_ticks(low, high, max_ticks=6):
    """Tick positions in log10 space: whole decades covering [low, high]."""
    first, last = math.floor(low), math.ceil(high)
    if first == last:
        first, last = first - 1, last + 1
    step = max(1, math.ceil((last - first) / max(max_ticks - 1, 1)))
    last = first + step * math.ceil((last - first) / step)
    return list(range(first, last + 1, step))


def _as_points(name, values):
    """Turn a list of y values (x = 1..n) or of (x, y) pairs into (x, y) floats."""
    points = []
    for index, value in enumerate(values):
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise ValueError("series {!r}: point {} should be (x, y), got {!r}".format(
                    name, index, value))
            points.append((float(value[0]), float(value[1])))
        else:
            points.append((float(index + 1), float(value)))
    return points


def _normalize_series(series):
    """Accept a mapping name -> values or a list of (name, values); return a list of pairs."""
    items = list(series.items()) if hasattr(series, "items") else list(series)
    if not items:
        raise ValueError("series is empty: give at least one curve, e.g. {'train': [0.9, 0.5]}")
    return [(str(name), _as_points(name, values)) for name, values in items]


def _split_at_gaps(points, usable):
    """Split a curve into runs of consecutive usable points; unusable ones are gaps."""
    runs, current = [], []
    for x, y in points:
        if usable(x, y):
            current.append((x, y))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def line_chart_svg(series, title="", x_label="epoch", y_label="loss",
                   width=720, height=420, log_y=False, x_from=None, marks=(), legend_chars=None):
    """Return a standalone SVG document plotting one line per series.

    series: mapping (or list of (name, values) pairs) of curve name -> list of
        y values, plotted at x = 1..n, or -> list of (x, y) pairs.
    log_y: use a base-10 logarithmic y axis (values <= 0 are skipped).
    x_from: start the x axis exactly there (epochs start at 1, not at the tick 0 below).
    marks: (x, label) pairs drawn as dashed vertical lines (<g class="mark">), e.g. the
        epoch whose weights early stopping kept.
    legend_chars: size the legend for names this long (charts stacked one under the other
        then share one plot width); by default the longest name's length.
    Each curve is a <g class="series" data-series="name"> holding one
    <polyline> per unbroken run of finite points (a lone point is a <circle>);
    the legend has one <g class="legend-entry" data-series="name"> per curve.
    The plot box is <rect class="plot-area">. Raises ValueError if there are
    no curves or no plottable value at all.
    """
    if width < 200 or height < 150:
        raise ValueError("chart needs width >= 200 and height >= 150, got {}x{}".format(width, height))
    curves = _normalize_series(series)

    def to_y(y):  # the value plotted on the y axis
        return math.log10(y) if log_y else y

    def usable(x, y):
        return math.isfinite(x) and math.isfinite(y) and (y > 0 or not log_y)

    runs_per_curve = [_split_at_gaps(points, usable) for _, points in curves]
    plotted = [(x, to_y(y)) for runs in runs_per_curve for run in runs for x, y in run]
    if not plotted:
        raise ValueError("no finite{} value to plot in series {}".format(
            " positive" if log_y else "", [name for name, _ in curves]))

    xs = [x for x, _ in plotted]
    ys = [y for _, y in plotted]
    x_ticks = nice_ticks(min(xs), max(xs), integer=all(x == int(x) for x in xs))
    x_min, x_max = x_ticks[0], x_ticks[-1]
    if x_from is not None and x_from < max(xs):
        # the axis runs from x_from to the last x exactly (epoch 1 to the last epoch), so the
        # curves fill the box; the round ticks in between stay
        x_min, x_max = x_from, max(xs)
        x_ticks = [x_from] + [t for t in x_ticks if x_from < t < x_max] + [x_max]
    if log_y:
        y_ticks = _log_ticks(min(ys), max(ys))
        y_labels = [format_number(10.0 ** k) for k in y_ticks]
    else:
        y_ticks = nice_ticks(min(ys), max(ys))
        y_labels = [format_number(t) for t in y_ticks]
    y_min, y_max = y_ticks[0], y_ticks[-1]

    # Layout: room for y tick labels on the left, title on top, tick labels and
    # the x label below, and the legend on the right (sized to the longest name).
    longest = legend_chars or max(len(name) for name, _ in curves)
    legend_width = min(width // 3, 44 + 7 * longest)
    left, top, bottom_margin = 70, 40, 50
    plot_width = width - left - legend_width - 10
    plot_height = height - top - bottom_margin

    def px(x):
        return left + (x - x_min) / (x_max - x_min) * plot_width

    def py(y):  # flipped: SVG's y grows downward
        return top + (y_max - y) / (y_max - y_min) * plot_height

    def num(value):
        return "{:.2f}".format(value).rstrip("0").rstrip(".")

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" '
           'viewBox="0 0 {0} {1}" font-family="sans-serif" font-size="12">'.format(width, height),
           '<rect width="100%" height="100%" fill="white"/>']
    if title:
        out.append('<text class="title" x="{}" y="24" text-anchor="middle" font-size="16">{}</text>'
                   .format(num(left + plot_width / 2), _xml_text(title)))

    # grid lines and tick labels
    out.append('<g class="grid" stroke="#e0e0e0" stroke-width="1">')
    for t in x_ticks:
        out.append('<line x1="{0}" y1="{1}" x2="{0}" y2="{2}"/>'.format(
            num(px(t)), top, top + plot_height))
    for t in y_ticks:
        out.append('<line x1="{1}" y1="{0}" x2="{2}" y2="{0}"/>'.format(
            num(py(t)), left, left + plot_width))
    out.append('</g>')
    out.append('<g class="x-ticks" text-anchor="middle">')
    for t in x_ticks:
        out.append('<text x="{}" y="{}">{}</text>'.format(
            num(px(t)), top + plot_height + 16, format_number(t)))
    out.append('</g>')
    out.append('<g class="y-ticks" text-anchor="end">')
    for t, label in zip(y_ticks, y_labels):
        out.append('<text x="{}" y="{}">{}</text>'.format(left - 6, num(py(t) + 4), label))
    out.append('</g>')
    out.append('<rect class="plot-area" x="{}" y="{}" width="{}" height="{}" fill="none" '
               'stroke="#333"/>'.format(left, top, num(plot_width), num(plot_height)))
    out.append('<text class="x-label" x="{}" y="{}" text-anchor="middle">{}</text>'.format(
        num(left + plot_width / 2), height - 12, _xml_text(x_label)))
    out.append('<text class="y-label" x="16" y="{0}" text-anchor="middle" '
               'transform="rotate(-90 16 {0})">{1}</text>'.format(
                   num(top + plot_height / 2), _xml_text(y_label)))

    for x, label in marks:
        if x_min <= x <= x_max:
            # the label beside the line, on the side with room (left of a line in the right half)
            right_half = px(x) > left + plot_width / 2
            out.append('<g class="mark"><line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#555" '
                       'stroke-dasharray="4 3"/><text x="{3}" y="{4}" font-size="11" fill="#333" '
                       'text-anchor="{5}">{6}</text></g>'.format(
                           num(px(x)), top, top + plot_height, num(px(x) + (-4 if right_half else 4)),
                           top + 12, "end" if right_half else "start", _xml_text(label)))

    # curves, then the legend
    legend_x, max_chars = left + plot_width + 16, max(1, (legend_width - 44) // 7)
    legend = ['<g class="legend">']
    for index, ((name, _), runs) in enumerate(zip(curves, runs_per_curve)):
        colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        style = 'stroke="{}" stroke-width="2" fill="none"'.format(colour)
        if dash:
            style += ' stroke-dasharray="{}"'.format(dash)
        out.append('<g class="series" data-series="{}" {}>'.format(_xml_text(name), style))
        for run in runs:
            pixels = [(px(x), py(to_y(y))) for x, y in run]
            if len(pixels) == 1:  # a polyline of one point draws nothing
                out.append('<circle cx="{}" cy="{}" r="3" fill="{}"/>'.format(
                    num(pixels[0][0]), num(pixels[0][1]), colour))
            else:
                out.append('<polyline points="{}"/>'.format(
                    " ".join(num(a) + "," + num(b) for a, b in pixels)))
        out.append('</g>')
        shown = name if len(name) <= max_chars else name[:max_chars - 1] + "\u2026"
        row_y = top + 10 + 18 * index
        legend.append('<g class="legend-entry" data-series="{}">'.format(_xml_text(name)))
        legend.append('<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" {3}/>'.format(
            legend_x, row_y, legend_x + 28, style))
        legend.append('<text x="{}" y="{}">{}</text></g>'.format(
            legend_x + 34, row_y + 4, _xml_text(shown)))
    out.extend(legend)
    out.append('</g>')
    out.append('</svg>')
    return "\n".join(out) + "\n"


def save_svg(path, svg_text):
    """Save SVG text (from line_chart_svg) to path atomically, never half a file."""
    write_atomic(path, svg_text)


def text_chart(values, width=60, height=12, label="loss"):
    """Draw a series as an ASCII chart: `height` rows of at most `width` columns.

    Column c shows the mean of the values that fall into it when there are more
    values than columns (downsampling); otherwise one column per value. The
    vertical axis spans the series itself: the top row is labelled with its
    largest value and the bottom row with its smallest (not with the largest and
    smallest column mean, which would hide a first epoch's loss of 1.06 behind
    0.85), and the line below the axis gives the first and last epoch (1 and len(values)).
    NaN and infinite values are skipped; constant series sit on the middle row.
    """
    if width < 2 or height < 2:
        raise ValueError("text_chart needs width >= 2 and height >= 2, got {}x{}".format(width, height))
    values = [float(v) for v in values]
    if not any(math.isfinite(v) for v in values):
        raise ValueError("text_chart needs at least one finite value, got {!r}".format(values[:5]))
    n = len(values)
    n_columns = min(n, width)
    columns = []  # mean of each column's finite values, or None for a gap
    for c in range(n_columns):
        bucket = [v for v in values[c * n // n_columns:(c + 1) * n // n_columns] if math.isfinite(v)]
        columns.append(sum(bucket) / len(bucket) if bucket else None)

    finite = [v for v in values if math.isfinite(v)]
    low, high = min(finite), max(finite)  # a column mean always lies between the two
    grid = [[" "] * n_columns for _ in range(height)]  # grid[0] is the top row
    for c, v in enumerate(columns):
        if v is None:
            continue
        if high == low:
            row = height // 2
        else:  # same linear map as the SVG, y flipped: high -> row 0
            row = round((high - v) / (high - low) * (height - 1))
        grid[row][c] = "*"

    high_label, low_label = "{:.4g}".format(high), "{:.4g}".format(low)
    pad = max(len(high_label), len(low_label))
    lines = [label]
    for r, cells in enumerate(grid):
        tick = high_label if r == 0 else low_label if r == height - 1 else ""
        lines.append("{} |{}".format(tick.rjust(pad), "".join(cells)).rstrip())
    lines.append(" " * pad + " +" + "-" * n_columns)
    x_range = "1" if n == 1 else "1" + " " * max(1, n_columns - 1 - len(str(n))) + str(n)
    lines.append(" " * (pad + 2) + x_range + "  (epoch)")
    return "\n".join(lines)
