r"""Load profiles: load shapes as validated YAML data, and the pure plan that plays them.

Data flow: ``load_profile`` reads, checks and scales a file into a frozen
``Profile``; ``plan_at(profile, elapsed_s)`` says what to run at that second;
``profiles.shape.ProfileShape`` hands that to Locust. This package does not
import Locust (so it imports fast and without gevent's monkey patching); only
``profiles.shape`` does.

File schema (every key is checked; an unknown key is an error, never a default)::

    name: july15                 # required; letters, digits, '-', '_'
    description: ...             # optional text
    time_scale: 0.02             # optional, default 1.0, in (0, 1]:
                                 #   replay seconds = real seconds * time_scale
    mix: {browser: 70, abandoner: 20, buyer: 8, sniper: 2}
                                 # required default journey mix: whole-number
                                 #   relative weights >= 0, at least one > 0;
                                 #   keys from browser, abandoner, buyer, sniper
    think_time_s: {min: 1, max: 5}   # optional, seconds, 0 <= min <= max;
                                 #   absent = the locustfile decides; never scaled
    stages:                      # required, at least one, played back to back
      - name: baseline           # required, unique; SLOs and reports use it
        duration: 5m             # required, real time: '90s', '5m', '1h30m', or seconds
        users: 40                # required, whole number >= 0, reached by the end of the ramp
        spawn_rate: 10           # required, > 0: users started/stopped per second
        mix: {browser: 90, buyer: 10}   # optional, replaces (not merges) the default
        peak: true               # optional, default false; at most one stage

Open model: a stage may give ``arrival_rate`` instead of ``users`` and
``spawn_rate``; then every stage must (a profile is all closed or all open),
and three more top-level keys are allowed::

    arrivals: poisson            # optional: poisson (default) or uniform
    seed: 20240715               # optional whole number >= 0, default 20240715:
                                 #   the same seed, the same arrival times
    max_in_flight: 500           # optional whole number >= 1, default 500: the pool
                                 #   of shoppers in flight; an arrival finding it
                                 #   full is dropped (and counted); --max-in-flight
                                 #   overrides it
    stages:
      - name: peak
        duration: 2m
        arrival_rate: 30         # journeys started per second, >= 0, whatever
                                 #   the shop does; piecewise constant per stage

``time_scale`` shortens the stages (the rates stay per second);
``peak_multiplier`` multiplies the arrival rates. The ramp rule below is the
closed model's only. ``profiles.schedule`` turns the rates into arrival times.

Each stage ramps from the previous stage's users (0 before the first) toward
its own ``users`` at ``spawn_rate``, then holds; the ramp must fit inside the
stage (see ``profiles._build`` for why). Three stages, at time_scale 1::

    users
      ^
   30 |            +----------------+
      |           /                  \
      |          /                    \
   10 |    +----+                      +-----------+
      |   /
    0 +--+--------+-----------------+--------------+--> replay seconds
         0        5                 20             30
         | stage 0 | stage 1         | stage 2      |
         | 10 users| 30 users        | 10 users     |
         | 5/s:    | 10/s:           | 5/s:         |
         | ramp 2 s| ramp 2 s        | ramp 4 s     |

Knobs of ``load_profile``:

* ``time_scale`` compresses the whole timeline (stage durations only; think
  times and the mix are untouched). july15's 2 h 45 min at 0.02 is 198 s.
* ``peak_multiplier`` multiplies every stage's users (rounded half up) and
  spawn rate: "can we take 3x July 15?" means the whole curve three times
  higher, with ramps of the same length.

The ramp rule and the 1-second minimum are checked on the plan after both.
Errors are ``BadInput`` (exit code 2), one line:
``profiles/spike.yaml: stages[2].users: must be >= 0, got -5``.
"""

from __future__ import annotations

from profiles._durations import parse_duration
from profiles._loader import load_profile, shipped_profiles
from profiles._model import DEFAULT_MAX_IN_FLIGHT, DEFAULT_SEED, JOURNEYS, Mix, Profile, Stage, ThinkTime
from profiles._schema import ARRIVALS
from profiles.plan import Tick, plan_at

__all__ = [
    "ARRIVALS",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_SEED",
    "JOURNEYS",
    "Mix",
    "Profile",
    "Stage",
    "ThinkTime",
    "Tick",
    "load_profile",
    "parse_duration",
    "plan_at",
    "shipped_profiles",
]
