"""argparse types for numbers on a command line: each checks its text and says in one line what
is wrong with it (argparse adds the option's name), for main.py and the demos.

    whole_number(low=1)           an int >= low          "expected a whole number, got 'x'"
                                                         "must be at least 1, got 0"
    number(low=0.0)               a finite float > low   "expected a number, got 'x'"   "must be > 0, got -1"
    number(low=0.0, inclusive=True)  ... >= low          "must be >= 0, got -1"
    fraction                      a float from 0 to 1    "must be from 0 to 1, got 1.5"

float() alone would take 'nan', 'inf' and '-1'; every type here refuses what is not finite. The
text in "got ..." is quoted with repr when it is not a number at all, so that a stray space or an
empty string is visible.
"""

import argparse
import math

from utils import quote

__all__ = ["whole_number", "number", "fraction"]


def whole_number(low=1):
    """The argparse type of a whole number at least `low`."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {quote(text)}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def number(low=0.0, inclusive=False, high=None):
    """The argparse type of a finite number above `low` (or at least it, with inclusive), and at
    most `high` when given."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {quote(text)}") from None
        above = value >= low if inclusive else value > low
        if high is not None and not (above and value <= high):
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, got {text}")
        if not (math.isfinite(value) and above):
            raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {low:g}, got {text}")
        return value
    return parse


fraction = number(0.0, inclusive=True, high=1.0)
