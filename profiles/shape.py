"""``ProfileShape``: the only place where a profile meets Locust.

Import it from the locustfile (Locust picks up the ``LoadTestShape``
subclasses in the locustfile's namespace and instantiates them with no
arguments), then give it its profile before the test starts, typically in an
``init`` listener once ``--profile`` has been parsed::

    from profiles.shape import ProfileShape

    @events.init.add_listener
    def _(environment, **kwargs):
        environment.shape_class.profile = load_profile(environment.parsed_options.profile)

Contract with Locust (``Runner.shape_worker``): ``tick()`` is called about
once a second on the master or local runner, must not block, and returns
``(users, spawn_rate)`` or None to end the run. The shape reads nothing from
``self.runner``; its only input besides the profile is ``get_run_time()``.
"""

from __future__ import annotations

from locust import LoadTestShape

from profiles._model import Profile
from profiles.plan import plan_at

__all__ = ["ProfileShape"]


class ProfileShape(LoadTestShape):
    """Play a ``Profile`` through Locust by wrapping the pure ``plan_at``."""

    profile: Profile | None = None
    """Set on the class or the instance before the first tick."""
    stopped_because: str | None = None
    """Why ``stop_early`` ended the run (None: it plays to the profile's end)."""

    def __init__(self, profile: Profile | None = None) -> None:
        """Start the clock; *profile* may instead be assigned later (Locust passes none)."""
        super().__init__()
        if profile is not None:
            self.profile = profile

    def reset_time(self) -> None:
        """A new run starts (Locust calls this): play the profile from its beginning again."""
        super().reset_time()
        self.stopped_because = None

    def stop_early(self, because: str) -> None:
        """End the run at the next tick: a capacity search found its breaking point."""
        self.stopped_because = because

    def tick(self) -> tuple[int, float] | None:
        """Return the current stage's ``(users, spawn_rate)``, or None after the end or ``stop_early``."""
        if self.profile is None:
            raise RuntimeError("ProfileShape.profile is not set; assign load_profile(...) to it in an init listener")
        if self.stopped_because is not None:
            return None
        tick = plan_at(self.profile, self.get_run_time())
        return None if tick is None else (tick.users, tick.spawn_rate)
