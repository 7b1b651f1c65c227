"""Entry point of the app's child process (started by ``target_stub.server``).

Argument: the file descriptor of the listening socket the parent bound for
it. The config comes as JSON on stdin (not argv, which any local user can
read: the database URL may hold a password).
"""

from __future__ import annotations

import json
import signal
import socket
import sys

import uvicorn
from prometheus_client import disable_created_metrics

from target_stub.app import create_app
from target_stub.config import StubConfig


def main(argv: list[str]) -> int:
    config = StubConfig(**json.loads(sys.stdin.read()))
    sock = socket.socket(fileno=int(argv[0]))
    # uvicorn re-raises the caught signal after its graceful shutdown: make that a no-op.
    disable_created_metrics()  # the *_created series only add noise to every scrape
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", access_log=False,
                                           http="httptools", loop="uvloop", timeout_graceful_shutdown=5,
                                           timeout_keep_alive=75))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
