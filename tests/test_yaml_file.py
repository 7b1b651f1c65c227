"""Tests for ``surgegate.yaml_file``: every YAML file a user gives fails in the same one line.

Profiles, SLO files, ``--metric-names`` and ``--metrics-config`` are read by the one reader;
each reader below is the real entry point, so a file that fails one way fails alike in all four.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from profiles import load_profile
from reports.keep_list import load_keep_list
from reports.metric_names import load_metric_names
from reports.slo import load_slo
from surgegate.errors import BadInput
from surgegate.yaml_file import parse_yaml, read_yaml

READERS = {
    "profile": (load_profile, "{path}"),
    "slo": (load_slo, "{path}"),
    "metric-names": (load_metric_names, "--metric-names {path}"),
    "metrics-config": (lambda path: load_keep_list(str(path)), "--metrics-config {path}"),
}

BAD_FILES = [
    pytest.param(b"a: [1,\n", "line 2, column 1: invalid YAML, expected the node content, but found '<stream end>'",
                 id="syntax"),
    pytest.param(b"a: 1\nb:\n  c: 2\n  c: 3\n", "line 4, column 3: invalid YAML, duplicate key 'c'", id="duplicate"),
    pytest.param(b"a: \xe9t\xe9\n", "not UTF-8 text", id="latin-1"),
    pytest.param(b"a: b\x07c\n", "line 1, column 5: invalid YAML, unacceptable character #x0007: "
                                 "special characters are not allowed", id="control-character"),
    pytest.param(b"a: 1\n---\na: 2\n", "line 2, column 1: invalid YAML, expected a single document in the stream, "
                                       "but found another document", id="two-documents"),
    pytest.param(b"a: !!python/object:os.system x\n", "line 1, column 4: invalid YAML, could not determine a "
                                                      "constructor for the tag 'tag:yaml.org,2002:python/object:os.system'",
                 id="python-tag"),
]


def _error(reader: str, path: Path) -> str:
    load, source = READERS[reader]
    with pytest.raises(BadInput) as caught:
        load(path)
    assert caught.value.exit_code == 2
    return str(caught.value).replace(source.format(path=path), "<source>", 1)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("content", "problem"), BAD_FILES)
def test_every_reader_says_a_bad_file_in_the_same_line(tmp_path, reader, content, problem):
    """A broken file is one line, ``<source>: <problem>``, whichever of the four files it was given as."""
    path = tmp_path / "given.yaml"
    path.write_bytes(content)
    assert _error(reader, path) == f"<source>: {problem}"


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_says_a_missing_file_or_a_folder_alike(tmp_path, reader):
    """No file: ``no such file``; a folder: ``cannot read (Is a directory)``, the system's own words."""
    assert _error(reader, tmp_path / "nope.yaml") == "<source>: no such file"
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert _error(reader, folder) == "<source>: cannot read (Is a directory)"


def test_a_merge_key_may_be_overridden_but_a_key_not_repeated():
    """A key a ``<<`` merge brings can be overridden (that is what merges are for); the same key twice cannot."""
    text = "base: &base {users: 1, spawn_rate: 2}\nstage:\n  <<: *base\n  users: 5\n"
    assert parse_yaml(text, "f.yaml") == {"base": {"users": 1, "spawn_rate": 2},
                                          "stage": {"users": 5, "spawn_rate": 2}}
    with pytest.raises(BadInput, match=r"^f\.yaml: line 2, column 2: invalid YAML, duplicate key 1$"):
        parse_yaml("{1: a,\n 1: b}", "f.yaml")


def test_an_empty_file_is_none(tmp_path):
    """An empty file is no document: ``None``, for the caller to say what it needed."""
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert read_yaml(path, "empty.yaml") is None
