"""Every Python snippet in README.md and docs/*.md runs, so the documentation cannot drift
from the code.

Each ```python block of a file runs in order, in one namespace per file (a later block may
use what an earlier one built), with a temporary folder as the working directory and the
repo's data/, configs/ and docs/examples/ reachable by the same relative paths as from a
clone. A block whose fence says ```python no-run is shown, not run (the one or two that
need an interactive window or hours of training); so is any block in another language.
"""

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def documents():
    names = ["README.md"] + sorted(os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs"))
                                   if name.endswith(".md"))
    return [name for name in names if FENCE.search(_read(name))]


def _read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def snippets(name):
    """(line number, code) of each runnable python block of a document."""
    text = _read(name)
    found = []
    for match in FENCE.finditer(text):
        if "no-run" in match.group(1):
            continue
        found.append((text[:match.start()].count("\n") + 2, match.group(2)))
    return found


class DocsSnippetsTest(unittest.TestCase):
    def test_every_python_snippet_runs(self):
        for name in documents():
            with self.subTest(document=name):
                self.run_document(name)

    def run_document(self, name):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        for part in ("data", "configs", os.path.join("docs", "examples")):
            os.makedirs(os.path.dirname(os.path.join(folder, part)) or folder, exist_ok=True)
            os.symlink(os.path.join(ROOT, part), os.path.join(folder, part))
        namespace = {"__name__": "__doc_snippet__"}
        before = os.getcwd()
        os.chdir(folder)
        try:
            for line, code in snippets(name):
                with contextlib.redirect_stdout(io.StringIO()):
                    try:
                        exec(compile(code, f"{name}:{line}", "exec"), namespace)  # noqa: S102 (our own docs)
                    except Exception as error:  # name the snippet: the traceback alone points into exec
                        raise AssertionError(f"the snippet at {name} line {line} failed: "
                                             f"{type(error).__name__}: {error}") from error
        finally:
            os.chdir(before)

    def test_the_runner_finds_and_fails_a_broken_snippet(self):
        self.assertIn("README.md", documents())
        namespace = {}
        with self.assertRaises(NameError):
            exec(compile("undefined_name + 1", "x", "exec"), namespace)  # noqa: S102


if __name__ == "__main__":
    unittest.main()
