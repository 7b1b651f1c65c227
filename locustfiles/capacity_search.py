"""The capacity search: a profile with ``stop_on_breach`` steps the load up and stops where the shop broke.

Once each stage has ended and its last second is written, the folder so far is judged the way the final
report will judge it (``reports.live.search_breach``: levels of constant load, each held to every
objective over the whole level), in a thread of gevent's pool so that the shoppers' loop is not held
up. At the first level that failed, the recording notes where and why (manifest ``search_stop``,
event ``search_stop``) and the shape ends the run at its next tick: shoppers stop as at a profile's
end, the run is complete (not interrupted), and its verdict says where it broke.

Bounded twice over: the profile's stages are the most load and the longest time it may take (it
stops there by itself when nothing failed, like any profile), and a level that broke stops the run
about ``SETTLE_S`` after its stage ended, plus up to a second for Locust's next tick of the shape:
the shop sees the start of the next step's ramp for a second or two (``load.jsonl`` shows exactly
what load it saw). Judging earlier would judge a level without its last seconds, and a p95 moved by
them would stop a search the final report then says held; a level is judged whole or not yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent

__all__ = ["CapacitySearch", "SETTLE_S"]

log = logging.getLogger("surgegate")

SETTLE_S = 1.1
"""How long after a stage's end to judge it: the recorder writes each second's window and load sample about a
second after it began, so by then the level's last second is in the folder."""
RETRY_S, RETRIES = 0.5, 10
"""A folder not yet complete for that stage (a busy generator; workers, whose windows reach the master every few
seconds) is judged again every ``RETRY_S``, up to ``RETRIES`` times, then at the next stage's end."""


class CapacitySearch:
    """Judges each stage of the run as it ends, and stops the run at the first level an objective failed."""

    def __init__(self, environment, recording: Callable) -> None:
        self.environment = environment
        self.recording = recording
        """Returns the run being recorded (``locustfiles.recording.Recording``) or None."""
        self._greenlet = None

    def start(self) -> None:
        """Watch the run that is starting (the web UI may start several, one after the other)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self._greenlet = gevent.spawn(self._watch, self.recording())

    def _watch(self, recording) -> None:
        from reports.live import search_breach

        pool = gevent.get_hub().threadpool
        for stage in recording.profile.stages[:-1]:  # the last one ends the run anyway
            judge_at_s = stage.end_s + SETTLE_S
            while recording.recorder is not None and recording.elapsed_s() < judge_at_s:
                gevent.sleep(max(0.05, judge_at_s - recording.elapsed_s()))
            for _ in range(RETRIES):
                if recording.recorder is None:
                    return
                try:
                    judged, breach = pool.apply(search_breach, (recording.folder.path, stage.end_s))
                except Exception as exc:  # noqa: BLE001 - a judging error must not stop the run: it plays on, bounded
                    log.warning("surgegate: capacity search could not judge stage %s: %s", stage.name, exc)
                    break
                if breach is not None:
                    recording.stop_early(breach)
                    self.environment.shape_class.stop_early(breach["text"])
                    return
                if judged:
                    break
                gevent.sleep(RETRY_S)
