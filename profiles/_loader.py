"""Find a profile file, read its YAML, and hand it to the checks: ``load_profile``.

Shipped profiles are the ``*.yaml`` files next to this module, found through
the package directory rather than the working directory, so ``july15`` works
from any folder and from an installed wheel (``package-data`` ships them).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from profiles._build import build_profile
from profiles._model import Profile
from profiles._schema import Fields
from surgegate.errors import BadInput

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
    checked = fields.top(_read_yaml(path, source))
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


def _read_yaml(path: Path, source: str) -> Any:
    """Parse the file, turning every I/O and YAML failure into one ``BadInput`` line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not UTF-8 text") from None
    except OSError as error:
        raise BadInput(f"{source}: cannot read ({error.strerror})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise BadInput(f"{source}: {where}invalid YAML, {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise BadInput(f"{source}: invalid YAML, {error}") from None


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """Build a mapping, failing at the line of a key seen twice."""
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)):
            continue  # construct_mapping reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
