"""Hypothesis strategies that mutate valid annotation and config files, the settings of the hostile-input
property tests, their report, an alarm against hangs, and :class:`Payload`, the crafted object of a
hostile checkpoint.

``HOSTILE`` runs derandomized (the same cases every run), without a deadline or example database;
``VIDACTION_HYPOTHESIS_EXAMPLES`` sets the examples per property (default :data:`EXAMPLES`, sized so
the property tests take about 15 s on 2 cores). With ``VIDACTION_HOSTILE_REPORT=FILE.json`` each test
module merges its counts into that file (``benchmarks/hostile_input.py`` prints them).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import signal
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = 150
HOSTILE = settings(max_examples=int(os.environ.get("VIDACTION_HYPOTHESIS_EXAMPLES", EXAMPLES)), derandomize=True,
                   deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])


class Hang(BaseException):
    """Raised in the main thread by :func:`deadline`; a ``BaseException`` so that no handler of the
    code under test (one that skips unreadable videos, say) swallows it."""


@contextlib.contextmanager
def deadline(seconds: int):
    """Raise :class:`Hang` if the block runs longer than ``seconds`` (``SIGALRM``, main thread)."""
    def expire(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write_report(rows: dict[str, dict]) -> None:
    """Merge ``rows`` (``{name: counts or outcome}``) into the JSON file named by
    ``VIDACTION_HOSTILE_REPORT``, if set."""
    path = os.environ.get("VIDACTION_HOSTILE_REPORT")
    if not path:
        return
    report = Path(path)
    merged = json.loads(report.read_text()) if report.is_file() else {}
    for name, value in rows.items():
        merged[name] = {**merged.get(name, {}), **value}
    report.write_text(json.dumps(merged, indent=1, sort_keys=True))


def counted(counts: dict[str, Counter]) -> dict[str, dict]:
    """Per-property counts (``cases``, ``errors``, ``failures``) with the examples setting, for the report."""
    return {name: dict(c, max_examples=HOSTILE.max_examples) for name, c in counts.items()}


FIELD_VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-10**6, 10**6).map(str),
    st.floats().map(repr),
    st.sampled_from(["", "-1", "0", "nan", "inf", "-inf", "1e309", "-0", "9" * 400, "9" * 5000, "²", "١٢", "--5",
                     "\x00", "ÿ", "🎬", "\u2028", '"', "'", ",", ";", "[", "{}", "null", "a b", "../../x"]),
)
RANDOM_CONTENT = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.sampled_from([b"", b"[" * 100_000, b"{\"a\":" * 50_000, b"9" * 5000, b"\x00" * 64, b"\xff\xfe\x00",
                     b"\xef\xbb\xbf", b"\n" * 1000, b"a," * 200_000]),
)
ENCODINGS = ("utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "utf-8-sig", "shift_jis")


def _lines(content: bytes) -> list[bytes]:
    return content.splitlines(keepends=True) or [b""]


def _drop_line(draw, content: bytes) -> bytes:
    lines = _lines(content)
    del lines[draw(st.integers(0, len(lines) - 1))]
    return b"".join(lines)


def _duplicate_line(draw, content: bytes) -> bytes:
    lines = _lines(content)
    i = draw(st.integers(0, len(lines) - 1))
    return b"".join(lines[:i + 1] + lines[i:])


def _swap_lines(draw, content: bytes) -> bytes:
    lines = _lines(content)
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def _truncate(draw, content: bytes) -> bytes:
    return content[:draw(st.integers(0, len(content)))]


def _replace_field(draw, content: bytes) -> bytes:
    lines = _lines(content)
    i = draw(st.integers(0, len(lines) - 1))
    parts = re.split(rb"([,;\t \"\[\]{}:]+)", lines[i])
    k = draw(st.integers(0, len(parts) - 1))
    parts[k] = draw(FIELD_VALUES).encode("utf-8", "surrogatepass")
    lines[i] = b"".join(parts)
    return b"".join(lines)


def _insert_bytes(draw, content: bytes) -> bytes:
    at = draw(st.integers(0, len(content)))
    return content[:at] + draw(st.binary(min_size=1, max_size=8)) + content[at:]


def _reencode(draw, content: bytes) -> bytes:
    text = content.decode("utf-8", "replace")
    return text.encode(draw(st.sampled_from(ENCODINGS)), "replace")


def _line_endings(draw, content: bytes) -> bytes:
    ending = draw(st.sampled_from([b"\r\n", b"\r", b"\n\n", b"\x85", b"\x0c"]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + content.replace(b"\n", ending)


MUTATIONS = (_drop_line, _duplicate_line, _swap_lines, _truncate, _replace_field, _insert_bytes, _reencode,
             _line_endings)


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """``valid`` after one to three random mutations; one time in eight, random content instead."""
    if draw(st.integers(0, 7)) == 0:
        return draw(RANDOM_CONTENT)
    content = valid
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        content = mutation(draw, content)
    return content


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from([10**400, -(10**400), 2**64, -1, "", "validation", "Archery"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


def _node_paths(node, prefix=()) -> list[tuple]:
    paths = [prefix]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        paths.extend(_node_paths(child, prefix + (key,)))
    return paths


def mutate_node(draw, tree):
    """``tree`` (parsed JSON or YAML) with one random node replaced, deleted or renamed (or duplicated)."""
    path = draw(st.sampled_from(_node_paths(tree)))
    if not path:
        return draw(JSON_VALUES)
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    operation = draw(st.sampled_from(["replace", "replace", "delete", "rename"]))
    if operation == "replace":
        parent[key] = draw(JSON_VALUES)
    elif operation == "delete":
        del parent[key]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=6))] = parent.pop(key)
    else:
        parent.append(parent[key])
    return tree


@st.composite
def json_mutated(draw, valid) -> bytes:
    """The JSON of ``valid`` after one to three node mutations, then half the time a text mutation."""
    tree = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        tree = mutate_node(draw, tree)
    content = json.dumps(tree, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))).encode()
    return draw(mutated(content)) if draw(st.booleans()) else content


@st.composite
def mutated_files(draw, valid: dict[str, bytes], json_files: tuple[str, ...] = ()) -> dict[str, bytes | None]:
    """``valid`` ``{name: content}`` with some files mutated (JSON ones structurally or as text) and,
    now and then, one deleted (``None``)."""
    names = draw(st.lists(st.sampled_from(sorted(valid)), min_size=1, max_size=3, unique=True))
    files: dict[str, bytes | None] = dict(valid)
    for name in names:
        if name in json_files and draw(st.booleans()):
            files[name] = draw(json_mutated(json.loads(valid[name])))
        else:
            files[name] = draw(mutated(valid[name]))
    if draw(st.integers(0, 9)) == 0:
        files[draw(st.sampled_from(sorted(valid)))] = None
    return files


class Payload:
    """Unpickling it creates ``marker``: what a hostile checkpoint could do with any function."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)
