"""app/arguments.py: the command line's number types accept what they say and refuse the rest in one line."""

import argparse
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app.arguments import fraction, number, whole_number  # noqa: E402


class ArgumentTypesTest(unittest.TestCase):
    def refuses(self, parse, text, message):
        with self.assertRaises(argparse.ArgumentTypeError) as caught:
            parse(text)
        self.assertEqual(str(caught.exception), message)

    def test_whole_number(self):
        self.assertEqual(whole_number(1)("3"), 3)
        self.assertEqual(whole_number(0)("0"), 0)
        self.refuses(whole_number(1), "0", "must be at least 1, got 0")
        self.refuses(whole_number(0), "-1", "must be at least 0, got -1")
        self.refuses(whole_number(1), "2.5", "expected a whole number, got '2.5'")
        self.refuses(whole_number(1), "", "expected a whole number, got ''")

    def test_number(self):
        self.assertEqual(number(0.0)("0.5"), 0.5)
        self.assertEqual(number(0.0, inclusive=True)("0"), 0.0)
        self.refuses(number(0.0), "0", "must be > 0, got 0")
        self.refuses(number(0.0, inclusive=True), "-1", "must be >= 0, got -1")
        for text in ("nan", "inf", "-inf"):
            with self.subTest(text=text):
                self.refuses(number(0.0, inclusive=True), text, f"must be >= 0, got {text}")
        self.refuses(number(0.0), "fast", "expected a number, got 'fast'")

    def test_fraction(self):
        self.assertEqual([fraction(t) for t in ("0", "0.6", "1")], [0.0, 0.6, 1.0])
        for text in ("1.5", "-0.1", "nan"):
            with self.subTest(text=text):
                self.refuses(fraction, text, f"must be from 0 to 1, got {text}")


if __name__ == "__main__":
    unittest.main()
