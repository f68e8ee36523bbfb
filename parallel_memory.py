"""The flat float64 regions DataParallel's processes share (parallel.py, sharded_step.py).

Every parameter of the network is laid end to end, row after row, into one flat vector of S
numbers (_Layout says where each begins). The shared memory holds 2 + N + 2K such regions: the
weights, one gradient region per worker (N), their sum, and for the sharded step two mirrors of
each of the K parts of the optimizer's state (Adam's m and v: K = 2). Copies in and out are one pass per parameter: its rows extended
onto an array("d") (a C-level copy per row) put into a slice of the float64 view, and
array.frombytes out of the byte view, so that the numbers become Python floats once.
"""

from array import array

from matrix import Matrix

DOUBLE = 8  # bytes of a float64


def shard_bounds(n, workers):
    """(start, stop) of each worker's contiguous share of n rows: sizes differ by at most one,
    and a batch smaller than `workers` leaves the last workers without rows (empty shards)."""
    return [(k * n // workers, (k + 1) * n // workers) for k in range(workers)]


class _Layout:
    """Where each parameter lives in a flat float64 region: (offset, rows, cols).

    The regions (see the module's docstring) are `size` numbers each: the weights (written by the
    main process; by the workers, each its slice, in a sharded step), one gradient region per
    worker (written by that worker alone), the sum of the workers' gradients (each worker adds up
    its own slice of it), and the mirrors of the optimizer's state. write puts every matrix's rows
    into a region; read makes one parameter's Matrix from it, its numbers Python floats once.
    """

    def __init__(self, parameters):
        self.slots, offset = [], 0
        for p in parameters:
            n_rows, n_cols = p.value.shape
            self.slots.append((offset, n_rows, n_cols))
            offset += n_rows * n_cols
        self.size = offset

    def write(self, view, base, matrices):
        for (offset, _, _), matrix in zip(self.slots, matrices):
            numbers = array("d")
            for row in matrix.rows:  # as fast as array("d", chain(...)) on CPython, 4x faster on PyPy
                numbers.extend(row)
            view[base + offset:base + offset + len(numbers)] = numbers

    def read(self, buffer, base, index):
        offset, n_rows, n_cols = self.slots[index]
        flat = list(_doubles(buffer, base + offset, base + offset + n_rows * n_cols))
        return Matrix.from_rows([flat[i:i + n_cols] for i in range(0, n_rows * n_cols, n_cols)], n_cols)


def _doubles(buffer, start, stop):
    """Numbers start to stop (counted in float64s) of the byte view `buffer`, as an array("d")."""
    numbers = array("d")
    with buffer[start * DOUBLE:stop * DOUBLE] as chunk:  # released at once: the memory can be closed
        numbers.frombytes(chunk)
    return numbers


def sum_regions(buffer, view, bases, start, stop, out, own=None):
    """out[start:stop] = region 1 + region 2 + ... (in that order) over numbers start to stop,
    where region k begins at bases[k]: one worker's slice of the gradients' sum.
    own = (k, numbers): region k's numbers start to stop, already at hand (the worker's own)."""
    def region(index):
        if own is not None and own[0] == index:
            return own[1]
        return _doubles(buffer, bases[index] + start, bases[index] + stop)
    total = region(0)
    for index in range(1, len(bases)):
        total = [a + b for a, b in zip(total, region(index))]
    view[out + start:out + stop] = total if isinstance(total, array) else array("d", total)


def mirror_offset(size, workers, keys, parity, key):
    """Where, in numbers, the mirror of state `key` after a step of that parity (t % 2) begins:
    after the weights, the `workers` gradient regions and their sum, two mirrors of each of `keys`."""
    return size * (2 + workers + parity * len(keys) + keys.index(key))


def flat_slice(layout, matrices, first, last):
    """Numbers first to last of the flat vector that `matrices` (one per layout slot) make, end to
    end, as one list: only the rows that overlap the slice are copied."""
    numbers = []
    for (offset, n_rows, n_cols), matrix in zip(layout.slots, matrices):
        stop = offset + n_rows * n_cols
        if stop <= first or offset >= last:
            continue
        top = max(0, first - offset) // n_cols
        bottom = min(n_rows, (min(last, stop) - offset + n_cols - 1) // n_cols)
        part = []
        for row in matrix.rows[top:bottom]:
            part.extend(row)
        start = offset + top * n_cols  # where part begins in the flat vector
        numbers.extend(part[max(first, offset) - start:min(last, stop) - start])
    return numbers
