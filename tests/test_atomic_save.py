"""Nothing lost: a process killed while saving leaves the old file or the new one, never half of one.

Every file the project writes goes through utils.write_atomic: a temporary file in the
same folder, flushed to disk, then renamed over the old one. The tests kill a process
that saves a large model, first at chosen moments of the save (half the bytes written,
just before the rename, just after it), then at random moments many times, and load
the file after each kill. A last test reads the source to check that no module writes
a file any other way.
"""

import os
import random
import re
import stat
import subprocess
import sys
import tempfile
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from network import Network  # noqa: E402
from utils import write_atomic  # noqa: E402

# A child process that builds two large models A and B (about 1.3 MB of JSON each), saves A,
# says "ready", then saves B, A, B, ... until it is killed. With a stage given, it saves B
# once and dies at that stage of write_atomic instead: SIGKILL, so no handler, no finally
# block runs.
CHILD = r"""
import json, os, random, signal, sys
sys.path.insert(0, {root!r})
import utils
from activations import ReLU
from layers import Dense
from network import Network

def die():
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # where there is no SIGKILL: an exit that runs no cleanup either

def models():
    rng = random.Random(7)
    return [Network([Dense(150, 150, rng=rng), ReLU(), Dense(150, 150, rng=rng)], metadata={{"version": name}})
            for name in ("A", "B")]

path, stage = sys.argv[1], sys.argv[2]
model_a, model_b = models()
model_a.save(path)
if stage == "while writing":
    real_fdopen = os.fdopen
    class HalfWriter:
        def __init__(self, file):
            self.file = file
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return False
        def write(self, text):
            self.file.write(text[:len(text) // 2])
            self.file.flush()
            die()
    utils.os.fdopen = lambda *args, **kwargs: HalfWriter(real_fdopen(*args, **kwargs))
elif stage == "before the rename":
    utils.os.replace = lambda *args: die()
elif stage == "after the rename":
    real_replace = os.replace
    def replace_then_die(*args):
        real_replace(*args)
        die()
    utils.os.replace = replace_then_die
else:
    # The models never change, so their JSON text is made once: then a save spends its time
    # writing the file, where a kill could do harm, rather than formatting numbers.
    real_dumps, texts = json.dumps, {{}}
    def dumps_once(data, **options):
        version = data["metadata"]["version"]
        if version not in texts:
            texts[version] = real_dumps(data, **options)
        return texts[version]
    json.dumps = dumps_once
print("ready", flush=True)
while True:
    model_b.save(path)
    model_a.save(path)
"""


def child_models():
    """The two models the child saves, built the same way here to compare with what was loaded."""
    namespace = {}
    code = CHILD.format(root=ROOT)
    exec(code[:code.index("path, stage")], namespace)  # noqa: S102 - our own code: the child's model builder
    return {net.metadata["version"]: net.get_weights() for net in namespace["models"]()}


class KilledWhileSavingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.expected = child_models()

    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.addCleanup(_remove_folder, self.folder)

    def start_child(self, path, stage="loop"):
        child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=ROOT), path, stage],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(_stop, child)
        self.assertEqual(child.stdout.readline().strip(), "ready", child.stderr.read() if child.poll() else "")
        return child

    def assert_whole_model(self, path, versions=("A", "B")):
        """The file loads, and is exactly one of the models saved; returns its version."""
        model = Network.load(path)
        version = model.metadata["version"]
        self.assertIn(version, versions)
        self.assertEqual(model.get_weights(), self.expected[version])
        return version

    def test_killed_at_each_stage_of_a_save(self):
        # the old file until the rename, the new one after it; a half-written temporary file stays behind
        for stage, version, leftovers in (("while writing", "A", 1), ("before the rename", "A", 1),
                                          ("after the rename", "B", 0)):
            with self.subTest(stage=stage):
                path = os.path.join(self.folder, stage.replace(" ", "-") + ".json")
                child = self.start_child(path, stage)
                child.wait(timeout=60)
                self.assertEqual(self.assert_whole_model(path), version)
                temporary = [name for name in os.listdir(self.folder) if name.endswith(".part")]
                self.assertEqual(len(temporary), leftovers, temporary)
                for name in temporary:
                    os.remove(os.path.join(self.folder, name))

    def test_killed_at_random_moments_many_times(self):
        rng = random.Random(11)
        delays = [rng.uniform(0.0, 0.2) for _ in range(16)]  # a save takes about 0.01 to 0.02 s

        def kill_once(number):
            path = os.path.join(self.folder, f"model-{number % 2}.json")
            child = self.start_child(path)
            threading.Event().wait(delays[number])
            child.kill()
            child.wait(timeout=60)
            return self.assert_whole_model(path)

        with ThreadPoolExecutor(max_workers=2) as pool:
            versions = list(pool.map(kill_once, range(len(delays))))
        self.assertEqual(len(versions), 16)


class PermissionsTest(unittest.TestCase):
    @unittest.skipUnless(os.name == "posix", "file modes are POSIX")
    def test_a_replaced_file_keeps_its_mode_and_a_new_file_gets_the_usual_one(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(_remove_folder, folder)
        path = os.path.join(folder, "model.json")
        umask = os.umask(0o022)
        try:
            write_atomic(path, "new\n")
            # tempfile.mkstemp would have given 0o600, readable by the owner only
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o644)
            os.chmod(path, 0o640)
            write_atomic(path, "again\n")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        finally:
            os.umask(umask)
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "again\n")


# Lines that write a file without write_atomic: open(..., "w"/"a"/"x"), json.dump to a file,
# pathlib's write_text / write_bytes, shutil copies. write_atomic's own fdopen is the one allowed.
WRITERS = re.compile(r"""open\([^)]*["'][wax]b?\+?["']|mode\s*=\s*["'][wax]|\bjson\.dump\(|"""
                     r"""\.write_(text|bytes)\(|shutil\.(copy|move)""")
ALLOWED = {("utils.py", 'with os.fdopen(handle, "wb") as f:'),
           # gzip into memory (a BytesIO), which write_atomic then writes
           ("idx.py", 'with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as f:')}


class EveryWriterIsAtomicTest(unittest.TestCase):
    def test_no_module_writes_a_file_except_through_write_atomic(self):
        found = []
        for folder, folders, names in os.walk(ROOT):
            folders[:] = [name for name in folders if name not in ("tests", ".git", "__pycache__")]
            for name in names:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, ROOT)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        code = line.split("#")[0].strip()
                        if WRITERS.search(code) and (relative, code) not in ALLOWED:
                            found.append(f"{relative}:{number}: {code}")
        self.assertEqual(found, [], "write these files with utils.write_atomic")

    def test_the_search_finds_a_plain_write(self):
        self.assertTrue(WRITERS.search('with open(path, "w", encoding="utf-8") as f:'))
        self.assertTrue(WRITERS.search("json.dump(data, f)"))
        self.assertFalse(WRITERS.search('with open(path, encoding="utf-8") as f:'))
        self.assertFalse(WRITERS.search('with open(path, "rb") as f:'))


def _stop(child):
    if child.poll() is None:
        child.kill()
        child.wait(timeout=60)
    child.stdout.close()
    child.stderr.close()


def _remove_folder(folder):
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)


if __name__ == "__main__":
    unittest.main()
