"""Generator efficiency: surgegate's recorded journeys vs bare Locust on the same requests, and wrk's limit.

    .venv/bin/python benchmarks/generator_efficiency.py                 # 7 rounds of 8 s per side (issue 10, item 1)
    .venv/bin/python benchmarks/generator_efficiency.py --rounds 5 --duration 20
    .venv/bin/python benchmarks/generator_efficiency.py --smoke         # one short round, for the tests

The target: the real stub's answers, captured once and served as static files
by nginx (``benchmarks/_static_shop.py``) pinned to core 0 with ``taskset``;
every generator runs pinned to core 1, one at a time, the sides alternating
round by round (the order rotates):

``surgegate``  ``locustfiles/flash_sale.py`` with its recorder (and its server-metrics scraping, of the
               captured metrics pages), ``--users`` shoppers of the zero-think journeys browser 60,
               abandoner 20, buyer 20 (no snipers: their 50-300 ms pauses are fixed), from a profile written
               to a temporary file (one constant stage)
``bare_fast``  bare Locust ``FastHttpUser``, the same requests in the same order (``benchmarks/bare_locustfile.py``)
``bare_http``  bare Locust ``HttpUser`` (requests), the same, for context
``wrk``        wrk (one thread, ``--users`` connections) cycling through the same GET paths: the physical limit

Then paired rounds (``--paired-rounds``, default as many): surgegate and
bare ``FastHttpUser`` at the same time, both pinned to the generator's core,
each against its own nginx on the target's core, and bare against bare as
the control. On a shared machine a core's speed drifts from second to second
(other tenants, caches, memory bandwidth), so alternating rounds also measure
the drift; two sides sharing a core over the same window see the same
machine, and their requests per CPU-second compare without it.

Each side's rate is read at the target, from nginx's own request counter
(``stub_status``), over ``--duration`` seconds after ``--warmup`` seconds of
load: one instrument for all four. Printed, ``key: value`` (median of the
rounds, then ``_spread`` min..max):

    <side>_rps                           requests/s the target served
    <side>_generator_cpu_percent         CPU of the generator's processes over the window (100 = one core)
    <side>_target_cpu_percent            nginx's CPU over the window
    ratio_surgegate_to_bare_fast         per round, surgegate / bare_fast
    <side>_requests_per_cpu_s            requests served per CPU-second of the generator
    ratio_surgegate_to_bare_fast_per_cpu the same ratio per CPU-second: what each request costs the
                                         generator; target >= 0.95. On a quiet machine (each generator
                                         at 100% of its core) it equals the req/s ratio; on a shared one
                                         the req/s ratio also measures which side got more of the core
    ratio_bare_fast_to_wrk, ratio_surgegate_to_wrk, ratio_bare_http_to_bare_fast
    paired_surgegate_to_bare_fast_per_cpu  the per-CPU-second ratio of the paired rounds
    paired_control_per_cpu               bare against bare, paired: how far the pairing itself is from 1

nginx and wrk come from apt (``apt-get install -y nginx wrk``): without them
the script exits 2; ``--smoke`` then still captures the stub's answers and
skips the rest, saying so. Exit 0 when the target ratio (per CPU-second) is met (always in
smoke), 1 when not, 3 when a side could not be measured. Only 127.0.0.1 is
loaded; every process is started here, bounded, and stopped by its PID.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    EXIT_INCONCLUSIVE, in_scratch_folder, EXIT_MET, EXIT_MISSED, REPO, locust_env, median_spread, print_header, ratio_line,
    require_tools, stop_process, tool_path, tree_cpu_s)
from benchmarks._static_shop import StaticShop, capture  # noqa: E402
from target_stub.process import StubProcess  # noqa: E402

TARGET_RATIO = 0.95
SIDES = ("surgegate", "bare_fast", "bare_http", "wrk")
TARGET_CPU, GENERATOR_CPU = 0, 1
LOCUSTFILE = REPO / "locustfiles" / "flash_sale.py"
BARE_LOCUSTFILE = REPO / "benchmarks" / "bare_locustfile.py"
START_TIMEOUT_S = 60.0
PAIRS = (("surgegate", "bare_fast"), ("bare_fast", "bare_fast"))
"""Paired rounds: the sides loading at once, each against its own nginx; bare against bare is the control."""


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration_s: float
    warmup_s: float
    users: int
    smoke: bool
    results_dir: Path | None
    sides: tuple[str, ...] = SIDES
    paired_rounds: int = 0


@dataclass(frozen=True)
class Measure:
    rps: float
    generator_cpu_percent: float
    target_cpu_percent: float


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="one round of 1 s per side, for the tests")
    p.add_argument("--rounds", type=int, help="rounds, each side once per round (default 7: on a shared machine "
                                               "a side's speed drifts from round to round; smoke 1)")
    p.add_argument("--duration", type=float, help="seconds measured per side and round (default 8; smoke 1)")
    p.add_argument("--warmup", type=float, help="seconds of load before measuring (default 3; smoke 0.5)")
    p.add_argument("--users", type=int, default=20, help="concurrent users / connections per side (default 20)")
    p.add_argument("--results-dir", type=Path, help="keep surgegate's run folders here (default: temporary)")
    p.add_argument("--paired-rounds", type=int, help="rounds of the sides loading at once (default: --rounds; "
                                                      "smoke 1, without the control; 0: none)")
    p.add_argument("--sides", default=",".join(SIDES),
                   help=f"comma-separated sides to run, surgegate and bare_fast always (default {','.join(SIDES)})")
    a = p.parse_args(argv)
    sides = tuple(x for x in SIDES if x in {"surgegate", "bare_fast", *a.sides.split(",")})
    unknown = set(a.sides.split(",")) - set(SIDES)
    if unknown:
        p.error(f"--sides: must name sides among {', '.join(SIDES)}, got {', '.join(sorted(unknown))}")
    s = Settings(rounds=a.rounds or (1 if a.smoke else 7), duration_s=a.duration or (1.0 if a.smoke else 8.0),
                 warmup_s=a.warmup if a.warmup is not None else (0.5 if a.smoke else 3.0), users=a.users,
                 smoke=a.smoke, results_dir=a.results_dir, sides=sides)
    s = dataclasses.replace(s, paired_rounds=s.rounds if a.paired_rounds is None else a.paired_rounds)
    if s.rounds < 1:
        p.error(f"--rounds: must be >= 1, got {s.rounds}")
    if s.paired_rounds < 0:
        p.error(f"--paired-rounds: must be >= 0, got {s.paired_rounds}")
    if s.duration_s <= 0 or s.warmup_s < 0:
        p.error(f"--duration, --warmup: must be > 0 and >= 0, got {s.duration_s:g}, {s.warmup_s:g}")
    if s.users < 1:
        p.error(f"--users: must be >= 1, got {s.users}")
    return s


def profile_yaml(users: int, duration_s: float) -> str:
    """One constant stage of ``users`` shoppers who never think (no snipers), reached in 1 s."""
    return ("# Written by benchmarks/generator_efficiency.py: zero think time, constant load.\n"
            "name: generator-efficiency\ntime_scale: 1\n"
            "mix: {browser: 60, abandoner: 20, buyer: 20, sniper: 0}\n"
            "think_time_s: {min: 0, max: 0}\n"
            f"stages:\n  - {{name: full-rate, duration: {duration_s:g}s, users: {users}, spawn_rate: {users}, "
            "peak: true}\n")


def wrk_script(plan: dict, path: Path) -> None:
    """A wrk Lua script cycling through the journeys' GET paths (pages, searches, products)."""
    from urllib.parse import quote

    paths = [f"/products?page={p}&per_page=24" for p in plan["pages"]]
    paths += [f"/search?q={quote(t)}&per_page=24" for t in plan["terms"]]
    paths += [f"/products/{i}" for ids in plan["pages"].values() for i in ids]
    lines = ",\n".join(json.dumps(x) for x in paths)
    path.write_text(f"local paths = {{\n{lines}\n}}\nlocal i = 0\n"
                    "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n")


def command(side: str, s: Settings, shop: StaticShop, work: Path, round_no: int) -> list[str]:
    """The generator's command line, pinned to the generator's core (surgegate's profile written in ``work``)."""
    run_for_s = s.warmup_s + s.duration_s + START_TIMEOUT_S  # stopped as soon as measured
    pin = ["taskset", "-c", str(GENERATOR_CPU)]
    if side == "wrk":
        return [*pin, tool_path("wrk"), "-t1", f"-c{s.users}", f"-d{int(run_for_s)}s", "-s", str(work / "paths.lua"),
                shop.url]
    common = ["--headless", "--host", shop.url, "--loglevel", "WARNING", "--only-summary"]
    if side == "surgegate":
        results = s.results_dir or work / "results"
        (work / "profile.yaml").write_text(profile_yaml(s.users, run_for_s))
        return [*pin, sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *common, "--profile",
                str(work / "profile.yaml"), "--results-dir", str(results), "--run-id", f"efficiency-{round_no}",
                "--stop-timeout", "2"]
    user_class = {"bare_fast": "BareFastShopper", "bare_http": "BareHttpShopper"}[side]
    return [*pin, sys.executable, "-m", "locust", "-f", str(BARE_LOCUSTFILE), user_class, *common,
            "-u", str(s.users), "-r", str(s.users), "-t", f"{int(run_for_s)}s"]


def start(side: str, s: Settings, shop: StaticShop, work: Path, round_no: int, log) -> subprocess.Popen:
    """One generator loading ``shop``, its output to ``log``."""
    env = {**locust_env(), "SURGEGATE_BENCH_PLAN": str(work / "shop" / "plan.json")}
    return subprocess.Popen(command(side, s, shop, work, round_no), cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def measure(side: str, s: Settings, shop: StaticShop, work: Path, round_no: int) -> Measure | None:
    """Start one generator, wait for its load, measure the target's rate over the window, stop it."""
    log = open(work / f"{side}-{round_no}.log", "w")
    proc = start(side, s, shop, work, round_no, log)
    try:
        m = shop.measure(proc, s.warmup_s, s.duration_s, {"generator": lambda: tree_cpu_s(proc.pid),
                                                         "target": lambda: tree_cpu_s(shop.proc.pid)},
                         start_timeout_s=START_TIMEOUT_S, started_after=2 * s.users + 2)
        return None if m is None else Measure(m["rps"], m["generator_cpu_percent"], m["target_cpu_percent"])
    finally:
        stop_process(proc)
        log.close()


def measure_pair(pair: tuple[str, str], s: Settings, shops: tuple[StaticShop, StaticShop], work: Path,
                 round_no: int) -> tuple[float, float] | None:
    """Requests per CPU-second of each side of ``pair``, loading at once (each its own nginx), over one window.

    surgegate's run folders go to a scratch folder (``--results-dir`` holds the alternating rounds' only).
    None when a side produced no load or stopped before the end of the window.
    """
    s = dataclasses.replace(s, results_dir=None)
    folders = [work / f"pair-{i}" for i in range(2)]
    procs, logs = [], []
    try:
        for side, shop, folder in zip(pair, shops, folders, strict=True):
            folder.mkdir(exist_ok=True)
            (folder / "shop").mkdir(exist_ok=True)
            (folder / "shop" / "plan.json").write_bytes((work / "shop" / "plan.json").read_bytes())
            logs.append(open(folder / f"{side}-{round_no}.log", "w"))
            procs.append(start(side, s, shop, folder, round_no, logs[-1]))
        deadline = time.monotonic() + START_TIMEOUT_S
        baselines = [shop.requests_served() for shop in shops]
        while any(shop.requests_served() < base + 2 * s.users + 2 for shop, base in zip(shops, baselines)):
            if any(proc.poll() is not None for proc in procs) or time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        time.sleep(s.warmup_s)
        counts0, cpu0 = [shop.requests_served() for shop in shops], [tree_cpu_s(proc.pid) for proc in procs]
        time.sleep(s.duration_s)
        counts1, cpu1 = [shop.requests_served() for shop in shops], [tree_cpu_s(proc.pid) for proc in procs]
        if any(proc.poll() is not None for proc in procs):
            return None
        a, b = ((n1 - n0 - 1) / (c1 - c0) for n0, n1, c0, c1 in zip(counts0, counts1, cpu0, cpu1))
        return a, b
    finally:
        for proc in procs:
            stop_process(proc)
        for log in logs:
            log.close()


def run_pairs(s: Settings, work: Path, shop: StaticShop) -> dict[tuple[str, str], list[float]] | None:
    """The paired rounds' per-CPU-second ratios, per pair; None (said on stderr) when one could not be measured."""
    pairs = PAIRS[:1] if s.smoke else PAIRS
    ratios: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
    with StaticShop(work / "shop", work / "nginx-b", cpu=TARGET_CPU) as shop_b:
        for round_no in range(s.paired_rounds):
            for pair in pairs[round_no % len(pairs):] + pairs[:round_no % len(pairs)]:
                m = measure_pair(pair, s, (shop, shop_b), work, round_no)
                if m is None:
                    print(f"error: paired {pair[0]} and {pair[1]} (round {round_no + 1}) produced no load; see "
                          f"{work / 'pair-0'} and {work / 'pair-1'}", file=sys.stderr)
                    return None
                ratios[pair].append(m[0] / m[1])
                print(f"paired round {round_no + 1} {pair[0]} with {pair[1]}: {m[0]:.0f} and {m[1]:.0f} requests per "
                      f"CPU-second, ratio {m[0] / m[1]:.3f}", flush=True)
    return ratios


def run(s: Settings, work: Path) -> int:
    missing = require_tools("nginx", "wrk", smoke=s.smoke)
    with StubProcess("fixed", args=("--query-time-ms", "0")) as stub:
        plan = capture(stub.url, work / "shop")
    print(f"captured_pages: {len(plan['pages'])}")
    print(f"captured_searches: {len(plan['search'])}")
    print(f"captured_products: {plan['products_captured']}")
    if missing:
        print("measured: no (nginx or wrk missing)")
        return EXIT_MET
    wrk_script(plan, work / "paths.lua")
    results: dict[str, list[Measure]] = {side: [] for side in s.sides}
    with StaticShop(work / "shop", work / "nginx", cpu=TARGET_CPU) as shop:
        for round_no in range(s.rounds):
            order = s.sides[round_no % len(s.sides):] + s.sides[:round_no % len(s.sides)]
            for side in order:
                m = measure(side, s, shop, work, round_no)
                if m is None:
                    print(f"error: {side} (round {round_no + 1}) produced no load; its log:\n"
                          + (work / f"{side}-{round_no}.log").read_text()[-3000:], file=sys.stderr)
                    return EXIT_INCONCLUSIVE
                results[side].append(m)
                print(f"round {round_no + 1} {side}: {m.rps:.0f} req/s, generator CPU "
                      f"{m.generator_cpu_percent:.0f}%, nginx CPU {m.target_cpu_percent:.0f}%", flush=True)
        paired = run_pairs(s, work, shop) if s.paired_rounds else {}
        if paired is None:
            return EXIT_INCONCLUSIVE
    for side in s.sides:
        print(ratio_line(f"{side}_rps", [m.rps for m in results[side]], 1))
        print(ratio_line(f"{side}_generator_cpu_percent", [m.generator_cpu_percent for m in results[side]], 0))
        print(ratio_line(f"{side}_target_cpu_percent", [m.target_cpu_percent for m in results[side]], 0))

    def per_round(a: str, b: str) -> list[float]:
        return [x.rps / y.rps for x, y in zip(results[a], results[b], strict=True)]

    def per_cpu(a: str, b: str) -> list[float]:
        return [(x.rps / x.generator_cpu_percent) / (y.rps / y.generator_cpu_percent)
                for x, y in zip(results[a], results[b], strict=True)]

    for side in s.sides:
        print(ratio_line(f"{side}_requests_per_cpu_s", [m.rps / m.generator_cpu_percent * 100 for m in results[side]],
                         0))
    ratio = per_round("surgegate", "bare_fast")
    print(ratio_line("ratio_surgegate_to_bare_fast", ratio))
    print(ratio_line("ratio_surgegate_to_bare_fast_per_cpu", per_cpu("surgegate", "bare_fast")))
    if "wrk" in s.sides:
        print(ratio_line("ratio_surgegate_to_wrk", per_round("surgegate", "wrk")))
        print(ratio_line("ratio_bare_fast_to_wrk", per_round("bare_fast", "wrk")))
    if "bare_http" in s.sides:
        print(ratio_line("ratio_bare_http_to_bare_fast", per_round("bare_http", "bare_fast")))
    for pair, key in ((PAIRS[0], "paired_surgegate_to_bare_fast_per_cpu"), (PAIRS[1], "paired_control_per_cpu")):
        if paired.get(pair):
            print(ratio_line(key, paired[pair]))
    print(f"target_ratio: {TARGET_RATIO}")
    if s.results_dir is not None:
        print(f"results_folder: {s.results_dir / f'efficiency-{s.rounds - 1}'}")
    if s.smoke:
        print("target_met: n/a (smoke: too short to say)")
        return EXIT_MET
    # Judged per CPU-second: on a quiet machine, where each generator has its core to itself, it is the
    # req/s ratio; on a shared one the req/s ratio also measures who got more of the core.
    met = median_spread(per_cpu("surgegate", "bare_fast"))[0] >= TARGET_RATIO
    print("target_judged_on: ratio_surgegate_to_bare_fast_per_cpu")
    print(f"target_met: {'yes' if met else 'no'}")
    return EXIT_MET if met else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    print_header(f"{s.rounds} rounds x {s.duration_s:g} s measured after {s.warmup_s:g} s, then {s.paired_rounds} "
                 f"paired, {s.users} users per side, zero think time; nginx on CPU {TARGET_CPU}, generators on CPU "
                 f"{GENERATOR_CPU}"
                 f"{' (smoke)' if s.smoke else ''}")
    return in_scratch_folder("efficiency", lambda work: run(s, work))


if __name__ == "__main__":
    sys.exit(main())
