"""Read a YAML file a user gave surgegate: ``read_yaml(path, source)``, the one reader of profiles, SLO files,
``--metric-names`` and ``--metrics-config``.

Every failure is one ``BadInput`` line (exit 2) that starts with ``source``, the file as the user named it
(``profiles/spike.yaml``, ``--metrics-config m.yaml``)::

    <source>: no such file
    <source>: not UTF-8 text
    <source>: cannot read (<strerror>)                          a folder, no permission, ...
    <source>: line L, column C: invalid YAML, <problem>         1-based, as editors count
    <source>: line 6, column 5: invalid YAML, duplicate key 'users'

A key given twice in one mapping is refused: PyYAML silently keeps the last one, so a
``users: 1`` a few lines above ``users: 2`` would be ignored without a word.
Only plain YAML is read (``SafeLoader``: no Python tags); an empty file is ``None``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from surgegate.errors import BadInput

__all__ = ["read_yaml", "parse_yaml"]


def read_yaml(path: str | os.PathLike[str], source: str) -> Any:
    """The document of the YAML file at ``path``: dicts, lists, strings, numbers, booleans or ``None``.

    Args:
        path: the file to read.
        source: how errors name it, e.g. the path as given or ``--metric-names FILE``.

    Raises:
        BadInput: ``<source>: <what was wrong>``, one line (see the module docstring).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{source}: no such file") from None
    except OSError as error:
        raise BadInput(f"{source}: cannot read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not UTF-8 text") from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str) -> Any:
    """The document of YAML ``text`` read from ``source``; see ``read_yaml``.

    Raises:
        BadInput: ``<source>: line L, column C: invalid YAML, <problem>``.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context
        if error.problem and error.context and error.problem.startswith("but "):  # "but found another document"
            problem = f"{error.context}, {error.problem}"
        elif (error.problem or "").startswith("could not determine a constructor for the tag '!"):
            problem += " (a value starting with '!' must be quoted: '!name')"  # a keep-list's drop pattern
        raise BadInput(f"{source}: {where}invalid YAML, {_one_line(problem)}") from None
    except yaml.reader.ReaderError as error:  # a control character: its position, not a mark
        before = text[: error.position]
        line, column = before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1
        raise BadInput(f"{source}: line {line}, column {column}: invalid YAML, "
                       f"unacceptable character #x{error.character:04x}: {error.reason}") from None
    except yaml.YAMLError as error:
        raise BadInput(f"{source}: invalid YAML, {_one_line(str(error))}") from None


def _one_line(text: str | None) -> str:
    return " ".join((text or "cannot be parsed").split())


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """Build a mapping, failing at the line of a key written twice (a key a merge (``<<``) brings may be overridden)."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)):
            continue  # construct_mapping reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
