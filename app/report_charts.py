"""The small SVG pictures of the training report: histograms, heat maps, scatter plots, images.

Each function returns one standalone <svg> element as text (no XML declaration, so it can
sit inside an HTML page), drawn by hand with the standard library. Text never runs past
its picture: labels are measured with a fixed width per character (TEXT_WIDTH, a little
more than a sans-serif digit at 11 px) and cut with an ellipsis when too long, so the
tests can check every label against the drawing's width.

    histograms_svg     one row of histograms, side by side on a shared x axis (weights at epochs)
    heatmap_svg        a grid of coloured cells with labels (gradient norms, a confusion matrix)
    scatter_svg        points with a reference line (predicted against true, residuals)
    images_svg         a grid of grey images with captions (mistakes, filters, feature maps)
"""

import math

from app.charts import _xml_text, format_number

TEXT_WIDTH = 6.5  # pixels per character at font-size 11: the width check of every label uses it
FONT = 'font-family="sans-serif" font-size="11"'


def fit_text(text, pixels):
    """`text` cut (with an ellipsis) to fit in `pixels` at TEXT_WIDTH per character."""
    text = str(text)
    room = max(1, int(pixels // TEXT_WIDTH))
    return text if len(text) <= room else text[:max(1, room - 1)] + "\u2026"


def _label(x, y, text, pixels, anchor="middle", extra=""):
    return '<text x="{:.1f}" y="{:.1f}" text-anchor="{}" data-room="{:.0f}"{}>{}</text>'.format(
        x, y, anchor, pixels, extra, _xml_text(fit_text(text, pixels)))


def _open(width, height, kind):
    return ['<svg xmlns="http://www.w3.org/2000/svg" class="{}" width="{}" height="{}" viewBox="0 0 {} {}" {}>'
            .format(kind, width, height, width, height, FONT), '<rect width="100%" height="100%" fill="white"/>']


# --------------------------------------------------------------- histograms
def histograms_svg(groups, bins=24, panel_width=170, height=150):
    """One histogram per (caption, values) in `groups`, side by side, all on the x range of the
    widest group, so a distribution that spreads or shifts from epoch to epoch shows it."""
    finite = [[v for v in values if math.isfinite(v)] for _, values in groups]
    everything = [v for values in finite for v in values]
    low, high = (min(everything), max(everything)) if everything else (0.0, 1.0)
    if high == low:
        low, high = low - 0.5, high + 0.5
    width = panel_width * len(groups)
    out = _open(width, height, "histograms")
    top, bottom = 18, height - 30
    for index, ((caption, _), values) in enumerate(zip(groups, finite)):
        left = index * panel_width + 8
        inner = panel_width - 16
        counts = [0] * bins
        for v in values:
            counts[min(bins - 1, int((v - low) / (high - low) * bins))] += 1
        tallest = max(counts) or 1
        bar = inner / bins
        out.append(_label(left + inner / 2, 12, caption, inner))
        for b, count in enumerate(counts):
            if count:
                h = (bottom - top) * count / tallest
                out.append('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="#0072B2"/>'.format(
                    left + b * bar, bottom - h, max(bar - 0.5, 0.5), h))
        out.append('<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#333"/>'.format(left, bottom, left + inner))
        out.append(_label(left, bottom + 13, format_number(float("{:.3g}".format(low))), inner / 2, "start"))
        out.append(_label(left + inner, bottom + 13, format_number(float("{:.3g}".format(high))), inner / 2, "end"))
        dropped = len(groups[index][1]) - len(values)
        count = "{:,} values".format(len(values)) + (", {:,} NaN/inf".format(dropped) if dropped else "")
        out.append(_label(left + inner / 2, bottom + 26, count, inner))
    out.append("</svg>")
    return "\n".join(out)


# ----------------------------------------------------------------- heat maps
def _blend(share):
    """White (0) to dark blue (1): the colour of a heat-map cell."""
    share = min(1.0, max(0.0, share))
    low, high = (255, 255, 255), (8, 48, 107)
    return "#" + "".join("{:02x}".format(round(a + (b - a) * share)) for a, b in zip(low, high))


def heatmap_svg(values, row_labels, column_labels, title="", log_scale=False, cell=None, number_format="{:.2g}",
                row_title="", column_title="", power=1.0, value_range=None):
    """A grid of cells coloured by value (on a log scale when asked: gradient norms span
    decades), each with its number written in it, rows and columns labelled. power < 1 lifts
    small values (a confusion matrix's few mistakes would be white beside its diagonal).
    value_range fixes the colour scale (values outside it are clamped), so two reports compare."""
    n_rows, n_cols = len(values), len(values[0]) if values else 0
    cell = cell or max(22, min(56, 640 // max(n_cols, 1)))
    texts = [[number_format.format(v) if v is not None and math.isfinite(v) else "-" for v in row] for row in values]
    # numbers only where every one fits its cell; otherwise the colours and the scale below speak
    numbers = all(len(t) * TEXT_WIDTH <= cell - 2 for row in texts for t in row)
    label_width = min(180, 12 + TEXT_WIDTH * max([len(str(label)) for label in row_labels] + [4]))
    left, top = label_width + 8 + (14 if row_title else 0), 28 + (14 if column_title else 0)
    width, height = int(left + cell * n_cols + 10), int(top + cell * n_rows + 10 + (0 if numbers else 18))
    out = _open(width, height, "heatmap")
    if title:
        out.append(_label(width / 2, 12, title, width - 8, extra=' font-weight="bold"'))
    if column_title:
        out.append(_label(left + cell * n_cols / 2, 26, column_title, cell * n_cols))
    if row_title:
        out.append('<text x="10" y="{0:.1f}" text-anchor="middle" transform="rotate(-90 10 {0:.1f})" '
                   'data-room="{1:.0f}">{2}</text>'.format(top + cell * n_rows / 2, cell * n_rows,
                                                          _xml_text(fit_text(row_title, cell * n_rows))))
    flat = [v for row in values for v in row if v is not None and math.isfinite(v) and (v > 0 or not log_scale)]
    low, high = (min(flat), max(flat)) if flat else (0.0, 1.0)
    if value_range is not None:
        low, high = value_range

    def share(v):
        if log_scale:
            s = (math.log10(v) - math.log10(low)) / (math.log10(high) - math.log10(low)) if high > low else 0.5
        else:
            s = (v - low) / (high - low) if high > low else 0.5
        return min(1.0, max(0.0, s))

    for c, label in enumerate(column_labels):
        out.append(_label(left + (c + 0.5) * cell, top - 4, label, cell))
    for r, (row, label) in enumerate(zip(values, row_labels)):
        y = top + r * cell
        out.append(_label(left - 6, y + cell / 2 + 4, label, label_width, "end"))
        for c, v in enumerate(row):
            usable = v is not None and math.isfinite(v) and (v > 0 or not log_scale)
            s = share(v) ** power if usable else 0.0
            out.append('<rect x="{:.1f}" y="{:.1f}" width="{}" height="{}" fill="{}" stroke="#fff"/>'.format(
                left + c * cell, y, cell, cell, _blend(s) if usable else "#eeeeee"))
            if numbers:
                out.append(_label(left + (c + 0.5) * cell, y + cell / 2 + 4, texts[r][c], cell - 2,
                                  extra=' fill="{}"'.format("#ffffff" if s > 0.55 else "#222222")))
    if not numbers:
        scale = "lightest {}, darkest {}{}".format(number_format.format(low), number_format.format(high),
                                                  " (log scale)" if log_scale else "")
        out.append(_label(left, top + cell * n_rows + 16, scale, width - left - 4, "start"))
    out.append("</svg>")
    return "\n".join(out)


# ------------------------------------------------------------------- scatter
def scatter_svg(xs, ys, x_label, y_label, title="", diagonal=False, zero_line=False, size=300):
    """Points (x, y) with labelled axes; a dashed y = x line (perfect predictions) or y = 0 line."""
    width, height = size + 70, size + 60
    left, top = 56, 24
    points = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    lows = [min(v for v, _ in points), min(v for _, v in points)] if points else [0.0, 0.0]
    highs = [max(v for v, _ in points), max(v for _, v in points)] if points else [1.0, 1.0]
    if diagonal:  # one range for both axes, so y = x is the diagonal of the box
        lows = [min(lows)] * 2
        highs = [max(highs)] * 2
    ranges = [(lo, hi) if hi > lo else (lo - 0.5, hi + 0.5) for lo, hi in zip(lows, highs)]

    def px(x):
        return left + (x - ranges[0][0]) / (ranges[0][1] - ranges[0][0]) * size

    def py(y):
        return top + (ranges[1][1] - y) / (ranges[1][1] - ranges[1][0]) * size

    out = _open(width, height, "scatter")
    if title:
        out.append(_label(width / 2, 14, title, width - 8, extra=' font-weight="bold"'))
    out.append('<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>'.format(left, top, size, size))
    if diagonal:
        out.append('<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#D55E00" stroke-dasharray="5 4"/>'
                   .format(px(ranges[0][0]), py(ranges[0][0]), px(ranges[0][1]), py(ranges[0][1])))
    if zero_line and ranges[1][0] < 0 < ranges[1][1]:
        out.append('<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="#D55E00" stroke-dasharray="5 4"/>'
                   .format(left, py(0.0), left + size, py(0.0)))
    for x, y in points:
        out.append('<circle cx="{:.1f}" cy="{:.1f}" r="2.5" fill="#0072B2" fill-opacity="0.6"/>'.format(px(x), py(y)))
    for value, anchor, x in ((ranges[0][0], "start", left), (ranges[0][1], "end", left + size)):
        out.append(_label(x, top + size + 14, "{:.3g}".format(value), size / 2, anchor))
    for value, y in ((ranges[1][0], top + size), (ranges[1][1], top + 10)):
        out.append(_label(left - 4, y, "{:.3g}".format(value), left - 6, "end"))
    out.append(_label(left + size / 2, top + size + 32, x_label, size))
    out.append('<text x="12" y="{0:.1f}" text-anchor="middle" transform="rotate(-90 12 {0:.1f})" '
               'data-room="{1}">{2}</text>'.format(top + size / 2, size, _xml_text(fit_text(y_label, size))))
    out.append("</svg>")
    return "\n".join(out)


# -------------------------------------------------------------------- images
def images_svg(images, captions, pixel=None, columns=8, signed=False):
    """Grey images (each a list of rows of numbers) in a grid, each with a caption under it.
    Each image is scaled to its own range (black = its largest value); with signed=True
    (filters, whose weights are negative and positive) zero is mid-grey."""
    if not images:
        return ""
    rows_px, cols_px = len(images[0]), len(images[0][0])
    pixel = pixel or max(2, min(8, 72 // max(rows_px, cols_px)))
    tile_w = max(cols_px * pixel, 64)
    tile_h = rows_px * pixel + 30
    columns = min(columns, len(images))
    n_rows = (len(images) + columns - 1) // columns
    width, height = columns * (tile_w + 10) + 10, n_rows * (tile_h + 8) + 8
    out = _open(width, height, "images")
    for index, (image, caption) in enumerate(zip(images, captions)):
        x0 = 10 + (index % columns) * (tile_w + 10) + (tile_w - cols_px * pixel) / 2
        y0 = 8 + (index // columns) * (tile_h + 8)
        values = [v for row in image for v in row]
        low, high = min(values), max(values)
        if signed:
            bound = max(abs(low), abs(high)) or 1.0
            low, high = -bound, bound
        span = (high - low) or 1.0
        for r, row in enumerate(image):
            for c, v in enumerate(row):
                grey = 255 - round(255 * (v - low) / span)
                if grey < 250:  # white cells are the background already
                    out.append('<rect x="{:.1f}" y="{:.1f}" width="{}" height="{}" fill="rgb({g},{g},{g})"/>'
                               .format(x0 + c * pixel, y0 + r * pixel, pixel, pixel, g=grey))
        out.append('<rect x="{:.1f}" y="{:.1f}" width="{}" height="{}" fill="none" stroke="#999"/>'.format(
            x0, y0, cols_px * pixel, rows_px * pixel))
        lines = str(caption).split("\n")
        centre = 10 + (index % columns) * (tile_w + 10) + tile_w / 2
        for k, line in enumerate(lines[:2]):
            out.append(_label(centre, y0 + rows_px * pixel + 12 + 12 * k, line, tile_w + 8))
    out.append("</svg>")
    return "\n".join(out)
