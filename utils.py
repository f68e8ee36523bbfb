"""Utilities: the base class of the user's input errors, seeding, and safe file writing.

Depends on nothing in the framework: any module may import it.
"""

import json
import math
import operator
import os
import random
import stat


class InputError(ValueError):
    """A mistake in what the user gave us: a config, a data file, a model file, a checkpoint,
    a command-line argument. The command line turns exactly these into one line
    `error: ...` and exit status 2; any other exception is a bug and shows its traceback."""


def quote(value, limit=200):
    """repr(value), cut to about `limit` characters: a 100 KB CSV cell must not become a
    100 KB error line."""
    return short(repr(value), limit)


def short(text, limit=200):
    """str(text) as it is, or its first `limit` characters and '...' (for names and paths in messages)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


# ------------------------------------------------------------------ numbers
# The one check of "a number" and "a count" that the config, the constructors, checkpoints
# and model files share: a finite int or float, never a bool (JSON's true is not 1), within
# bounds written as in a textbook.

def is_number(value):
    """True for a finite int or float that is not a bool (an int of any size is finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def is_count(value, minimum=0):
    """True for an int (not a bool) >= minimum."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def within(bounds):
    """A predicate from bounds written as in a textbook: '> 0', '>= 0', 'in (0, 1)', 'in [0, 1)', 'in [0, 1]'."""
    if bounds.startswith("in "):
        low, high = (float(end) for end in bounds[4:-1].split(","))
        above_low = operator.lt if bounds[3] == "(" else operator.le
        below_high = operator.lt if bounds[-1] == ")" else operator.le
        return lambda x: above_low(low, x) and below_high(x, high)
    sign, limit = bounds.split()
    compare = {">": operator.gt, ">=": operator.ge}[sign]
    return lambda x: compare(x, float(limit))


def check_number(value, what, bounds=None):
    """float(value) when it is a finite number within `bounds` (within), else ValueError:
    'learning rate lr must be a number > 0, got 0'."""
    if not is_number(value) or (bounds is not None and not within(bounds)(value)):
        allowed = f"a number {bounds}" if bounds else "a finite number"
        raise ValueError(f"{what} must be {allowed}, got {quote(value, 60)}")
    return float(value)


def check_count(value, what, minimum=0):
    """value when it is an int (not a bool) >= minimum, else ValueError: 'epochs must be a positive integer, got 0'."""
    if not is_count(value, minimum):
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{what} must be {allowed}, got {quote(value, 60)}")
    return value


def finite_sum(values):
    """math.fsum(values), the correctly rounded sum, except that a total beyond the float range
    comes back as inf (or nan) instead of an exception: math.fsum raises OverflowError for
    1e308 + 1e308 and ValueError for inf + -inf, where the rest of float arithmetic gives
    inf and nan, which the NaN guard of training then reports."""
    values = list(values)
    try:
        return math.fsum(values)
    except OverflowError:
        return sum(values)  # plain float addition: inf, -inf or nan
    except ValueError:  # inf + -inf
        return math.nan


def format_number(value, decimals=4):
    """A score or loss for people: 4 decimals ('0.4512'), but a huge one in the compact form
    ('-3.29e+129', not 130 digits) and nan and inf as they are."""
    if not math.isfinite(value) or abs(value) < 1e6:
        return f"{value:.{decimals}f}"
    return f"{value:.3g}"


# ------------------------------------------------------------------ seeding
def make_rng(seed):
    """A private random.Random(seed): one seed fixes a run without touching the global generator."""
    return random.Random(seed)


# -------------------------------------------------------------------- files
def parse_json(text, object_pairs_hook=None):
    """json.loads(text), but a JSONDecodeError always carries a message that can be printed.

    PyPy's fast decoder (_pypyjson, PyPy 7.3) words an unexpected non-ASCII
    character by the first byte of its UTF-8 form, a broken string: formatting
    that message into another raises SystemError inside PyPy. So on an error
    the text is decoded again by json.JSONDecoder, the same grammar without
    that fast path, which stops at the same place with a sound message (on
    CPython, the same message). The second decode is outside the except block,
    so the broken exception is not attached to the one raised.
    object_pairs_hook: as json.loads's (the config uses it to find a key given twice).
    """
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError:
        pass
    return json.JSONDecoder(object_pairs_hook=object_pairs_hook).decode(text)


def read_json(path, kind, error=InputError):
    """Parse the JSON file at `path`; every way it can fail becomes `error`, naming the file.

    `kind` says what the file should be ("model", "checkpoint") in the messages.
    Only data is read: JSON has no way to make Python run anything.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return parse_json(text)
    except FileNotFoundError:
        raise error(f"{path}: {kind} file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a {kind} file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{path}: not a valid {kind} file (damaged or truncated JSON: {problem})") from None
    except RecursionError:  # json recurses once per [ or {, and a damaged file can nest deeper than Python goes
        raise error(f"{path}: not a valid {kind} file (lists nested too deeply)") from None
    except OSError as problem:  # permission denied, a name the system refuses
        raise error(f"{path}: cannot be read ({problem.strerror or problem})") from None
    except ValueError as problem:  # a NUL character in the name
        raise error(f"{quote(path)}: cannot be a file name ({problem})") from None


def write_atomic(path, text):
    """Write `text` (a str, written as UTF-8, or bytes) to `path` so that a crash leaves either
    the old file or the new one.

    The text goes to a temporary file in the same folder, is flushed to disk, and
    is then renamed over `path`; a rename within one file system is atomic. The
    new file keeps the permissions of the one it replaces (a new path gets the
    usual ones, 0666 less the umask). A path that cannot be a file (a directory, a
    missing folder) is an InputError, raised before anything is written.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text  # "\n" stays "\n" on Windows too
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"{short(path)}: is a directory, expected a file path")
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise InputError(f"{short(path)}: folder {short(folder)} {what}")
    handle, temp_path = _new_temporary_file(folder)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(temp_path, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass  # nothing to replace: the temporary file was created with the usual permissions
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except OSError:
            pass
        raise
    _sync_folder(folder)


def _new_temporary_file(folder):
    """(file descriptor, path) of a new, empty file `.tmp-<random>.part` in `folder`.

    os.open with mode 0o666 lets the umask apply as for any new file;
    tempfile.mkstemp would make it readable by its owner only, and the saved
    model with it. O_EXCL: never open a file that exists already.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp_path = os.path.join(folder, f".tmp-{os.urandom(6).hex()}.part")
        try:
            return os.open(temp_path, flags, 0o666), temp_path
        except FileExistsError:
            continue  # 48 random bits: practically never


def _sync_folder(folder):
    """Flush the folder's entry for the renamed file to disk, so that a power cut cannot undo
    the rename. Where folders cannot be opened (Windows), the rename is left to the system."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def check_writable(path):
    """Raise InputError now, before any work, if `path` could not be written later."""
    if "\0" in path:
        raise InputError(f"{quote(path)}: a file name cannot hold a NUL character")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise InputError(f"{short(path)}: is a directory, expected a file path")
    name_max = _longest_name(folder)
    try:
        name_length = len(os.fsencode(os.path.basename(path)))
    except UnicodeEncodeError as error:
        raise InputError(f"{quote(path)}: cannot be a file name here ({error.reason})") from None
    if name_length > name_max:
        raise InputError(f"{short(path)}: the file name is longer than the {name_max} bytes a name can have here")
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise InputError(f"{short(path)}: folder {short(folder)} {what}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise InputError(f"{short(path)}: cannot be written (permission denied)")


def _longest_name(folder):
    """The longest file name, in bytes, that the folder's file system takes (255 where it cannot say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # Windows has no pathconf
        return 255
