"""Find a profile file, read its YAML, and hand it to the checks: ``load_profile``.

Shipped profiles are the ``*.yaml`` files next to this module, found through
the package directory rather than the working directory, so ``july15`` works
from any folder and from an installed wheel (``package-data`` ships them).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from profiles._build import build_profile
from profiles._model import Profile
from profiles._schema import Fields
from surgegate.errors import BadInput
from surgegate.yaml_file import read_yaml

__all__ = ["load_profile", "shipped_profiles"]

PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_profiles() -> tuple[str, ...]:
    """Return the names of the profiles shipped with surgegate, sorted."""
    return tuple(sorted(path.stem for path in PACKAGE_DIR.glob("*.yaml")))


def load_profile(
    name_or_path: str | os.PathLike[str], *, time_scale: float | None = None, peak_multiplier: float = 1.0,
    max_in_flight: int | None = None,
) -> Profile:
    """Read, check and scale a profile; call it before the first user spawns.

    Args:
        name_or_path: a shipped profile name (``july15``) or a path to a YAML file.
            A ``PathLike``, or a string holding a ``/`` or ending in ``.yaml``/``.yml``,
            is a path; any other string is a name.
        time_scale: replay seconds per real second, in (0, 1]; replaces the file's.
        peak_multiplier: > 0; multiplies every stage's users (rounded half up) and
            spawn rate, so "3x July 15" is the whole curve three times higher with
            ramps of the same length; in an open profile, every arrival rate.
        max_in_flight: open profiles only, >= 1; replaces the file's ``max_in_flight``.

    Returns:
        The effective profile: the ramp rule has been checked on it, after both knobs.

    Raises:
        BadInput: unknown name, unreadable file, invalid YAML, or a field or plan
            rule broken; the message is one line starting with the file as given.
    """
    path, source = _resolve(name_or_path)
    fields = Fields(source)
    checked = fields.top(read_yaml(path, source))
    return build_profile(checked, fields, time_scale=time_scale, peak_multiplier=peak_multiplier,
                         max_in_flight=max_in_flight)


def _resolve(name_or_path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Return the file to read and how errors should name it."""
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text or text.endswith((".yaml", ".yml")):
        return Path(text), text
    shipped = shipped_profiles()
    if text not in shipped:
        close = difflib.get_close_matches(text, shipped, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise BadInput(
            f"unknown profile {text!r}{hint}; shipped profiles: {', '.join(shipped)}, or a path to a .yaml file"
        )
    return PACKAGE_DIR / f"{text}.yaml", f"profiles/{text}.yaml"
