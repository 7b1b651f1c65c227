"""Scale-out on one machine: requests per second with ``--processes 2`` vs one process, and where the CPU went.

    .venv/bin/python benchmarks/scale_out.py                 # 3 rounds of 15 s per side (issue 10, item 5)
    .venv/bin/python benchmarks/scale_out.py --rounds 5 --duration 30
    .venv/bin/python benchmarks/scale_out.py --smoke         # one short round, for the tests

The target is on the same machine: the stub's answers served by nginx
(``benchmarks/_static_shop.py``, captured from the real stub), so that the
load generator, not the shop, is the limit. Nothing is pinned: both sides
get the machine's two cores, as a user running ``--processes 2`` would.
The sides alternate round by round:

``one``   ``locust -f locustfiles/flash_sale.py`` as one process (the local runner)
``two``   the same with ``--processes 2``: a master and two forked workers

Both run ``--users`` shoppers of the zero-think journeys (as in
``generator_efficiency.py``). The rate is read at the target (nginx's own
counter) over ``--duration`` seconds after ``--warmup``; the CPU of every
process over the same window, as a percentage of one core (the machine has
``os.cpu_count()`` x 100):

    one_rps, two_rps                         requests/s served
    ratio_two_to_one                         per round, two / one
    <side>_generator_cpu_percent             all of Locust's processes
    two_master_cpu_percent, two_workers_cpu_percent
    <side>_target_cpu_percent                nginx
    <side>_machine_cpu_percent               every process on the machine (from /proc/stat)
    <side>_other_cpu_percent                 machine - generator - target: other work on a shared machine

Then a few lines saying why the ratio is what it is, from these figures.
nginx comes from apt (``apt-get install -y nginx``): without it the script
exits 2, and ``--smoke`` only captures the stub's answers, saying so. Exit 0 (this benchmark has no target ratio; it
explains), 3 when a side could not be measured. Only 127.0.0.1 is loaded;
every process is started here, bounded, and stopped by its PID.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    EXIT_INCONCLUSIVE, in_scratch_folder, EXIT_MET, REPO, free_port, locust_env, median_spread, print_header, ratio_line, require_tools,
    stop_process, tree_cpu_s)
from benchmarks._static_shop import StaticShop, capture  # noqa: E402
from benchmarks.generator_efficiency import profile_yaml  # noqa: E402
from target_stub.process import StubProcess  # noqa: E402

SIDES = ("one", "two")
LOCUSTFILE = REPO / "locustfiles" / "flash_sale.py"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration_s: float
    warmup_s: float
    users: int
    smoke: bool
    results_dir: Path | None


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="one round of 1 s per side, for the tests")
    p.add_argument("--rounds", type=int, help="rounds, each side once per round (default 3; smoke 1)")
    p.add_argument("--duration", type=float, help="seconds measured per side and round (default 15; smoke 1)")
    p.add_argument("--warmup", type=float, help="seconds of load before measuring (default 4; smoke 1)")
    p.add_argument("--users", type=int, default=40, help="shoppers (split between the workers; default 40)")
    p.add_argument("--results-dir", type=Path, help="keep the run folders here (default: temporary)")
    a = p.parse_args(argv)
    s = Settings(rounds=a.rounds or (1 if a.smoke else 3), duration_s=a.duration or (1.0 if a.smoke else 15.0),
                 warmup_s=a.warmup if a.warmup is not None else (1.0 if a.smoke else 4.0), users=a.users,
                 smoke=a.smoke, results_dir=a.results_dir)
    if s.rounds < 1:
        p.error(f"--rounds: must be >= 1, got {s.rounds}")
    if s.duration_s <= 0 or s.warmup_s < 0:
        p.error(f"--duration, --warmup: must be > 0 and >= 0, got {s.duration_s:g}, {s.warmup_s:g}")
    if s.users < 2:
        p.error(f"--users: must be >= 2, got {s.users}")
    return s


def machine_busy_s() -> float:
    """CPU seconds every core of the machine spent not idle so far (/proc/stat)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def own_cpu_s(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


def measure(side: str, s: Settings, shop: StaticShop, work: Path, round_no: int) -> dict | None:
    """Run one side, measure the target's rate and everyone's CPU over the window, stop it."""
    results = s.results_dir or work / "results"
    (work / "profile.yaml").write_text(profile_yaml(s.users, s.warmup_s + s.duration_s + START_TIMEOUT_S))
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--profile",
           str(work / "profile.yaml"), "--host", shop.url, "--results-dir", str(results),
           "--run-id", f"scale-out-{side}-{round_no}", "--stop-timeout", "2", "--loglevel", "WARNING",
           "--only-summary"]
    if side == "two":  # on a free port: Locust's default 5557 may be taken by another run on the machine
        port = str(free_port())
        cmd += ["--processes", "2", "--master-bind-port", port, "--master-port", port]
    log = open(work / f"{side}-{round_no}.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=locust_env(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        probes = {"generator": lambda: tree_cpu_s(proc.pid), "master": lambda: own_cpu_s(proc.pid),
                  "target": lambda: tree_cpu_s(shop.proc.pid), "machine": machine_busy_s}
        m = shop.measure(proc, s.warmup_s, s.duration_s, probes, start_timeout_s=START_TIMEOUT_S,
                         started_after=2 * s.users)
        if m is not None:
            m["workers_cpu_percent"] = m["generator_cpu_percent"] - m["master_cpu_percent"]
            m["other_cpu_percent"] = m["machine_cpu_percent"] - m["generator_cpu_percent"] - m["target_cpu_percent"]
        return m
    finally:
        stop_process(proc)
        log.close()


def explain(results: dict[str, list[dict]], ratio: float) -> None:
    """Why the ratio is what it is, in the figures just measured (medians of the rounds)."""
    cores = os.cpu_count() or 1

    def med(side: str, key: str) -> float:
        return median_spread([m[key] for m in results[side]])[0]

    cpu_ratio = median_spread([b["generator_cpu_percent"] / a["generator_cpu_percent"]
                               for a, b in zip(results["one"], results["two"], strict=True)])[0]
    per_cpu = {side: median_spread([m["rps"] / m["generator_cpu_percent"] * 100 for m in results[side]])[0]
               for side in SIDES}
    print(f"why: one Locust process runs on one core at a time; with --processes 2 the two workers can use two, "
          f"but share the machine's {cores * 100}% with the master, the shop and everything else running.")
    print(f"why: req/s per generator CPU-second: one process {per_cpu['one']:.0f}, --processes 2 "
          f"{per_cpu['two']:.0f} (the master, forwarding reports and writing the folder, used "
          f"{med('two', 'master_cpu_percent'):.0f}%): the work per request does not change, so the rate follows the "
          f"CPU the generator gets: {cpu_ratio:.2f}x as much with two processes, {ratio:.2f}x the requests.")
    room = cores * 100 - med("two", "target_cpu_percent") - med("two", "master_cpu_percent")
    print(f"why: on a quiet machine the workers could get ~{room:.0f}% ({cores * 100}% less nginx's "
          f"{med('two', 'target_cpu_percent'):.0f}% and the master's): at most ~{room / 100:.1f}x one process; here "
          f"other work took {max(med('two', 'other_cpu_percent'), 0):.0f}% (machine busy "
          f"{med('two', 'machine_cpu_percent'):.0f}%), so the generator got {med('two', 'generator_cpu_percent'):.0f}% "
          f"with two processes against {med('one', 'generator_cpu_percent'):.0f}% with one.")
    print("why: to double, give each worker a core nothing else uses: the shop on other machines, "
          "or more machines with workers (docs/scale-out.md).")


def run(s: Settings, work: Path) -> int:
    missing = require_tools("nginx", smoke=s.smoke)
    with StubProcess("fixed", args=("--query-time-ms", "0")) as stub:
        plan = capture(stub.url, work / "shop")
    print(f"captured_products: {plan['products_captured']}")
    if missing:
        print("measured: no (nginx missing)")
        return EXIT_MET
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    with StaticShop(work / "shop", work / "nginx") as shop:
        for round_no in range(s.rounds):
            for side in (SIDES if round_no % 2 == 0 else SIDES[::-1]):
                m = measure(side, s, shop, work, round_no)
                if m is None:
                    print(f"error: side {side} (round {round_no + 1}) produced no load; its log:\n"
                          + (work / f"{side}-{round_no}.log").read_text()[-3000:], file=sys.stderr)
                    return EXIT_INCONCLUSIVE
                results[side].append(m)
                print(f"round {round_no + 1} {side}: {m['rps']:.0f} req/s; CPU: generator "
                      f"{m['generator_cpu_percent']:.0f}% (master {m['master_cpu_percent']:.0f}%), nginx "
                      f"{m['target_cpu_percent']:.0f}%, whole machine {m['machine_cpu_percent']:.0f}%", flush=True)
    keys = ("rps", "generator_cpu_percent", "master_cpu_percent", "workers_cpu_percent", "target_cpu_percent",
            "machine_cpu_percent", "other_cpu_percent")
    for side in SIDES:
        for k in keys:
            if side == "one" and k in ("master_cpu_percent", "workers_cpu_percent"):
                continue
            print(ratio_line(f"{side}_{k}", [m[k] for m in results[side]], 1 if k == "rps" else 0))
    ratios = [b["rps"] / a["rps"] for a, b in zip(results["one"], results["two"], strict=True)]
    print(ratio_line("ratio_two_to_one", ratios))
    print(f"cpu_cores: {os.cpu_count()}")
    explain(results, median_spread(ratios)[0])
    return EXIT_MET


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    print_header(f"{s.rounds} rounds x {s.duration_s:g} s measured after {s.warmup_s:g} s, {s.users} users, "
                 f"zero think time, nginx and Locust unpinned{' (smoke)' if s.smoke else ''}")
    return in_scratch_folder("scale-out", lambda work: run(s, work))


if __name__ == "__main__":
    sys.exit(main())
