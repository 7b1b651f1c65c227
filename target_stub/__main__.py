"""``python -m target_stub``: start the shop of July 15 behind its gateway.

Examples::

    python -m target_stub                          # incident preset, SQLite, port 8000
    python -m target_stub --preset fixed --port 0  # the fixes; any free port
    python -m target_stub --db postgresql+psycopg://postgres@127.0.0.1:5432/shop --pool-size 8

Bad input (unknown preset, a knob out of range, a malformed or unreachable
database, a port in use) prints one ``Error:`` line and exits 2.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from surgegate import exit_codes
from surgegate.errors import BadInput, SurgegateError
from surgegate.net import is_loopback
from target_stub import db
from target_stub._say import say
from target_stub.catalogue import generate_catalogue
from target_stub.config import KNOBS, build_config
from target_stub.server import bind, run_stub


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m target_stub", description="The shop that broke on July 15, behind its gateway.")
    p.add_argument("--preset", default="incident", help="incident | fixed | slow_payment | thread_starved | "
                   "short_gateway (see target_stub/presets.yaml); default: incident")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--port", default="8000", help="the gateway's port, the shop's URL; 0 = any free port")
    p.add_argument("--app-port", default="0", help="the app's own port behind the gateway; 0 = any free port")
    p.add_argument("--db", default=None, help="SQLAlchemy URL: sqlite:///FILE (default: a temporary file) "
                   "or postgresql+psycopg://USER@HOST:PORT/DB; the stub recreates its shop_* tables there")
    p.add_argument("--catalogue-size", default="3000", help="products generated at start (default 3000)")
    for knob in KNOBS:
        p.add_argument(knob.option, dest=knob.name, default=None, metavar="N", help=knob.help)
    return p


def _port(value: str, option: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise BadInput(f"{option}: must be a port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise BadInput(f"{option}: must be between 0 and 65535, got {port}")
    return port


def main(argv: list[str] | None = None) -> int:
    tmp_dir: str | None = None
    try:
        args = _parser().parse_args(argv)
        try:
            size = int(args.catalogue_size)
        except ValueError:
            raise BadInput(f"--catalogue-size: must be an integer, got {args.catalogue_size!r}") from None
        if args.db is None:
            tmp_dir = tempfile.mkdtemp(prefix="surgegate-stub-")
            args.db = f"sqlite:///{Path(tmp_dir) / 'shop.db'}"
        if not is_loopback(args.host):
            raise BadInput(f"--host: the stub listens on loopback only (127.0.0.1, ::1, localhost), got {args.host!r}")
        url = db.parse_db_url(args.db)
        config = build_config(args.preset, {k.name: getattr(args, k.name) for k in KNOBS},
                              url.render_as_string(hide_password=False), catalogue_size=size)
        gateway_sock = bind(args.host, _port(args.port, "--port"), "--port")
        app_sock = bind(args.host, _port(args.app_port, "--app-port"), "--app-port")
        db.seed(url, generate_catalogue(config.catalogue_size, config.seed))
        return run_stub(config, gateway_sock, app_sock, db_shown=db.safe_url(url))
    except SurgegateError as exc:
        say(sys.stderr, f"Error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    finally:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
