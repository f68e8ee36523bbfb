"""Train a neural network described by a JSON config.

    python main.py                          train with config.json
    python main.py --config other.json      train with another config

Every mistake in the config, the data or the command line is reported as one
line on stderr with exit status 2; nothing saved earlier is overwritten.
"""

import argparse
import sys

import pipeline
from config import load_config
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
    parser.add_argument("--config", default="config.json", metavar="PATH",
                        help="the JSON config file to train from (default: config.json)")
    parser.add_argument("--quiet", action="store_true", help="print only the final scores and the model path")
    return parser


def run_train(args):
    config = load_config(args.config)
    model_path = config["output"]["model_path"]
    check_writable(model_path)  # now, not after an hour of training
    network, history, scores = pipeline.train(config, config_path=args.config, verbose=not args.quiet)
    for line in pipeline.report_lines(scores):
        print(line)
    network.save(model_path)
    print(f"model saved to {model_path}")


# The first word on the command line chooses the command; without one, `train`.
# Each command is (a function building its argument parser, the function that runs it).
COMMANDS = {
    "train": (train_parser, run_train),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    make_parser, run = COMMANDS[name]
    try:
        run(make_parser().parse_args(argv))
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was saved", file=sys.stderr)
        return 130
    except (CommandLineError, ValueError, OSError, FloatingPointError) as error:
        # one line, no traceback: these are mistakes in the input, not bugs
        message = str(error).replace("\n", " ")
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
