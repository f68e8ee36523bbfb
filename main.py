"""Train a neural network described by a JSON config.

    python main.py                          train with config.json
    python main.py --config other.json      train with another config
    python main.py --diagnose               ... and report per layer how the gradients flow
    python main.py --resume checkpoint.json continue a run from its checkpoint
    python main.py explain                  one training step of a tiny network, number by number

Every mistake in the config, the data or the command line is reported as one
line on stderr with exit status 2; nothing saved earlier is overwritten.
"""

import argparse
import sys

import explain
import pipeline
from charts import save_svg
from config import load_config
from progress import loss_text_chart, training_chart_svg
from training import TrainingInterrupted, load_checkpoint
from utils import check_writable


class CommandLineError(Exception):
    """A mistake on the command line itself (unknown option, missing value)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake raises instead of printing usage and exiting, so it gets our one-line form."""

    def error(self, message):
        raise CommandLineError(f"{message} (see python main.py --help)")


def train_parser():
    parser = _Parser(
        prog="python main.py",
        description="Train a neural network from a JSON config on a CSV file, report its test score, "
                    "and save it as JSON.",
        epilog="The config names the data (data.path, data.target), the layers (model), the loss, optimizer, "
               "epochs and batch size (training) and where to save the model (output.model_path). "
               "See README.md for every key.",
    )
    parser.add_argument("--config", default=None, metavar="PATH",
                        help="the JSON config file to train from (default: config.json)")
    parser.add_argument("--quiet", action="store_true", help="print only the final scores and the model path")
    parser.add_argument("--diagnose", action="store_true",
                        help="after each epoch, print per layer the gradient norm, the update size, dead ReLU "
                             "and saturated sigmoid/tanh units, with warnings (see docs/diagnostics.md)")
    parser.add_argument("--resume", metavar="CHECKPOINT",
                        help="continue the run saved in this checkpoint, with the config saved in it")
    return parser


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
    model_path, plot = config["output"]["model_path"], pipeline.chart_path(config)
    # now, not after an hour of training
    for path in [model_path, plot] + ([config["training"]["checkpoint_path"]]
                                      if config["training"]["checkpoint_every"] else []):
        if path:
            check_writable(path)
    if resume is not None and not args.quiet:
        position = resume["position"]
        where = (f"after batch {position['batches_done']} of epoch {position['epoch']}" if position["batches_done"]
                 else f"at the start of epoch {position['epoch']}")
        print(f"resuming {args.resume} {where}")
    network, history, scores = pipeline.train(config, config_path=config_path, verbose=not args.quiet,
                                              diagnose=args.diagnose, resume=resume)
    if not args.quiet and history["loss"]:
        print(loss_text_chart(history))
    for line in pipeline.report_lines(scores):
        print(line)
    network.save(model_path)
    print(f"model saved to {model_path}")
    if plot and history["loss"]:
        save_svg(plot, training_chart_svg(history))
        print(f"training curves saved to {plot}")


def explain_parser():
    parser = _Parser(
        prog="python main.py explain",
        description="Train a tiny network (2 inputs, 3 hidden units, 2 outputs) for one step on a batch of "
                    "2 rows, and print every matrix of the forward pass, the loss, every gradient of the "
                    "backward pass with the chain-rule formula that gave it, and the update.",
    )
    parser.add_argument("--activation", choices=sorted(explain.HIDDEN_ACTIVATIONS), default="sigmoid",
                        help="the hidden layer's activation (default: sigmoid)")
    parser.add_argument("--loss", choices=sorted(explain.LOSSES), default="cross_entropy",
                        help="cross_entropy (softmax outputs) or mse (default: cross_entropy)")
    parser.add_argument("--lr", type=float, default=0.5, help="the SGD learning rate (default: 0.5)")
    return parser


def run_explain(args):
    explain.walk_through(activation=args.activation, loss=args.loss, lr=args.lr)


# The first word on the command line chooses the command; without one, `train`.
# Each command is (a function building its argument parser, the function that runs it).
COMMANDS = {
    "train": (train_parser, run_train),
    "explain": (explain_parser, run_explain),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    make_parser, run = COMMANDS[name]
    try:
        run(make_parser().parse_args(argv))
    except TrainingInterrupted as stop:  # Ctrl-C during training: stopped after a batch, checkpoint saved
        print(f"\n{stop}", file=sys.stderr)
        if stop.checkpoint_path:
            print(f"continue with: python main.py --resume {stop.checkpoint_path}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was saved", file=sys.stderr)
        return 130
    except OverflowError as error:
        # math.fsum and ** raise where other float arithmetic gives inf: data values near 1e308
        print(f"error: a number grew beyond the float range ({error}); check the data for huge values",
              file=sys.stderr)
        return 2
    except (CommandLineError, ValueError, OSError, FloatingPointError) as error:
        # one line, no traceback: these are mistakes in the input, not bugs
        message = str(error).replace("\n", " ")
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
