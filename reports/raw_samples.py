"""The optional raw-sample log: one row per request, for small runs and for checking the histograms.

    samples.csv.gz    (in the run's folder, with ``--raw-samples``)

Columns, one header line first:

=================  ===========================================================
start_time_s       epoch seconds at which the request was sent (microseconds)
name               endpoint template, e.g. ``/products/[id]``
method             HTTP method
status             HTTP status; 0 when there was no answer
kind               failure kind (``reports.records.KINDS``)
response_time_us   whole microseconds, as recorded in the histograms
response_bytes     body size
journey            the shopper's journey (browser, buyer, ...)
worker             the Locust worker that sent it ("" on a local run)
from_due_us        open model: whole microseconds from when the request was due by the arrival
                   schedule to its answer, as in the ``hist_due`` histograms ("" when closed)
=================  ===========================================================

Written in chunks as the run goes (about once a second locally, at every
worker report in distributed mode): each chunk is appended as a gzip member
of its own, which the gzip format allows and every gzip reader (Python's
``gzip``, ``zcat``, pandas) reads as one stream. A crash mid-append leaves a
torn last member; ``read_samples`` stops at it and keeps everything before.

Memory: rows wait in a list only until the next chunk is written.
Size: about 20 bytes per request compressed; a run of a million requests
writes some 20 MB, hence opt-in.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from reports.records import RequestRecord

__all__ = ["COLUMNS", "FILE_NAME", "RawSampleLog", "sample_row", "read_samples"]

FILE_NAME = "samples.csv.gz"
COLUMNS = ("start_time_s", "name", "method", "status", "kind", "response_time_us", "response_bytes", "journey",
           "worker", "from_due_us")


def sample_row(rec: RequestRecord, worker: str = "") -> list:
    """One CSV row of a request (also what a worker ships to the master)."""
    from_due_us = rec.from_due_us
    return [f"{rec.start_time_s:.6f}", rec.name, rec.method, rec.status, rec.kind, rec.response_time_us,
            rec.response_bytes, rec.journey, worker, "" if from_due_us is None else from_due_us]


class RawSampleLog:
    """Appends chunks of sample rows to ``samples.csv.gz`` in a run folder."""

    def __init__(self, folder_path: Path) -> None:
        self.path = Path(folder_path) / FILE_NAME
        self.pending: list[list] = []
        self.written = 0
        self._header_written = self.path.exists()

    def add(self, row: list) -> None:
        """Queue one row (from ``sample_row``) for the next chunk."""
        self.pending.append(row)

    def extend(self, rows: Iterable[list]) -> None:
        """Queue rows shipped by a worker."""
        self.pending.extend(rows)

    def write_chunk(self) -> int:
        """Append the queued rows as one gzip member; how many rows were written."""
        if not self.pending and self._header_written:
            return 0
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        if not self._header_written:
            writer.writerow(COLUMNS)
        writer.writerows(self.pending)
        with open(self.path, "ab") as f:
            f.write(gzip.compress(text.getvalue().encode("utf-8"), compresslevel=5))
            f.flush()
        self._header_written = True
        count, self.pending = len(self.pending), []
        self.written += count
        return count


def read_samples(path: Path) -> Iterator[dict]:
    """Every complete row of a sample log, as dicts with numbers converted; stops at a torn last chunk.

    ``from_due_us`` is None for a closed-model request (and in logs written before the column existed).
    """
    data = Path(path).read_bytes()
    text = []
    while data:
        decompressor = zlib.decompressobj(wbits=31)  # one gzip member
        try:
            chunk = decompressor.decompress(data)
            chunk += decompressor.flush()
        except zlib.error:
            break
        if not decompressor.eof:
            break  # torn: the member ends before its trailer
        text.append(chunk.decode("utf-8"))
        data = decompressor.unused_data
    for row in csv.DictReader(io.StringIO("".join(text))):
        row["start_time_s"] = float(row["start_time_s"])
        for field in ("status", "response_time_us", "response_bytes"):
            row[field] = int(row[field])
        due = row.get("from_due_us")
        row["from_due_us"] = int(due) if due else None
        yield row
