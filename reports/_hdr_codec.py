"""Decode many encoded HdrHistograms at once into their non-zero counters: ``decode_rows(encoded)``.

The wire form (HdrHistogram's V2 "compressed" encoding, as ``HdrHistogram.encode`` writes it)::

    base64(  cookie 0x1c84930 4 (4 bytes, big-endian) | length of the rest (4)
           | zlib(  cookie 0x1c84930 3 (4) | payload_len (4) | normalizing_index_offset (4)
                  | significant_figures (4) | lowest (8) | highest (8) | int-to-double ratio (8)
                  | payload: one ZigZag LEB128 varint per counter from index 0; a negative
                    value -n stands for n counters of zero ) )

``HdrHistogram.decode`` allocates and fills all 23,552 counters of a histogram and numpy then
scans them: ~100 us a histogram, 7 s for a one-hour run's 72,000 rows. Here Python only does
base64, zlib and the header (~4 us a row); the varints of many rows are decoded together with
numpy (~5 us a row), rows in chunks so memory stays bounded. A histogram of another range or
precision (not written by surgegate's recorder) goes through ``HdrHistogram`` and is re-indexed
value by value; a test checks both paths against ``HdrHistogram`` itself.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

from reports.windows import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, new_histogram

__all__ = ["decode_rows", "decode_sparse", "HistogramError"]

_COMPRESSION_COOKIE, _ENCODING_COOKIE = 0x1C849304, 0x1C849303
_OUTER = struct.Struct(">II")
_HEADER = struct.Struct(">IIIIqqd")
_REFERENCE = new_histogram()
_CHUNK_ROWS = 20_000


class HistogramError(ValueError):
    """Row ``position`` of the input is not an encoded HdrHistogram; ``reason`` says why."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"not an encoded HdrHistogram ({reason})")
        self.position = position
        self.reason = reason


def decode_sparse(encoded: str) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero counters of one histogram, by ``HdrHistogram`` itself: (indices, counts), int64.

    Raises:
        HistogramError: not an encoded histogram (position 0).
    """
    try:
        histogram = HdrHistogram.decode(encoded)
    except Exception as error:  # hdrh raises TypeError, zlib.error, its own cookie and length errors
        raise HistogramError(0, type(error).__name__) from None
    counts = np.ctypeslib.as_array(histogram.counts).astype(np.int64)
    indices = np.flatnonzero(counts)
    if histogram.counts_len == _REFERENCE.counts_len and histogram.unit_magnitude == _REFERENCE.unit_magnitude and \
            histogram.sub_bucket_half_count_magnitude == _REFERENCE.sub_bucket_half_count_magnitude:
        return indices.astype(np.int64), counts[indices]
    remapped = [_REFERENCE._counts_index_for(min(histogram.get_value_from_index(int(i)), HIGHEST_US))
                for i in indices]
    return np.array(remapped, dtype=np.int64), counts[indices]


def _payload(position: int, encoded: str) -> bytes | None:
    """The varint payload of a histogram with surgegate's range; None for another range (decoded the slow way)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
        if len(raw) < _OUTER.size:
            raise HistogramError(position, "too short")
        cookie, length = _OUTER.unpack_from(raw)
        if cookie & ~0xF0 != _COMPRESSION_COOKIE or length != len(raw) - _OUTER.size:
            raise HistogramError(position, "bad cookie or length")
        data = zlib.decompress(raw[_OUTER.size:])
    except (binascii.Error, zlib.error, ValueError) as error:
        if isinstance(error, HistogramError):
            raise
        raise HistogramError(position, type(error).__name__) from None
    if len(data) < _HEADER.size:
        raise HistogramError(position, "header too short")
    cookie, payload_len, offset, digits, lowest, highest, _ = _HEADER.unpack_from(data)
    if cookie & ~0xF0 != _ENCODING_COOKIE or len(data) != _HEADER.size + payload_len:
        raise HistogramError(position, "bad payload cookie or length")
    if (offset, digits, lowest, highest) != (0, SIGNIFICANT_DIGITS, LOWEST_US, HIGHEST_US):
        return None
    if payload_len and data[-1] & 0x80:
        raise HistogramError(position, "payload ends inside a number")
    return data[_HEADER.size:]


def _decode_chunk(first: int, payloads: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, index, count) of every non-zero counter of ``payloads``, rows numbered from ``first``."""
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=len(payloads))
    data = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    if not len(data):
        return (np.zeros(0, np.int64),) * 3
    ends = (data & 0x80) == 0  # the last byte of each varint
    starts = np.flatnonzero(np.concatenate(([True], ends[:-1])))
    varint_of_byte = np.cumsum(np.concatenate(([0], ends[:-1])))
    shift = 7 * (np.arange(len(data)) - starts[varint_of_byte])
    if shift.max() >= 56:  # LEB128-64b9B's 9th byte carries 8 bits: a count of 2^55 or more in one bucket
        row = int(np.repeat(np.arange(len(payloads)), lengths)[int(np.argmax(shift))])
        raise HistogramError(first + row, "a count too large")
    values = np.add.reduceat((data & 0x7F).astype(np.uint64) << shift.astype(np.uint64), starts)
    zigzag = (values >> np.uint64(1)).astype(np.int64) ^ -(values & np.uint64(1)).astype(np.int64)
    row = np.repeat(np.arange(len(payloads)), lengths)[starts]
    step = np.where(zigzag < 0, -zigzag, 1)  # a counter moves the index by 1, a zero run by its length
    after = np.cumsum(step)
    row_first = np.searchsorted(row, np.arange(len(payloads)))
    before_row = np.where(row_first > 0, after[np.maximum(row_first - 1, 0)], 0)
    index = after - step - before_row[row]
    keep = zigzag > 0
    if keep.any() and int(index[keep].max()) >= _REFERENCE.counts_len:
        bad = int(row[keep][int(np.argmax(index[keep]))])
        raise HistogramError(first + bad, "a counter out of range")
    return row[keep] + first, index[keep], zigzag[keep]


def decode_rows(encoded: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every non-zero counter of every histogram: (row position, counter index, count), int64 arrays.

    Raises:
        HistogramError: a row is not an encoded HdrHistogram; ``position`` says which.
    """
    parts = []
    for first in range(0, len(encoded), _CHUNK_ROWS):
        payloads, slow = [], []
        for position in range(first, min(first + _CHUNK_ROWS, len(encoded))):
            payload = _payload(position, encoded[position])
            if payload is None:
                slow.append(position)
            payloads.append(payload or b"")
        parts.append(_decode_chunk(first, payloads))
        for position in slow:
            try:
                indices, counts = decode_sparse(encoded[position])
            except HistogramError as error:
                raise HistogramError(position, error.reason) from None
            parts.append((np.full(len(indices), position, dtype=np.int64), indices, counts))
    if not parts:
        return (np.zeros(0, np.int64),) * 3
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))
