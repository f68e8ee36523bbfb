"""The training report: one self-contained HTML page of pictures of a run.

    python main.py --report                  writes model_report.html beside the model
    python main.py --report run.html         (or "output": {"report": "run.html"} in the config)

The page holds inline SVG and CSS only (no script, nothing fetched), so it opens offline in
any browser and prints. It shows the run (data, config, Python, date, wall time, scores,
the model summary), the training curves and the learning rate, per layer the distribution
of the weights and of the gradients at several epochs, the gradient norm of every layer in
every epoch as a heat map (vanishing and exploding gradients show at a glance), and, by
kind of run: the confusion matrix and per-class precision and recall; the test images the
model got wrong; a CNN's first filters and one image's feature maps; predicted against
true values and the residuals for a regression.

ReportCollector is the callback that gathers what training alone knows. Off, it costs
nothing (it is simply not in the list); on, it copies the weights and one batch's gradients
at a handful of epochs and adds one sum of squares per weight matrix per batch.
"""

import datetime
import html
import json
import math
import platform
from operator import mul

from app.charts import line_chart_svg
from app.progress import training_chart_svg
from app.report_charts import heatmap_svg, histograms_svg, images_svg, scatter_svg
from callbacks import Callback

GRADIENT_RANGE = (1e-5, 10.0)  # the heat map's fixed colour scale, so that two reports compare
MAX_VALUES = 4000  # values kept per histogram: a sample, so a big layer neither slows nor bloats the page


def snapshot_epochs(epochs, count=4):
    """The epochs whose weights the report shows: the first, the last and evenly between."""
    return sorted({1, epochs} | {max(1, round(epochs * k / (count - 1))) for k in range(1, count - 1)})


def _sample(rows, limit=MAX_VALUES):
    values = [v for row in rows for v in row]
    step = max(1, len(values) // limit)
    return values[::step]


def _weights(layer):
    """The layer's weight matrices: Dense's and Conv2D's `weight`, a recurrent layer's
    `weight_ih` and `weight_hh`, attention's projections; not biases, nor the (1, features)
    `weight` of a normalization layer (its per-feature scale)."""
    return [p for p in layer.parameters() if "weight" in p.name and not (p.name == "weight" and p.value.shape[0] == 1)]


class ReportCollector(Callback):
    """Gathers, while fit runs: per layer with a weight, a sample of its weights and of its
    gradients at snapshot epochs (the gradient of the epoch's last batch), and the mean
    gradient norm of every epoch. After fit, `finish` adds the test predictions."""

    def __init__(self):
        self.layers, self.snapshots, self.grad_norms, self.epochs = [], [], [], []
        self.wall_seconds, self.test, self.history, self.network, self.error = 0.0, None, {}, None, ""

    def on_train_begin(self, run):
        self.history, self.network = run.history, run.network
        self.watch = [(index, layer, weight) for index, layer in enumerate(run.layers) for weight in _weights(layer)]
        many = {index for index, layer, _ in self.watch if len(_weights(layer)) > 1}
        # a layer with several weight matrices: its class and the matrix's name, short enough that
        # the heat map's row labels still tell weight_ih from weight_hh
        self.layers = ["{} {} {}".format(index + 1, type(layer).__name__, weight.name) if index in many
                       else "{} {!r}".format(index + 1, layer) for index, layer, weight in self.watch]
        self.chosen = set(snapshot_epochs(run.epochs))
        self.started = datetime.datetime.now()

    def on_epoch_begin(self, run):
        self.sums = [0.0] * len(self.watch)
        self.batches = 0

    def on_backward_end(self, run):
        for k, (_, _, weight) in enumerate(self.watch):
            self.sums[k] += math.sqrt(sum([sum(map(mul, row, row)) for row in weight.grad.rows]))
        self.batches += 1
        if run.epoch in self.chosen and run.batch == len(run.batches):
            self.snapshots.append({"epoch": run.epoch,
                                   "weights": [_sample(w.value.rows) for _, _, w in self.watch],
                                   "gradients": [_sample(w.grad.rows) for _, _, w in self.watch]})

    def on_epoch_end(self, run):
        self.epochs.append(run.epoch)
        self.grad_norms.append([s / max(self.batches, 1) for s in self.sums])

    def teardown(self, run):
        """Also after an exception: a run that diverged mid-epoch keeps that epoch's norms so far."""
        self.wall_seconds = (datetime.datetime.now() - self.started).total_seconds()
        if self.batches and len(self.epochs) < run.epoch:
            self.epochs.append(run.epoch)
            self.grad_norms.append([s / self.batches for s in self.sums])
            self.snapshots.append({"epoch": "{}, batch {}".format(run.epoch, run.batch),  # where it stopped
                                   "weights": [_sample(w.value.rows) for _, _, w in self.watch],
                                   "gradients": [_sample(w.grad.rows) for _, _, w in self.watch]})

    def finish(self, network, X_test, truth, predicted, task, class_names=None, image_shape=None):
        """The test rows after training: X_test (normalized inputs), the true and predicted classes
        (classification) or values (regression, as lists), for the pictures of the results."""
        self.test = {"network": network, "X": X_test, "truth": truth, "predicted": predicted, "task": task,
                     "class_names": class_names, "image_shape": image_shape}


# ------------------------------------------------------------------- sections
def _section(title, body, note=""):
    note = '<p class="note">{}</p>'.format(html.escape(note)) if note else ""
    return '<section><h2>{}</h2>{}{}</section>'.format(html.escape(title), note, body)


def _figure(svg, caption):
    return '<figure>{}<figcaption>{}</figcaption></figure>'.format(svg, html.escape(caption))


def _run_section(info, scores_lines, summary, config):
    rows = "".join("<tr><th>{}</th><td>{}</td></tr>".format(html.escape(k), html.escape(str(v)))
                   for k, v in info)
    scores = "<h3>Scores on the test rows</h3><pre>{}</pre>".format(html.escape("\n".join(scores_lines))) \
        if scores_lines else ""
    return _section("The run", '<table class="facts">{}</table>{}<h3>Model</h3><pre>{}</pre>'
                    '<details><summary>The config (JSON)</summary><pre>{}</pre></details>'.format(
                        rows, scores, html.escape(summary), html.escape(json.dumps(config, indent=1))))


def _curves_section(history, marks, title):
    body = _figure(training_chart_svg(history, title=title, marks=marks, width=720).split("\n", 1)[1],
                   "Loss (top) and metric (bottom) per epoch, training and validation.")
    if len(set(history.get("lr", []))) > 1:
        body += _figure(line_chart_svg({"learning rate": history["lr"]}, title="Learning rate", y_label="lr",
                                       width=720, height=240, x_from=1).split("\n", 1)[1],
                        "The learning rate of each epoch (the schedule).")
    return _section("Training curves", body)


def _layers_section(collector):
    if not collector.layers:
        return ""
    body = ""
    for k, name in enumerate(collector.layers):
        weights = [("epoch {}".format(s["epoch"]), s["weights"][k]) for s in collector.snapshots]
        grads = [("epoch {}".format(s["epoch"]), s["gradients"][k]) for s in collector.snapshots]
        body += "<h3>Layer {}</h3>".format(html.escape(name))
        body += _figure(histograms_svg(weights), "Weights at several epochs (one shared axis).")
        body += _figure(histograms_svg(grads), "Gradients of the last batch of those epochs.")
    epochs = collector.epochs
    if not epochs:
        return _section("Inside the layers", body)
    step = max(1, len(epochs) // 30)  # at most ~30 columns
    columns = list(range(0, len(epochs), step))
    values = [[collector.grad_norms[e][k] for e in columns] for k in range(len(collector.layers))]
    heat = heatmap_svg(values, collector.layers, [str(epochs[e]) for e in columns], log_scale=True,
                       title="Gradient norm per layer and epoch", column_title="epoch", number_format="{:.1e}",
                       value_range=GRADIENT_RANGE)
    body += _figure(heat, "The mean norm ||dL/dW|| of each layer's weight gradient (rows, input layer first) in "
                          "each epoch (columns). The colours run on one fixed log scale, from {:.0e} (white) to "
                          "{:.0e} (dark), the same in every report: a column fading toward the top rows is a "
                          "vanishing gradient; a dark stripe is an exploding one.".format(*GRADIENT_RANGE))
    return _section("Inside the layers", body)


def _classification_section(scores):
    names = scores["class_names"]
    heat = heatmap_svg(scores["confusion"], names, names, title="Confusion matrix (test rows)",
                       row_title="true class", column_title="predicted class", number_format="{:.0f}", power=0.5)
    rows = "".join("<tr><td>{}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td><td>{}</td></tr>".format(
        html.escape(name), s["precision"], s["recall"], s["f1"], s["support"])
        for name, s in zip(names, scores["per_class"]))
    table = ('<table class="scores"><tr><th>class</th><th>precision</th><th>recall</th><th>f1</th>'
             '<th>support</th></tr>{}</table>'.format(rows))
    return _section("Classes", _figure(heat, "Counts of test rows by true (rows) and predicted (columns) class.")
                    + table)


def _images_of(X, image_shape):
    """Each row of X as a list of 2-D images, one per channel (channel, row, column order)."""
    channels, height, width = image_shape
    return [[[row[(c * height + r) * width:(c * height + r + 1) * width] for r in range(height)]
             for c in range(channels)] for row in X.rows]


def _mistakes_section(test, limit=24):
    truth, predicted, names = test["truth"], test["predicted"], test["class_names"]
    wrong = [i for i, (t, p) in enumerate(zip(truth, predicted)) if t != p][:limit]
    if not wrong:
        return _section("Mistakes", "<p>The model got every test image right.</p>")
    images = _images_of(test["X"].take(wrong), test["image_shape"])
    svg = images_svg([channels[0] for channels in images],
                     ["true: {}\nsaid: {}".format(names[truth[i]], names[predicted[i]]) for i in wrong])
    return _section("Mistakes", _figure(svg, "Test images the model got wrong (the first {} of {}).".format(
        len(wrong), sum(t != p for t, p in zip(truth, predicted)))))


def _convolution_section(test):
    network = test["network"]
    first = next((i for i, layer in enumerate(network.layers) if type(layer).__name__ == "Conv2D"), None)
    if first is None:
        return ""
    conv = network.layers[first]
    kh, kw = conv.kernel_size
    weight = conv.weight.value.rows  # row c*kH*kW + i*kW + j, column o
    filters = [[[weight[i * kw + j][o] for j in range(kw)] for i in range(kh)] for o in range(conv.out_channels)]
    body = _figure(images_svg(filters, ["filter {}".format(o) for o in range(len(filters))], pixel=14,
                              signed=True), "The first convolution's filters, input channel 0 (grey is 0, "
                                            "dark is positive, light negative).")
    output = network.forward(test["X"].take([0]), layers=network.layers[:first + 2])
    shape = network.shapes[first + 1] if first + 1 < len(network.layers) else network.shapes[first]
    maps = _images_of(output, shape)[0]
    image = _images_of(test["X"].take([0]), test["image_shape"])[0][0]
    if len(image) == len(maps[0]) and len(image[0]) == len(maps[0][0]):  # same size: one grid, the input first
        svg = images_svg([image] + maps, ["the image"] + ["map {}".format(o) for o in range(len(maps))], columns=9)
    else:
        svg = images_svg([image], ["the image"]) + images_svg(maps, ["map {}".format(o) for o in range(len(maps))])
    body += _figure(svg, "The first test image, then its feature maps after that convolution and its activation.")
    return _section("What the convolution learned", body)


def _regression_section(test):
    truth = [row[0] for row in test["truth"].rows]
    predicted = [row[0] for row in test["predicted"].rows]
    residuals = [p - t for p, t in zip(predicted, truth)]
    body = _figure(scatter_svg(truth, predicted, "true value", "predicted value", "Predicted against true",
                               diagonal=True), "Each test row; on the dashed line the prediction is exact.")
    body += _figure(scatter_svg(predicted, residuals, "predicted value", "residual (predicted - true)",
                                "Residuals", zero_line=True), "A pattern here is something the model missed.")
    return _section("Predictions", body)


STYLE = """
body { font-family: sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: .9em; }
svg { max-width: 100%; height: auto; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .85em; white-space: pre-wrap; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; text-align: left; border-bottom: 1px solid #eee; }
.note { color: #555; } .error { color: #a00; font-weight: bold; border: 1px solid #a00; padding: .6em; }
@media print { section { page-break-inside: avoid; } }
"""


def report_html(collector, history, scores, scores_lines, summary, config, title, marks=(), data_path=""):
    """The whole page as text."""
    test = collector.test or {}
    info = [("data", data_path), ("Python", "{} {}".format(platform.python_implementation(),
                                                           platform.python_version())),
            ("date", collector.started.strftime("%Y-%m-%d %H:%M") if hasattr(collector, "started") else ""),
            ("training wall time", "{:.1f} s".format(collector.wall_seconds)),
            ("epochs", len(history.get("loss", [])))]
    sections = [_run_section(info, scores_lines, summary, config)]
    if collector.error:
        sections.insert(0, '<p class="error">{}</p>'.format(html.escape(collector.error)))
    if history.get("loss"):
        sections.append(_curves_section(history, marks, title))
    sections.append(_layers_section(collector))
    if "confusion" in scores:
        sections.append(_classification_section(scores))
    if test.get("image_shape") and test.get("task") == "classification":
        sections.append(_mistakes_section(test))
        sections.append(_convolution_section(test))
    if test.get("task") == "regression":
        sections.append(_regression_section(test))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{}</title><style>{}</style>'
            '</head><body><h1>{}</h1>{}</body></html>\n'.format(html.escape(title), STYLE, html.escape(title),
                                                              "".join(s for s in sections if s)))
