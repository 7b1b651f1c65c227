"""The results folder: the contract between a run and everything after it.

    results/<run-id>/
        manifest.json     what ran, when, against what, and how it ended (status, totals); schema_version
        windows.jsonl     one line per (1-s window, endpoint, method, status, kind): count, bytes and the
                          encoded HdrHistogram of response times in microseconds (see reports/windows.py)
        totals.json       the same per key for the whole run, histograms included
        load.jsonl        once a second: t, stage, target_users, users, rps, cpu_percent, rss_mb, cpu_warning,
                          worker_cpu_percent (distributed)
        events.jsonl      what happened when: start, stage (each change), worker_joined, worker_final,
                          worker_lost, worker_back, stop (interrupted or not)
        samples.csv.gz    optional (--raw-samples): one row per request (see reports/raw_samples.py)

Everything stays inside the folder; the run id is sanitised so that it
cannot name anything outside it. Whole files (``manifest.json``,
``totals.json``) are written to a temporary file and renamed into place, so
a reader never sees half of one; ``windows.jsonl`` only grows by whole lines
flushed once a second, so a crash leaves every line up to the last flush
readable (a reader drops a last line without its newline).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from surgegate.errors import BadInput

__all__ = ["ResultsFolder", "sanitise_run_id", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+|\.{2,}")


def sanitise_run_id(raw: str) -> str:
    """``raw`` with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``-``; at most 100 characters.

    Raises:
        BadInput: nothing usable is left.
    """
    cleaned = _UNSAFE.sub("-", raw).strip(".-")[:100]
    if not cleaned:
        raise BadInput(f"--run-id: must contain letters or digits, got {raw!r}")
    return cleaned


class ResultsFolder:
    """One run's folder, created and checked writable before any load is sent."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, base_dir: str | os.PathLike, run_id: str) -> ResultsFolder:
        """Make ``base_dir/run_id`` (sanitised) and prove it writable.

        Raises:
            BadInput: the folder cannot be made or written, or already holds a run.
        """
        base = Path(base_dir)
        path = base / sanitise_run_id(run_id)
        try:
            path.mkdir(parents=True, exist_ok=True)
            if (path / "manifest.json").exists():
                raise BadInput(f"--results-dir: {path} already holds a run; give another --run-id")
            probe = path / ".write-probe"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise BadInput(f"--results-dir: cannot write to {str(base)!r}: {exc.strerror or exc}") from None
        return cls(path)

    def write_json(self, name: str, data: Any) -> None:
        """Write ``name`` whole: to a temporary file in the folder, then renamed over the old one."""
        self.write_text(name, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def write_text(self, name: str, text: str) -> None:
        """Write a member whole: to a temporary file in the folder, flushed, then renamed over the old one."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def append_lines(self, name: str, rows: Iterable[dict]) -> int:
        """Append rows as JSON lines to ``name``, flushed to the file; how many were written."""
        lines = [json.dumps(row, separators=(",", ":"), sort_keys=True) + "\n" for row in rows]
        if lines:
            with open(self.path / name, "a", encoding="utf-8") as f:
                f.write("".join(lines))
                f.flush()
        return len(lines)

    def read_json(self, name: str) -> Any:
        """Read a whole-file JSON member of the folder."""
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def read_lines(self, name: str) -> list[dict]:
        """Read a JSON-lines member, dropping a torn last line (a crash mid-append)."""
        try:
            text = (self.path / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line]
