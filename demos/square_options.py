"""The command line of demos/square_detector.py: its options, their checks and their defaults.

The defaults depend on the network: the dense one trains 25 epochs on 3,000 fixed
images; the convolutional ones (demos/square_cnn.py) draw 3,000 fresh images every
epoch for 8 epochs. --quick shrinks every budget to a smoke run of a few seconds
(dense) or well under a minute (cnn, conv1d) on CPython; a number given explicitly
always wins over both.
"""

import argparse
import os

from app.arguments import fraction, number, whole_number
from utils import InputError

ARCHITECTURES = ("dense", "cnn", "conv1d")
MODEL_SIZES = (8, 16, 32, 64)  # sides the generator can draw and the curve can read
DEFAULT_MODEL = os.path.join("demos", "square_detector.json")
DRAW_GRID = 32

# per network, then per --quick: the budgets a run uses unless the command line names them
DEFAULTS = {
    "dense": {"train": 3000, "epochs": 25, "test": 1000, "family": 200},
    "cnn": {"train": 3000, "epochs": 8, "test": 1000, "family": 200},
    "conv1d": {"train": 3000, "epochs": 8, "test": 1000, "family": 200},
}
QUICK = {
    "dense": {"train": 1000, "epochs": 10, "test": 300, "family": 20},
    "cnn": {"train": 128, "epochs": 3, "test": 50, "family": 10},
    "conv1d": {"train": 128, "epochs": 3, "test": 50, "family": 10},
}
CNN_EPOCHS = DEFAULTS["cnn"]["epochs"]


class CommandLineError(InputError):
    """A mistake on the command line itself (unknown option, bad value)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake raises, so that it is reported in our one-line form."""

    def error(self, message):
        raise CommandLineError(f"{message} (see python demos/square_detector.py --help)")


def _budget_help(key, what):
    dense, cnn = DEFAULTS["dense"][key], DEFAULTS["cnn"][key]
    quick = QUICK["dense"][key], QUICK["cnn"][key]
    return f"{what} (by default {dense} for dense, {cnn} for cnn and conv1d; with --quick {quick[0]} and {quick[1]})"


def make_parser():
    parser = _Parser(
        prog="python demos/square_detector.py",
        description="Train a network to tell squares from other shapes in black-and-white images: a dense "
                    "network on centred shapes read along a Hilbert curve, or (--model cnn, conv1d) a "
                    "convolutional one on shapes left anywhere; test it on fresh images of its own size and "
                    "of half and double the size; save the model. With --predict or --draw, use the saved "
                    "model instead.",
        epilog="Image files hold one image as rows of '#' (on) and '.' (off), all rows as long as there are "
               "rows, side 4, 8, 16, 32 or 64; any size is read at the model's size through hilbert_resample. "
               "One --seed fixes everything: two runs with the same seed print the same numbers.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--predict", nargs="+", metavar="FILE",
                      help="classify these image files with the saved model, one line each")
    mode.add_argument("--draw", action="store_true",
                      help=f"open a window with a {DRAW_GRID}x{DRAW_GRID} grid to draw on with the mouse; "
                           "releasing the button shows the saved model's verdict")
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="PATH",
                        help=f"where training saves the model and --predict/--draw read it (default: {DEFAULT_MODEL})")
    training = parser.add_argument_group("training (without --predict or --draw)")
    training.add_argument("--network", choices=ARCHITECTURES, default="dense",
                          help="dense: the centred dense network; cnn: a Conv2D network with global "
                               "pooling on shapes left where they were drawn; conv1d: a Conv1D over the "
                               "Hilbert-ordered pixels (default: %(default)s). --model cnn (or dense, "
                               "conv1d) is short for --network cnn with the default model path")
    training.add_argument("--quick", action="store_true",
                          help="a small budget, to see the whole run in seconds (the figures are then far "
                               "below the full run's)")
    training.add_argument("--family", type=whole_number(10), default=None, metavar="N",
                          help="with --network cnn or conv1d: fresh images of each shape family scored on its "
                               f"own (by default {DEFAULTS['cnn']['family']}; with --quick {QUICK['cnn']['family']})")
    training.add_argument("--size", type=int, choices=MODEL_SIZES, default=16,
                          help="side of the images the model reads; 32 gives the classic 1024 -> 32 -> 2 "
                               "configuration (default: %(default)s)")
    training.add_argument("--hidden", type=whole_number(1), default=32, metavar="N",
                          help="units in the dense network's hidden LeakyReLU layer (default: %(default)s)")
    training.add_argument("--train", type=whole_number(10), default=None, metavar="N",
                          help=_budget_help("train", "training images, half of them squares; cnn and conv1d "
                                                     "draw this many fresh ones every epoch"))
    training.add_argument("--test", type=whole_number(10), default=None, metavar="N",
                          help=_budget_help("test", "fresh test images at each size"))
    training.add_argument("--epochs", type=whole_number(1), default=None, metavar="N",
                          help=_budget_help("epochs", "passes over the training images"))
    training.add_argument("--batch-size", type=whole_number(1), default=32, metavar="N",
                          help="images per gradient step (default: %(default)s)")
    training.add_argument("--lr", type=number(0.0), default=0.003,
                          help="Adam's learning rate; cnn and conv1d lower it along a cosine to 0 over the "
                               "epochs (default: %(default)s)")
    training.add_argument("--shift", type=fraction, default=0.6, metavar="FRACTION",
                          help="dense: share of training images moved by up to a pixel each way, so that "
                               "resized images a pixel off centre are read right (default: %(default)s)")
    training.add_argument("--blur", type=fraction, default=0.5, metavar="FRACTION",
                          help="dense: share of training images softly blurred, so that resized images with "
                               "soft edges are read right (default: %(default)s)")
    training.add_argument("--seed", type=int, default=0,
                          help="fixes the images, the initial weights and the shuffling (default: %(default)s)")
    training.add_argument("--show", type=whole_number(0), default=6, metavar="N",
                          help="test images to draw in the terminal, misclassified first (default: %(default)s)")
    training.add_argument("--no-center", action="store_true",
                          help="dense: leave each shape where it was drawn instead of moving it to the middle")
    training.add_argument("--no-compare", action="store_true",
                          help="dense: skip the side-by-side run on row-by-row pixels (halves the time)")
    return parser


def parse_arguments(argv):
    """The options, with the network's budgets filled in where the command line gave none.

    --model cnn (dense, conv1d) names the network and keeps the default model path."""
    args = make_parser().parse_args(argv)
    if args.model in ARCHITECTURES:
        args.network, args.model = args.model, DEFAULT_MODEL
    budgets = (QUICK if args.quick else DEFAULTS)[args.network]
    for key, value in budgets.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick and args.network == "dense" and not args.no_compare:
        args.no_compare = True  # the side-by-side run would double a quick run
    return args
