"""IDX files (the MNIST / Fashion-MNIST format) and images kept as bytes.

The IDX format (Y. LeCun, "THE MNIST DATABASE of handwritten digits") is a
header and a block of numbers, all big-endian:

    bytes 0-1   0, 0
    byte  2     the type of the numbers: 0x08 unsigned byte (the only one images and labels use)
    byte  3     the number of dimensions d
    then        d sizes, each a 4-byte unsigned integer: (n,) for labels, (n, rows, cols) for images
    then        the n * rows * cols numbers, one byte each, row by row

`read_idx` reads one such file, gzipped or not, with the standard library
(gzip and struct), and reports every way a file can be wrong in one line.

Compact images. 60,000 images of 28 x 28 pixels are 47 million numbers: as
Python floats in lists they would take about 1.5 GB (a float object is 24
bytes, and each list slot 8 more), as bytes they take 47 MB. `ByteImages`
keeps the pixels as one `bytes` object and turns only the rows a batch asks
for into a Matrix of floats (`take`), through a table of the 256 possible
values, so every converted pixel is a shared float object and the conversion
runs inside `map`. `Network.fit`, `predict` and `evaluate` take such an object
wherever they take a Matrix.
"""

import gzip
import io
import struct
import zlib

from losses import one_hot
from matrix import Matrix
from utils import InputError, write_atomic

UNSIGNED_BYTE = 0x08
_TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float",
               0x0E: "double"}


class IDXError(InputError):
    """An IDX file that cannot be read; the message names the file and what is wrong."""


# ------------------------------------------------------------------ reading
def read_idx(path):
    """(sizes, data) of the IDX file at `path`: sizes a tuple such as (60000, 28, 28), data the
    numbers as one `bytes` object of their product's length. Gzipped files (.gz) are
    recognised by their first two bytes. Raises IDXError naming the file and the problem."""
    try:
        with open(path, "rb") as raw:
            opened = gzip.GzipFile(fileobj=raw) if raw.read(2) == b"\x1f\x8b" else raw
            raw.seek(0)
            return _read_idx_stream(opened, path)
    except FileNotFoundError:
        raise IDXError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise IDXError(f"{path}: is a directory, expected an IDX file") from None
    except EOFError:  # gzip: the compressed stream stops before its end marker
        raise IDXError(f"{path}: truncated (the gzip stream ends early)") from None
    except OSError as error:  # includes gzip.BadGzipFile: a damaged gzip header
        raise IDXError(f"{path}: cannot be read ({error})") from None
    except zlib.error as error:
        raise IDXError(f"{path}: damaged gzip data ({error})") from None


def _read_idx_stream(stream, path):
    magic = stream.read(4)
    if len(magic) < 4:
        raise IDXError(f"{path}: truncated (the file has {len(magic)} bytes, an IDX header needs at least 4)")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXError(f"{path}: not an IDX file (wrong magic number 0x{magic.hex()}: "
                       "it must start with two zero bytes, a type byte and a dimension count)")
    kind, n_dims = magic[2], magic[3]
    if kind != UNSIGNED_BYTE:
        name = _TYPE_NAMES.get(kind, "unknown")
        raise IDXError(f"{path}: holds numbers of type 0x{kind:02X} ({name}); this reader reads unsigned bytes "
                       "(0x08), as MNIST and Fashion-MNIST use")
    if n_dims == 0:
        raise IDXError(f"{path}: the header declares 0 dimensions")
    header = stream.read(4 * n_dims)
    if len(header) < 4 * n_dims:
        raise IDXError(f"{path}: truncated in the header ({n_dims} sizes declared, {len(header) // 4} present)")
    sizes = struct.unpack(f">{n_dims}I", header)
    count = 1
    for size in sizes:
        count *= size
    data = stream.read(count)
    if len(data) < count:
        raise IDXError(f"{path}: truncated: the header declares {' x '.join(map(str, sizes))} = {count:,} "
                       f"values, the file holds {len(data):,}")
    extra = len(stream.read(1 << 16))
    if extra:
        raise IDXError(f"{path}: {'at least ' if extra == 1 << 16 else ''}{extra:,} bytes after the "
                       f"{count:,} values its header declares")
    return sizes, data


def load_images(images_path, labels_path, n_classes=10):
    """ByteImages from an IDX images file (n, rows, cols) and its IDX labels file (n,)."""
    sizes, pixels = read_idx(images_path)
    if len(sizes) not in (3, 4):
        raise IDXError(f"{images_path}: an images file has 3 sizes (n, rows, cols), this one has "
                       f"{len(sizes)}: {sizes}")
    label_sizes, labels = read_idx(labels_path)
    if len(label_sizes) != 1:
        raise IDXError(f"{labels_path}: a labels file has 1 size (n,), this one has {len(label_sizes)}: "
                       f"{label_sizes}")
    if label_sizes[0] != sizes[0]:
        raise IDXError(f"{labels_path}: {label_sizes[0]:,} labels for the {sizes[0]:,} images of {images_path}: "
                       "the counts must match")
    largest = max(labels) if labels else 0
    if largest >= n_classes:
        raise IDXError(f"{labels_path}: label {largest} at position {labels.index(largest)} is out of range "
                       f"for {n_classes} classes (0 to {n_classes - 1})")
    shape = (1,) + tuple(sizes[1:]) if len(sizes) == 3 else tuple(sizes[1:])
    return ByteImages(pixels, labels, shape, n_classes)


# ------------------------------------------------------------------ writing
def write_idx(path, sizes, data):
    """Write unsigned bytes `data` (bytes, of the sizes' product's length) as a gzipped IDX file,
    atomically (utils.write_atomic). The gzip header carries no time stamp or name, so the same
    data always gives the same file."""
    count = 1
    for size in sizes:
        count *= size
    if len(data) != count:
        raise ValueError(f"write_idx: sizes {tuple(sizes)} need {count} values, got {len(data)}")
    header = bytes([0, 0, UNSIGNED_BYTE, len(sizes)]) + struct.pack(f">{len(sizes)}I", *sizes)
    # GzipFile, not gzip.compress: 3.11's gzip.compress writes another OS byte in the header
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as f:
        f.write(header)
        f.write(bytes(data))
    write_atomic(path, buffer.getvalue())


# ------------------------------------------------------- compact data sets
class ByteImages:
    """n images of shape (C, H, W) with their class labels, one byte per pixel.

    pixels  bytes of n * C*H*W values, image after image, each in (channel, row, column) order
    labels  bytes (or a list) of n class indices
    A pixel value v (0-255) becomes the float (v - mean) / std when a batch is taken:
    mean 0 and std 255 give [0, 1] (the default, which keeps blank pixels exact zeros, so
    the first product skips them); `normalized()` gives mean 0 and standard deviation 1.

    take(indices) -> Matrix (len(indices), C*H*W)      the network's input for those images
    targets -> OneHotLabels                            whose take(indices) gives one-hot rows
    Memory: n * C*H*W bytes, plus one batch of floats at a time.
    """

    def __init__(self, pixels, labels, shape, n_classes=10, mean=0.0, std=255.0):
        self.shape = tuple(shape)
        self.size = 1
        for side in self.shape:
            self.size *= side
        if len(pixels) != len(labels) * self.size:
            raise ValueError(f"ByteImages: {len(pixels)} pixel values for {len(labels)} images of "
                             f"{self.size} pixels ({' x '.join(map(str, self.shape))})")
        self.pixels, self.labels, self.n_classes = bytes(pixels), bytes(labels), n_classes
        if not std > 0:
            raise ValueError(f"ByteImages: std must be > 0, got {std}")
        self.mean, self.std = mean, std
        self.table = [(v - mean) / std for v in range(256)]  # value -> float, one shared object each
        self.targets = OneHotLabels(self.labels, n_classes)

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        return f"ByteImages({len(self)} images of {' x '.join(map(str, self.shape))}, {self.n_classes} classes)"

    def take(self, indices):
        """The images at `indices` as a Matrix of floats (one row of C*H*W values each)."""
        pixels, size, lookup = self.pixels, self.size, self.table.__getitem__
        n = len(self.labels)
        rows = []
        for i in indices:
            if not 0 <= i < n:
                raise ValueError(f"image index {i} out of range for {n} images")
            start = i * size
            rows.append(list(map(lookup, pixels[start:start + size])))
        if not rows:
            raise ValueError("take() needs at least one image index")
        return Matrix.from_rows(rows, size)

    def image(self, i):
        """Image i's pixel values (0-255) as a bytes object of C*H*W values."""
        return self.pixels[i * self.size:(i + 1) * self.size]

    def subset(self, indices):
        """A new ByteImages holding only the images at `indices`, in that order (bytes copied)."""
        size, pixels = self.size, self.pixels
        chosen = b"".join(pixels[i * size:(i + 1) * size] for i in indices)
        return ByteImages(chosen, bytes(self.labels[i] for i in indices), self.shape, self.n_classes,
                          self.mean, self.std)

    def pixel_statistics(self):
        """(mean, standard deviation) of the pixel values 0-255 over every image, from a histogram
        of the 256 values (bytes.count runs in C)."""
        counts = [self.pixels.count(value) for value in (bytes([v]) for v in range(256))]
        total = sum(counts)
        mean = sum(v * c for v, c in enumerate(counts)) / total
        variance = sum((v - mean) ** 2 * c for v, c in enumerate(counts)) / total
        return mean, variance ** 0.5

    def normalized(self, mean=None, std=None):
        """The same images (shared bytes), converted as (v - mean) / std: mean 0 and standard deviation 1
        with this set's statistics by default; pass the training set's for a test set."""
        if mean is None or std is None:
            mean, std = self.pixel_statistics()
        view = ByteImages.__new__(ByteImages)
        view.__dict__.update(self.__dict__)  # the same bytes: nothing is copied
        view.mean, view.std = mean, std
        view.table = [(v - mean) / std for v in range(256)]
        return view


class OneHotLabels:
    """Class labels kept as bytes; take(indices) gives their one-hot rows as a Matrix (n, n_classes)."""

    def __init__(self, labels, n_classes):
        self.labels, self.n_classes = labels, n_classes
        self.rows = one_hot(list(range(n_classes)), n_classes).rows  # row k: the one-hot row of class k

    def __len__(self):
        return len(self.labels)

    def take(self, indices):
        labels, rows = self.labels, self.rows
        picked = [rows[labels[i]][:] for i in indices]  # copies: a caller may change a row
        if not picked:
            raise ValueError("take() needs at least one label index")
        return Matrix.from_rows(picked, self.n_classes)
