"""The locustfile in Locust's web UI: the profiles are offered, a swarm follows the chosen profile."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import requests

from tests._locust import REPO, SHORT_PROFILE, locust_command, locust_env
from tests._shop import session
from tests._net import free_port


def _wait_for(url: str, timeout_s: float = 60) -> requests.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return session().get(url, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_web_ui_offers_profiles_and_swarm_follows_the_shape(start_stub, tmp_path):
    """The form lists the shipped profiles; a swarm with a chosen profile ramps to each stage's users, then stops."""
    stub = start_stub("fixed")
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(locust_command("--web-host", "127.0.0.1", "--web-port", str(port),
                                           "--results-dir", str(tmp_path)), cwd=REPO,
                            env=locust_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = _wait_for(web + "/").text
        args = json.loads(re.search(r"window\.templateArgs = (\{.*?\})\s*\n", page).group(1))
        profile_field = args["extra_options"]["surge_profile"]
        assert profile_field["choices"] == ["capacity", "july15", "july15-open", "soak", "spike", "step"]
        assert profile_field["default_value"] == "july15"
        assert args["extended_tabs"] == [{"title": "surgegate", "key": "surgegate"}]

        refused = session().post(web + "/swarm", data={"user_count": 1, "spawn_rate": 1, "host": stub.url,
                                                      "surge_profile": "nope"}, timeout=10).json()
        assert refused["success"] is False
        assert refused["message"].startswith("--profile: unknown profile 'nope'")

        started = session().post(web + "/swarm", data={"user_count": 1, "spawn_rate": 1, "host": stub.url,
                                                      "surge_profile": str(SHORT_PROFILE), "time_scale": "",
                                                      "peak_multiplier": "1"}, timeout=10).json()
        assert started["success"] is True, started
        again = session().post(web + "/swarm", data={"user_count": 1, "spawn_rate": 1, "host": stub.url,
                                                    "surge_profile": "spike"}, timeout=10).json()
        assert again == {"success": False, "host": stub.url,
                         "message": "a run is in progress: stop it before starting another"}
        seen, tab, deadline = [], [], time.monotonic() + 40
        while time.monotonic() < deadline:
            stats = session().get(web + "/stats/requests", timeout=5).json()
            seen.append((stats["state"], stats["user_count"]))
            tab.append({row["item"]: row for ext in stats.get("extended_stats", []) if ext["key"] == "surgegate"
                        for row in ext["data"]})
            if stats["state"] == "stopped":
                break
            time.sleep(0.25)
        # The surgegate tab: the stage and load as the run goes, the objectives judged live, then the verdict.
        assert any(rows.get("stage", {}).get("status") == "peak (2/3)" for rows in tab), tab[-1]
        assert any("24 planned" in rows.get("load", {}).get("observed", "") for rows in tab)
        assert any(rows.get("overall-error-rate", {}).get("status") in ("holding", "BREACHED") for rows in tab)
        deadline = time.monotonic() + 20
        while "verdict" not in tab[-1] and time.monotonic() < deadline:
            stats = session().get(web + "/stats/requests", timeout=5).json()
            tab.append({row["item"]: row for ext in stats["extended_stats"] if ext["key"] == "surgegate"
                        for row in ext["data"]})
            time.sleep(0.25)
        assert tab[-1]["verdict"]["status"] in ("READY (exit 0)", "NOT READY (exit 1)"), tab[-1]
        assert tab[-1]["verdict"]["observed"].startswith(f"report: {tmp_path}/")
        counts = [c for _, c in seen]
        assert 8 in counts and 24 in counts and max(counts) == 24, seen
        assert counts.index(24) > counts.index(8)
        assert seen[-1][0] == "stopped", "the shape did not end the run by itself"
        sent = stub.scrape_gateway().total("shop_gateway_responses_total")
        assert sent > 0
        (run_folder,) = tmp_path.iterdir()  # one folder for the one swarm
        manifest = json.loads((run_folder / "manifest.json").read_text())
        assert (manifest["profile"]["name"], manifest["status"]) == ("short", "complete")
        verdict = json.loads((run_folder / "verdict.json").read_text())  # judged when the shape ended it
        assert verdict["run"]["run_id"] == run_folder.name and verdict["verdict"] in ("READY", "NOT_READY")
        assert stub.scrape_gateway().total("shop_gateway_responses_total", endpoint="/checkout") > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert "Traceback" not in output, output[-3000:]
