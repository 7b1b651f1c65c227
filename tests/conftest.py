"""Shared fixtures: the real stub on a free loopback port, and a throwaway PostgreSQL; and how tests share the CPU.

``make test`` runs two pytest-xdist workers (``-n 2 --dist loadgroup``, see pyproject.toml): the
modules in ``LOAD_MODULES`` (real Locust runs against the real stub: timing-sensitive, and most of
the suite's time) go one after another on one worker, whose runs never overlap, and everything else
(pure functions, folders made by hand, single stub requests) on the other meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from target_stub.process import StubProcess
from tests._postgres import ThrowawayPostgres, find_bindir


LOAD_MODULES = frozenset({
    "test_benchmarks_smoke", "test_capacity", "test_capacity_search", "test_demo", "test_diagnosis",
    "test_flash_sale_run", "test_flash_sale_web_ui", "test_gate_run", "test_open_model_run", "test_recording",
    "test_recording_distributed", "test_report_html",
})
"""Modules that run Locust: never two of their runs at once (they would measure each other). The stub's own burst
tests (``test_stub_burst``: a few seconds of concurrent checkouts, asserting only who got a 504) run with the rest.
A module that is mostly something else marks its few runs ``@pytest.mark.load`` instead (``test_server_metrics``,
``test_profile_from_log``), so that the rest of it runs beside the load group, not after it."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns the group mark into the node's group
def pytest_collection_modifyitems(items) -> None:
    """Put every test of a load module, and every test marked ``load``, into the one "load" group."""
    for item in items:
        in_module = item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in LOAD_MODULES
        if in_module or item.get_closest_marker("load") is not None:
            item.add_marker(pytest.mark.xdist_group("load"))


@pytest.fixture(scope="session")
def surge_runs(tmp_path_factory) -> Callable:
    """``surge_runs(preset)``: the 28 s surge against the stub, run once per session (``tests._stub_runs``)."""
    from tests._stub_runs import surge_run

    root = tmp_path_factory.mktemp("surge-runs")
    return lambda preset: surge_run(root, preset)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL database that lives for the test session.

    ``SURGEGATE_TEST_PG_URL`` uses a server that is already running; otherwise
    one is started from the installed binaries. Without them the PostgreSQL
    tests are skipped, unless ``SURGEGATE_REQUIRE_PG=1`` (as in CI) makes
    that a failure.
    """
    given = os.environ.get("SURGEGATE_TEST_PG_URL")
    if given:
        yield given
        return
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("SURGEGATE_REQUIRE_PG") == "1":
            pytest.fail("SURGEGATE_REQUIRE_PG=1 but no PostgreSQL binaries (initdb) were found")
        pytest.skip("PostgreSQL binaries not installed")
    server = ThrowawayPostgres(bindir).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str | None:
    """Each backend in turn: a SQLite file in the test's folder, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def start_stub() -> Iterator[Callable[..., StubProcess]]:
    """Start stubs (``start_stub(preset, db=..., args=[...])``); each is stopped, and must stop cleanly."""
    started: list[StubProcess] = []

    def start(preset: str = "incident", *, db: str | None = None, args: list[str] = ()) -> StubProcess:
        stub = StubProcess(preset, db=db, args=args).start()
        started.append(stub)
        return stub

    yield start
    codes = [stub.stop() for stub in started]
    assert codes == [0] * len(codes), f"stub exit codes {codes}: a stub did not shut down cleanly"

