"""One listener on Locust's ``request`` event at a time, for as long as a run records.

The recorder is called on every request, so it listens directly (its
``WindowedRecorder.on_request``, one Python call a request) rather than
through a dispatcher that looks up the run of the moment (issue 10: that
chain of calls was a few percent of a zero-think run's CPU). Attached when
a run's recording starts, detached when it ends.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["RequestHook"]


class RequestHook:
    """Attach a handler to ``environment.events.request``; detach it; never two at once."""

    def __init__(self, environment) -> None:
        self._event = environment.events.request
        self._handler: Callable | None = None

    def attach(self, handler: Callable) -> None:
        """``handler`` gets every request from now on (instead of the one attached before, if any)."""
        self.detach()
        self._event.add_listener(handler)
        self._handler = handler

    def detach(self) -> None:
        """No handler gets requests any more."""
        if self._handler is not None:
            self._event.remove_listener(self._handler)
            self._handler = None
