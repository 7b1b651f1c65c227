"""Bad input to the stub: one line naming the option and the problem, exit code 2."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "target_stub", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "line"), [
    (["--preset", "nope"],
     "Error: --preset: unknown preset 'nope'; choose from: incident, fixed, slow_payment, thread_starved, "
     "short_gateway"),
    (["--preset", "fixd"],
     "Error: --preset: unknown preset 'fixd' (did you mean 'fixed'?); choose from: incident, fixed, slow_payment, "
     "thread_starved, short_gateway"),
    (["--pool-size", "-5"], "Error: --pool-size: must be >= 1, got -5"),
    (["--pool-size", "abc"], "Error: --pool-size: must be an integer, got 'abc'"),
    (["--max-overflow", "2.5"], "Error: --max-overflow: must be an integer, got '2.5'"),
    (["--gateway-timeout-s", "0"], "Error: --gateway-timeout-s: must be > 0, got 0"),
    (["--queries-per-checkout", "2"], "Error: --queries-per-checkout: must be >= 4, got 2"),
    (["--rate-limit-checkout-rps", "5", "--rate-limit-checkout-burst", "0"],
     "Error: --rate-limit-checkout-burst: must be >= 1 when the checkout rate limit is on, got 0"),
    (["--db", "not a url"],
     "Error: --db: malformed database URL 'not a url'; use sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB"),
    (["--db", "mysql://shop@localhost/shop"],
     "Error: --db: unsupported database 'mysql' in 'mysql://shop@localhost/shop'; use sqlite:///FILE or "
     "postgresql+psycopg://..."),
    (["--db", "sqlite://"], "Error: --db: in-memory SQLite gets a different pool; give a file, e.g. sqlite:///shop.db"),
    (["--db", "sqlite:////no/such/folder/shop.db"],
     "Error: --db: folder '/no/such/folder' of the SQLite file does not exist"),
    (["--port", "70000"], "Error: --port: must be between 0 and 65535, got 70000"),
    (["--pool-sise", "3"], "Error: unrecognized arguments: --pool-sise 3"),
])
def test_bad_option_gives_one_line_and_exit_2(args, line):
    """Each bad option: exactly one line on stderr, nothing on stdout, exit code 2."""
    done = _run(*args)
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (2, [line], "")


def test_unreachable_database_gives_one_line_and_exit_2():
    """A PostgreSQL URL where nothing listens: one line naming --db and the URL, password hidden, exit 2."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    done = _run("--db", f"postgresql+psycopg://shop:secret@127.0.0.1:{port}/shop")
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: --db: cannot use postgresql+psycopg://shop:***@127.0.0.1:{port}/shop: ")
    assert "secret" not in done.stderr


def test_port_in_use_gives_one_line_and_exit_2():
    """A port something else listens on: one line, exit 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "target_stub", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.splitlines()) == (2, [f"Error: --port: 127.0.0.1:{port} is already in use"])


@pytest.mark.parametrize(("args", "line"), [
    (["--pool-timeout-s", "inf"], "Error: --pool-timeout-s: must be a finite number, got 'inf'"),
    (["--query-time-ms", "nan"], "Error: --query-time-ms: must be a finite number, got 'nan'"),
    (["--pool-size", "1000000"], "Error: --pool-size: must be <= 10000, got 1000000"),
])
def test_unbounded_knobs_are_refused(args, line):
    """Infinite, NaN and absurd values are bad input, not a stub that fails later with 500s."""
    done = _run(*args)
    assert (done.returncode, done.stderr.splitlines()) == (2, [line])


def test_gateway_is_never_a_proxy_to_another_host(start_stub):
    """A path like //host:port/x (or its %2F form) is refused with 400, never forwarded elsewhere."""
    import http.client

    stub = start_stub("fixed")
    host, port = stub.url.removeprefix("http://").split(":")
    for path in ("//127.0.0.2:9/x", "//example.invalid/x"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (400, b'{"error":"bad_request","detail":"the path must start with a single /"}')
        conn.close()
    assert stub.scrape_gateway().total("shop_gateway_upstream_errors_total") == 0


def test_stub_listens_on_loopback_only():
    """The stub refuses to listen on a non-loopback address."""
    done = _run("--host", "0.0.0.0")
    assert (done.returncode, done.stderr.splitlines()) == (
        2, ["Error: --host: the stub listens on loopback only (127.0.0.1, ::1, localhost), got '0.0.0.0'"])
