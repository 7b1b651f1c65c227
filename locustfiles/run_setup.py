"""Before any load: the recorder's options, the SLO file the run will be judged by, the run's name and manifest.

    --results-dir DIR   where run folders go (default: results)
    --run-id ID         the run's folder name (default: UTC time and profile, e.g. 20261125T061500Z-july15)
    --raw-samples       also write every request to samples.csv.gz (small runs; checking the histograms)
    --slo FILE          the objectives to judge the run by (default: the shipped slo.yaml)

``locustfiles.recording.Recording`` then records the run into the folder
these name.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import locust

from reports.redaction import redact_argv
from reports.results_folder import SCHEMA_VERSION
from surgegate.errors import BadInput

__all__ = ["add_options", "check_slo", "default_run_id", "base_manifest"]


def add_options(parser) -> None:
    """The recorder's command-line options."""
    parser.add_argument("--results-dir", default="results", include_in_web_ui=False,
                        help="folder for run folders (default: results)")
    parser.add_argument("--run-id", default="", include_in_web_ui=False,
                        help="name of this run's folder (default: UTC time and profile)")
    parser.add_argument("--raw-samples", action="store_true", default=False, include_in_web_ui=False,
                        help="also write one row per request to samples.csv.gz in the run's folder")
    parser.add_argument("--slo", default="", include_in_web_ui=False,
                        help="SLO file to judge the run by (default: the shipped slo.yaml)")


def check_slo(options, profile, adapter) -> Path:
    """The SLO file the run will be judged by, checked against the adapter and profile before any load.

    ``--slo`` if given, else the adapter's ``default_slo``, else the shipped ``slo.yaml``.

    Raises:
        BadInput: the file is missing or wrong (one line naming file and field).
    """
    from reports.slo import load_slo, shipped_slo_path

    given = getattr(options, "slo", "")
    if given:
        path = Path(given)
    elif adapter.default_slo:
        path = shipped_slo_path().parent / adapter.default_slo
    else:
        path = shipped_slo_path()
    try:
        load_slo(path, endpoint_names=adapter.endpoint_names or None, stages=profile.stages)
    except BadInput as exc:
        if given:
            raise
        raise BadInput(f"{exc} (no --slo given, so the default for adapter {adapter.name!r} was used: "
                       f"give --slo FILE with objectives for this shop)") from None
    return path


def default_run_id(profile_name: str, now: float | None = None) -> str:
    """``20261125T061500Z-july15``: sortable, and says what ran."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{profile_name}"


def base_manifest(run_id: str, profile, host: str, adapter_name: str) -> dict:
    """The manifest's fixed part: what is about to run."""
    import surgegate

    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": "starting",
        "profile": {"name": profile.name, "source": profile.source, "time_scale": profile.time_scale,
                    "peak_multiplier": profile.peak_multiplier, "total_s": profile.total_s,
                    "model": profile.model,
                    **({"arrivals": profile.arrivals, "seed": profile.seed, "max_in_flight": profile.max_in_flight,
                        "planned_arrivals": round(profile.planned_arrivals, 3)} if profile.is_open else {}),
                    # the effective plan, so that analysis needs the folder alone, not the profile file
                    "stages": [{"name": s.name, "start_s": s.start_s, "end_s": s.end_s, "users": s.users,
                                "spawn_rate": s.spawn_rate, "peak": s.peak, "mix": dict(s.mix),
                                **({"arrival_rate": s.arrival_rate} if s.arrival_rate is not None else {})}
                               for s in profile.stages],
                    "stop_on_breach": profile.stop_on_breach},
        "target": host,
        "adapter": adapter_name,
        "versions": {"surgegate": surgegate.__version__, "locust": locust.__version__},
        "command_line": redact_argv(sys.argv),  # --pg-dsn may hold a password
        "recording": {"window_s": 1.0, "histogram": "HdrHistogram, microseconds, 1 us .. 1 h, 3 significant digits",
                      "windows_keyed_by": "completion time",
                      # open model: hist_due, the time from when each request was due by the schedule
                      "latency_corrected": profile.is_open},
    }
