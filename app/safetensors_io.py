"""The safetensors file format, read and written with struct and json alone.

A safetensors file (https://github.com/huggingface/safetensors) is three parts:

    bytes 0-7       N, the length of the header, an unsigned 64-bit little-endian integer
    bytes 8-8+N     the header: a JSON object, UTF-8, padded with spaces to a multiple of 8
                    {"__metadata__": {"key": "value", ...},                (optional, strings only)
                     "0.weight": {"dtype": "F32", "shape": [16, 4], "data_offsets": [0, 256]},
                     ...}
    the rest        the byte buffer: each tensor's values, row-major (C order), little-endian,
                    at [begin, end) of data_offsets, counted from the start of the buffer

The tensors must fill the buffer exactly: no two overlap, no byte is left between them or
after the last, and end - begin = (product of the shape) * (bytes per value). A tensor of
shape [] holds one value (a scalar); a 0 in the shape makes it empty.

Here a tensor is a `Tensor(dtype, shape, values)`: values a flat list of Python numbers in
row-major order. `encode`/`decode` convert between a dict of them and bytes; every way a
file can be wrong raises SafetensorsError with one line naming the file and the problem.
"""

import array
import json
import struct
import sys
from collections import namedtuple

from utils import InputError, write_atomic

Tensor = namedtuple("Tensor", "dtype shape values")
Tensor.__doc__ = "A tensor: dtype ('F32', 'F64', ...), shape (a tuple) and its values, flat, row-major."

# dtype -> (struct format letter, bytes per value); BF16 has no struct letter (see _decode_bf16)
DTYPES = {
    "F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "BF16": (None, 2),
    "I64": ("q", 8), "I32": ("i", 4), "I16": ("h", 2), "I8": ("b", 1),
    "U64": ("Q", 8), "U32": ("I", 4), "U16": ("H", 2), "U8": ("B", 1), "BOOL": ("?", 1),
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
# dtypes the format defines that this reader cannot turn into numbers: named, not "unknown"
KNOWN_UNSUPPORTED = ("F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64")
_HEADER_LIMIT = 100_000_000  # the reference implementation refuses headers over 100 MB too


class SafetensorsError(InputError):
    """A safetensors file that cannot be read or a tensor that cannot be written; one line."""


def element_count(shape):
    count = 1
    for size in shape:
        count *= size
    return count


# ------------------------------------------------------------------ writing
def encode(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` ({name: Tensor}, kept in that order,
    each one's bytes right after the previous one's) and `metadata` ({str: str} or None).

    The header is compact JSON (separators "," and ":") padded with spaces to a multiple
    of 8 bytes, so the buffer starts aligned, as the reference implementation writes it.
    """
    header, chunks, offset = {}, [], 0
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("__metadata__ must map strings to strings")
        header["__metadata__"] = dict(metadata)
    for name, tensor in tensors.items():
        if name == "__metadata__" or not isinstance(name, str) or not name:
            raise SafetensorsError(f"tensor name {name!r} is not allowed")
        data = encode_values(tensor, name)
        header[name] = {"dtype": tensor.dtype, "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def encode_values(tensor, name="tensor"):
    """The little-endian bytes of one tensor's values."""
    if tensor.dtype not in DTYPES or tensor.dtype == "BF16":
        raise SafetensorsError(f"{name}: cannot write dtype {tensor.dtype!r}; writable: "
                               f"{', '.join(d for d in DTYPES if d != 'BF16')}")
    if element_count(tensor.shape) != len(tensor.values):
        raise SafetensorsError(f"{name}: shape {list(tensor.shape)} needs {element_count(tensor.shape)} values, "
                               f"got {len(tensor.values)}")
    letter = DTYPES[tensor.dtype][0]
    try:
        return struct.pack(f"<{len(tensor.values)}{letter}", *tensor.values)
    except (struct.error, OverflowError) as error:
        # e.g. a weight beyond float32's range (about 3.4e38), or a count too big for its integer type
        raise SafetensorsError(f"{name}: a value does not fit dtype {tensor.dtype} ({error})") from None


def write(path, tensors, metadata=None):
    """Write a safetensors file atomically (a crash leaves the old file or the new one)."""
    write_atomic(path, encode(tensors, metadata))


# ------------------------------------------------------------------ reading
def read(path):
    """(tensors, metadata) of the safetensors file at `path`: {name: Tensor} in file order, {str: str}."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise SafetensorsError(f"{path}: weights file not found") from None
    except IsADirectoryError:
        raise SafetensorsError(f"{path}: is a directory, expected a safetensors file") from None
    except OSError as problem:  # permission denied, a name the system refuses
        raise SafetensorsError(f"{path}: cannot be read ({problem.strerror or problem})") from None
    except ValueError as problem:  # a NUL character in the name
        raise SafetensorsError(f"{path!r:.200}: cannot be a file name ({problem})") from None
    return decode(data, path)


def decode(data, source="safetensors file"):
    """(tensors, metadata) of the bytes of a safetensors file, every field checked first."""
    header, start = _read_header(data, source)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{source}: __metadata__ must be an object of strings")
    entries = [_checked_entry(name, entry, source) for name, entry in header.items()]
    _check_layout(entries, len(data) - start, source)
    tensors = {}
    for name, dtype, shape, (begin, end) in entries:
        tensors[name] = Tensor(dtype, shape, decode_values(dtype, data[start + begin:start + end]))
    return tensors, metadata


def _read_header(data, source):
    if len(data) < 8:
        raise SafetensorsError(f"{source}: {len(data)} bytes, too short for a safetensors file "
                               "(its first 8 bytes give the header length)")
    (length,) = struct.unpack_from("<Q", data)
    if length > len(data) - 8:
        raise SafetensorsError(f"{source}: the header length ({length:,} bytes) is longer than the file "
                               f"({len(data) - 8:,} bytes after the 8-byte length): not a safetensors file, "
                               "or a truncated one")
    if length > _HEADER_LIMIT:
        raise SafetensorsError(f"{source}: a header of {length:,} bytes is over the format's limit of 100 MB")

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            twice = next(key for key in keys if keys.count(key) > 1)
            raise SafetensorsError(f"{source}: the header names {twice!r} twice")
        return dict(pairs)

    try:
        header = json.loads(bytes(data[8:8 + length]).decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as error:
        if isinstance(error, SafetensorsError):
            raise
        raise SafetensorsError(f"{source}: the header is not valid UTF-8 JSON ({error})") from None
    except RecursionError:
        raise SafetensorsError(f"{source}: the header is nested too deeply") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{source}: the header must be a JSON object, got {type(header).__name__}")
    return header, 8 + length


def _checked_entry(name, entry, source):
    """(name, dtype, shape, (begin, end)) of one header entry, or SafetensorsError."""
    where = f"{source}: tensor {name!r}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise SafetensorsError(f"{where}: must be an object with exactly dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        if dtype in KNOWN_UNSUPPORTED:
            raise SafetensorsError(f"{where}: dtype {dtype} is not supported here; readable: {', '.join(DTYPES)}")
        raise SafetensorsError(f"{where}: unknown dtype {str(dtype)[:40]!r}; the format's dtypes are "
                               f"{', '.join(DTYPES)} (and the 8-bit floats)")

    def whole_numbers(values, count=None):
        return (isinstance(values, list) and (count is None or len(values) == count)
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values))

    if not whole_numbers(shape):
        raise SafetensorsError(f"{where}: shape must be a list of whole numbers >= 0, got {str(shape)[:60]}")
    if not whole_numbers(offsets, 2) or offsets[0] > offsets[1]:
        raise SafetensorsError(f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                               f"got {str(offsets)[:60]}")
    needed = element_count(shape) * DTYPES[dtype][1]
    if offsets[1] - offsets[0] != needed:
        raise SafetensorsError(f"{where}: shape {shape} of {dtype} needs {needed:,} bytes, but data_offsets "
                               f"{offsets} span {offsets[1] - offsets[0]:,}")
    return name, dtype, tuple(shape), tuple(offsets)


def _check_layout(entries, buffer_size, source):
    """The tensors' byte ranges must tile the buffer exactly: no overlap, no gap, nothing left over."""
    position, previous = 0, None
    for name, _, _, (begin, end) in sorted(entries, key=lambda entry: entry[3]):
        if begin < position:
            raise SafetensorsError(f"{source}: tensor {name!r} (bytes {begin}-{end}) overlaps tensor "
                                   f"{previous!r}, which ends at byte {position}")
        if begin > position:
            after = f"after tensor {previous!r}" if previous else "at the start of the buffer"
            raise SafetensorsError(f"{source}: a gap of {begin - position} bytes {after} (before tensor "
                                   f"{name!r}): data_offsets must leave no bytes unused")
        position, previous = end, name
    if position > buffer_size:
        raise SafetensorsError(f"{source}: tensor {previous!r} ends at byte {position:,}, past the end of the data "
                               f"({buffer_size:,} bytes): the file is truncated")
    if position < buffer_size:
        raise SafetensorsError(f"{source}: {buffer_size - position:,} bytes after the last tensor belong to "
                               "none: data_offsets must cover the data exactly")


def decode_values(dtype, data):
    """The values of `data` (little-endian bytes of one dtype) as a flat list of Python numbers."""
    letter, size = DTYPES[dtype]
    if dtype == "BF16":
        return _decode_bf16(data)
    if letter in "df":  # array reads floats at C speed; the file is little-endian, so swap on big-endian hosts
        values = array.array(letter)
        if values.itemsize == size:
            values.frombytes(data)
            if sys.byteorder == "big":
                values.byteswap()
            return values.tolist()
    return list(struct.unpack(f"<{len(data) // size}{letter}", data))


def _decode_bf16(data):
    """bfloat16 is the upper half of a float32: put two zero bytes below each value and read float32."""
    n = len(data) // 2
    widened = bytearray(4 * n)
    widened[2::4] = data[0::2]
    widened[3::4] = data[1::2]
    return list(struct.unpack(f"<{n}f", bytes(widened)))
