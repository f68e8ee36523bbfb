"""Train a neural network described by a JSON config.

    python main.py                          train with config.json
    python main.py --config other.json      train with another config
    python main.py --diagnose               ... and report per layer how the gradients flow
    python main.py --resume model_checkpoint.json   continue a run from its checkpoint
    python main.py explain                  one training step of a tiny network, number by number
    python main.py explain --autograd       the same step as a computation graph, node by node
    python main.py predict --model model.json --input rows.csv    a saved model's answer for each row
    python main.py evaluate --model model.json --input rows.csv   its scores on labelled rows
    python main.py export --model model.json --format onnx        to safetensors, PyTorch or ONNX
    python main.py import --weights model.safetensors --output model.json   from a PyTorch nn.Sequential

Every mistake in the config, the data, a model file, a checkpoint or the command
line (an InputError, see utils.py) is reported as one line on stderr with exit
status 2; nothing saved earlier is overwritten. Any other exception is a bug in
the program and shows its traceback (exit status 1).
"""

import argparse
import difflib
import sys

from app import explain, explain_graph
from app import export
from app import pipeline
from app.arguments import number, whole_number
from app.charts import save_svg
from app.config import check_workers, load_config
from app.progress import loss_text_chart, training_chart_svg
from app.report import ReportCollector, report_html
from app.training import TrainingDiverged, TrainingInterrupted, load_checkpoint
from datasets import DataError
from parallel import WorkerError
from utils import InputError, quote, write_atomic


class CommandLineError(InputError):
    """A mistake on the command line itself (unknown option, missing value)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake raises instead of printing usage and exiting, so it gets our one-line form."""

    def error(self, message):
        raise CommandLineError(f"{message} (see python main.py --help)")


def train_parser():
    parser = _Parser(
        prog="python main.py",
        usage="python main.py [COMMAND] [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a neural network from a JSON config on a CSV file, report its test score, "
                    "and save it as JSON.\n\ncommands (the first word; without one, train):\n" + "\n".join(
                        f"  {name:<10}{summary}" for name, summary in COMMAND_SUMMARIES.items())
                    + "\n\n'python main.py COMMAND --help' shows a command's options; those of train follow.",
        epilog="The config names the data (data.path, data.target), the layers (model), the loss, optimizer,\n"
               "epochs and batch size (training) and where to save the model (output.model_path).\n"
               "See README.md for every key.",
    )
    parser.add_argument("--config", default=None, metavar="PATH",
                        help="the JSON config file to train from (default: config.json)")
    parser.add_argument("--quiet", action="store_true", help="print only the final scores and the model path")
    parser.add_argument("--diagnose", action="store_true",
                        help="after each epoch, print per layer the gradient norm, the update size, dead ReLU "
                             "and saturated sigmoid/tanh units, with warnings (see docs/diagnostics.md)")
    parser.add_argument("--report", nargs="?", const="", default=None, metavar="PATH",
                        help="write a one-file HTML report of the run: curves, weight and gradient histograms, "
                             "gradient norms, confusion matrix, mistakes (default PATH: beside the model, "
                             "MODEL_report.html)")
    parser.add_argument("--workers", type=whole_number(1), default=None, metavar="N",
                        help="share each batch among N worker processes (default: the config's "
                             "training.workers, 1; see docs/performance.md)")
    parser.add_argument("--resume", metavar="CHECKPOINT",
                        help="continue the run saved in this checkpoint, with the config saved in it")
    return parser


# One line per command for `python main.py --help` (COMMANDS, below, maps each to its code).
COMMAND_SUMMARIES = {
    "train": "train the network a config describes, report its test scores, save it (the default)",
    "predict": "a saved model's answer for every row of a CSV file",
    "evaluate": "a saved model's scores on labelled rows of a CSV file",
    "explain": "one training step of a tiny network, every number printed (--autograd: as a graph)",
}


def run_train(args):
    resume = None
    if args.resume:
        if args.config is not None:
            raise CommandLineError("--resume continues with the config saved in the checkpoint; leave out --config")
        resume = load_checkpoint(args.resume)
        config, config_path = pipeline.config_from_checkpoint(resume, args.resume)
    else:
        config_path = args.config or "config.json"
        config = load_config(config_path)
    if args.workers is not None:
        config["training"]["workers"] = args.workers
        check_workers(config)
    if args.report is not None:  # --report, or --report PATH
        config["output"]["report"] = args.report or pipeline.report_path(config)
    model_path, plot = config["output"]["model_path"], pipeline.chart_path(config)
    pipeline.check_output_paths(config, config_path)  # now, not after an hour of training
    collector = ReportCollector() if config["output"].get("report") else None
    if resume is not None and not args.quiet:
        position = resume["position"]
        where = (f"after batch {position['batches_done']} of epoch {position['epoch']}" if position["batches_done"]
                 else f"at the start of epoch {position['epoch']}")
        print(f"resuming {args.resume} {where}")
    try:
        network, history, scores = pipeline.train(config, config_path=config_path, verbose=not args.quiet,
                                                  diagnose=args.diagnose, resume=resume, report=collector)
    except TrainingDiverged as error:
        if collector is not None:  # the pictures of a run that blew up are the ones worth seeing
            collector.error = str(error)
            _write_report(collector, collector.history, {}, [], collector.network.summary(), config, config_path,
                          collector.network)
        raise
    if not args.quiet and history["loss"]:
        print(loss_text_chart(history))
    for line in pipeline.report_lines(scores):
        print(line)
    network.save(model_path)
    print(f"model saved to {model_path}")
    if plot and history["loss"]:
        save_svg(plot, training_chart_svg(history, title=pipeline.chart_title(config, config_path, network),
                                          marks=pipeline.chart_marks(network)))
        print(f"training curves saved to {plot}")
    if collector is not None and history["loss"]:
        _write_report(collector, history, scores, pipeline.report_lines(scores), network.summary(), config,
                      config_path, network)


def _write_report(collector, history, scores, score_lines, summary, config, config_path, network):
    path = config["output"]["report"]
    write_atomic(path, report_html(collector, history, scores, score_lines, summary, config,
                                   pipeline.chart_title(config, config_path, network),
                                   pipeline.chart_marks(network), config["data"]["path"]))
    print(f"report saved to {path}", file=sys.stderr if collector.error else sys.stdout)


def explain_parser():
    parser = _Parser(
        prog="python main.py explain",
        description="Train a tiny network (2 inputs, 3 hidden units, 2 outputs) for one step on a batch of "
                    "2 rows, and print every matrix of the forward pass, the loss, every gradient of the "
                    "backward pass with the chain-rule formula that gave it, and the update.",
    )
    parser.add_argument("--activation", choices=sorted(explain.HIDDEN_ACTIVATIONS), default="sigmoid",
                        help="the hidden layer's activation (default: %(default)s)")
    parser.add_argument("--loss", choices=sorted(explain.LOSSES), default="cross_entropy",
                        help="cross_entropy (softmax outputs) or mse (default: %(default)s)")
    parser.add_argument("--lr", type=number(0.0), default=0.5, help="the SGD learning rate (default: %(default)s)")
    parser.add_argument("--autograd", action="store_true",
                        help="the same step as a computation graph: each node's value, then each node's "
                             "gradient in the order backward() visits them (autograd.py)")
    return parser


def run_explain(args):
    walk = explain_graph.graph_walk if args.autograd else explain.walk_through
    walk(activation=args.activation, loss=args.loss, lr=args.lr)


def _model_and_rows_arguments(parser):
    parser.add_argument("--model", required=True, metavar="PATH", help="a model saved by python main.py")
    parser.add_argument("--input", required=True, metavar="CSV",
                        help="rows with the model's feature columns, by name and in any order")
    parser.add_argument("--delimiter", default=None, metavar="CHAR",
                        help="the CSV delimiter (default: the one the model was trained with)")
    return parser


def predict_parser():
    return _model_and_rows_arguments(_Parser(
        prog="python main.py predict",
        description="Print a saved model's answer for every row of a CSV file: the predicted class and its "
                    "probability, or the predicted value. When the file has the target column too, the "
                    "answers are scored against it.",
    ))


def evaluate_parser():
    return _model_and_rows_arguments(_Parser(
        prog="python main.py evaluate",
        description="Score a saved model on labelled rows with the metrics training reports: accuracy, "
                    "per-class precision, recall and F1 and the confusion matrix, or RMSE, MAE and R^2.",
    ))


def _load_model_and_rows(args):
    """The model, every row of the input file, the rows whose target is filled in (or None) and their positions."""
    network = pipeline.load_model_for_prediction(args.model)
    return (network, *pipeline.read_rows_for_model(args.input, network.metadata, args.delimiter))


def run_predict(args):
    network, rows, labelled, positions = _load_model_and_rows(args)
    answers = pipeline.predict_rows(network, rows)
    # the target column is never used to predict; where it is filled in, it scores the answers
    actual = {}
    if labelled is not None:
        if network.metadata["task"] == "classification":
            actual = {row: labelled.class_names[label] for row, label in zip(positions, labelled.labels)}
        else:
            actual = {row: f"{values[0]:.6g}" for row, values in zip(positions, labelled.values.rows)}
    target = rows.target_name
    if network.metadata["task"] == "classification":
        width = max(9, max(len(name) for name in network.metadata["class_names"]))
        print(f"{'row':>5}  {'predicted':<{width}}  probability" + (f"  {target}" if actual else ""))
        for index, (name, probability) in enumerate(answers):
            shown = f"  {actual.get(index, '')}" if actual else ""
            print(f"{index + 1:>5}  {name:<{width}}  {probability:>11.4f}{shown}".rstrip())
    else:
        title = "predicted " + target
        width, actual_width = max(12, len(title)), max(12, len(target))
        print(f"{'row':>5}  {title:>{width}}" + (f"  {target:>{actual_width}}" if actual else ""))
        for index, values in enumerate(answers):
            shown = f"  {actual.get(index, ''):>{actual_width}}" if actual else ""
            print(f"{index + 1:>5}  {values[0]:>{width}.6g}{shown}".rstrip())
    if labelled is not None:
        scores = pipeline.evaluate(network, labelled)
        lines = pipeline.report_lines(scores, prefix="")
        if len(labelled) < len(rows):
            print(f"scored on the {len(labelled)} of {len(rows)} rows whose {target} is filled in:")
        print("\n".join(lines[-1:] if "accuracy" in scores else lines))


def run_evaluate(args):
    network, rows, labelled, _ = _load_model_and_rows(args)
    if labelled is None:
        raise DataError(f"{args.input}: has no target column {quote(rows.target_name)}, or it is blank in "
                        "every row; evaluate needs it to score the model (python main.py predict works without it)")
    skipped = f" ({len(rows) - len(labelled)} rows with a blank {rows.target_name} left out)" \
        if len(labelled) < len(rows) else ""
    print(f"{args.input}: {len(labelled)} rows{skipped}, model {args.model}")
    for line in pipeline.report_lines(pipeline.evaluate(network, labelled), prefix=""):
        print(line)


def export_parser():
    return export.export_arguments(_Parser(
        prog="python main.py export",
        description="Write a saved model for PyTorch or ONNX Runtime: its weights as safetensors under the keys "
                    "of the equivalent torch.nn.Sequential, with a model_torch.py that loads them (pytorch), or "
                    "the whole prediction, normalization included, as an ONNX graph.",
    ))


def import_parser():
    return export.import_arguments(_Parser(
        prog="python main.py import",
        description="Make a model of this framework from the safetensors state_dict of a PyTorch nn.Sequential "
                    "of Linear layers and activations, so that predict, evaluate and explain work on it.",
    ))


# The first word on the command line chooses the command; without one, `train`.
# Each command is (a function building its argument parser, the function that runs it).
COMMANDS = {
    "train": (train_parser, run_train),
    "explain": (explain_parser, run_explain),
    "predict": (predict_parser, run_predict),
    "evaluate": (evaluate_parser, run_evaluate),
    "export": (export_parser, export.run_export),
    "import": (import_parser, export.run_import),
}


def _unknown_command(word):
    close = difflib.get_close_matches(word, list(COMMANDS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"unknown command {quote(word)}{hint}; the commands are {', '.join(COMMANDS)}, and a config file "
            "goes after --config (see python main.py --help)")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    named = bool(argv) and argv[0] in COMMANDS
    name = argv.pop(0) if named else "train"
    make_parser, run = COMMANDS[name]
    try:
        if not named and argv and not argv[0].startswith("-"):  # `python main.py trian`, `python main.py my.json`
            raise CommandLineError(_unknown_command(argv[0]))
        run(make_parser().parse_args(argv))
    except TrainingInterrupted as stop:  # Ctrl-C during training: stopped after a batch, checkpoint saved
        print(f"\n{stop}", file=sys.stderr)
        if stop.checkpoint_path:
            print(f"continue with: python main.py --resume {stop.checkpoint_path}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was saved", file=sys.stderr)
        return 130
    except WorkerError as error:  # a worker process died: not bad input, but one line, no traceback
        print(error_line(error), file=sys.stderr)
        if getattr(error, "checkpoint_path", None):
            print(f"continue with: python main.py --resume {error.checkpoint_path}", file=sys.stderr)
        return 1
    except InputError as error:
        # one line, no traceback: a mistake in what the user gave us, not a bug. Anything
        # else (an IndexError, a shape mismatch inside a layer) is a bug and keeps its traceback.
        print(error_line(error), file=sys.stderr)
        return 2
    return 0


def error_line(error):
    """'error: ...' on one line, for an InputError."""
    return "error: " + str(error).replace("\r", " ").replace("\n", " ")


if __name__ == "__main__":
    # a class name the console's encoding cannot show (output redirected to a file on Windows,
    # PYTHONIOENCODING=ascii) is printed as \xe9 rather than stopping the run before the model is saved
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    sys.exit(main())
