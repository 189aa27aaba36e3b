"""Hostile configs, counted: ``load_config`` on valid YAML files mutated at random (as text and as a
tree, with ``_base_`` parents), ``config_from_dict`` on random trees and dotted overrides of random
keys and values give a config or one :class:`ConfigError` line (naming the file for a file's error);
never another exception. Settings, strategies and the report: :mod:`tests.hostile`."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import typing
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from vidaction.config import TASKS, ConfigError, config_from_dict, config_to_dict, load_config
from tests.hostile import FIELD_VALUES, HOSTILE, JSON_VALUES, counted, deadline, mutate_node, mutated, write_report

CASES: dict[str, Counter] = defaultdict(Counter)


@pytest.fixture(scope="module", autouse=True)
def report_cases():
    yield
    write_report(counted({f"config/{name}": counts for name, counts in CASES.items()}))


def _key_paths(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    paths = []
    for field in dataclasses.fields(cls):
        paths.append(prefix + field.name)
        if dataclasses.is_dataclass(hints[field.name]):
            paths.extend(_key_paths(hints[field.name], f"{prefix}{field.name}."))
    return paths


KEY_PATHS = sorted({path for root in TASKS.values() for path in _key_paths(root)})
KEY_NAMES = sorted({path.rsplit(".", 1)[-1] for path in KEY_PATHS})
YAML_VALUES = st.sampled_from(["[1, 2]", "{a: 1}", "&a [*a]", "!!python/object/apply:os.system [echo]", "1.0e+999",
                               "9" * 400, ".nan", "~", "'", "[[[[", "2001-12-14", "!!binary aGk=", "{? [a]: 1}",
                               "recognition", "detection", "ucf101", "-1", "0", "yes"])
TREES = st.recursive(
    JSON_VALUES,
    lambda children: st.dictionaries(st.sampled_from(KEY_NAMES) | st.text(max_size=6), children, max_size=4),
    max_leaves=12)

RECOGNITION = b"data:\n  format: ucf101\n  num_frames: 8\nmodel:\n  name: tsm_tiny\noptim:\n  lr: 0.01\n"
DETECTION = (b"task: detection\ndata:\n  input: features\n  feature_channels: 32\n  window: 32\n"
             b"model:\n  backbone: ''\n  channels: 32\ntest:\n  tiou_thresholds: [0.3, 0.5]\n")
FULL = yaml.safe_dump(config_to_dict(load_config(None))).encode()


def check_error(reader: str, call, names: tuple[str, ...] = ()) -> None:
    """``call()`` returns a config within 10 s or raises a one-line ``ConfigError`` (naming one of
    ``names`` when given); any other exception counts as a failure and propagates."""
    CASES[reader]["cases"] += 1
    try:
        try:
            with deadline(10):
                cfg = call()
        except ConfigError as exc:
            CASES[reader]["errors"] += 1
            message = str(exc)
            assert message.splitlines() == [message], message
            assert not names or any(name in message for name in names), message
            return
        assert cfg.task in TASKS and dataclasses.is_dataclass(cfg)
    except BaseException:
        CASES[reader]["failures"] += 1
        raise


@st.composite
def yaml_files(draw) -> tuple[bytes, bytes | None]:
    """``(config.yaml, base.yaml or None)``: a valid file (maybe with a ``_base_`` parent) mutated as
    text or as a tree."""
    valid = draw(st.sampled_from([RECOGNITION, DETECTION, FULL]))
    base = None
    if draw(st.booleans()):
        base, valid = valid, b"_base_: base.yaml\noptim:\n  lr: 0.5\n"
    if draw(st.booleans()):
        tree = mutate_node(draw, yaml.safe_load(valid))
        return yaml.safe_dump(tree, allow_unicode=draw(st.booleans())).encode(), base
    if base is not None and draw(st.booleans()):
        return valid, draw(mutated(base))
    return draw(mutated(valid)), base


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile_configs")


@HOSTILE
@given(files=yaml_files())
@example(files=(b"a: &x [*x]\n", None))
@example(files=(b"[" * 10_000, None))
@example(files=(b"optim:\n  lr: " + b"9" * 400 + b"\n", None))
@example(files=(b"1: 2\n", None))
@example(files=(b"task: [detection]\n", None))
@example(files=(b"_base_: [a]\n", None))
@example(files=(b"_base_: \"a\\0b\"\n", None))
@example(files=(b"data: 5\n", None))
@example(files=(b"\xff\xfe\x00", None))
def test_load_config_on_mutated_yaml(scratch, files):
    folder = Path(tempfile.mkdtemp(dir=scratch))
    try:
        (folder / "config.yaml").write_bytes(files[0])
        if files[1] is not None:
            (folder / "base.yaml").write_bytes(files[1])
        check_error("load_config", lambda: load_config(folder / "config.yaml"), (str(folder),))
    finally:
        shutil.rmtree(folder)


@HOSTILE
@given(tree=st.dictionaries(st.sampled_from(["task", "data", "model", "optim", "schedule", "train", "recipe", "test",
                                             "loss", "mfr"]) | st.text(max_size=6), TREES, max_size=5))
@example(tree={"task": []})
@example(tree={1: 2})
@example(tree={"optim": {"lr": 10**400}})
@example(tree={"train": {"auto_resume": "sometimes"}})
def test_config_from_dict_on_random_trees(tree):
    check_error("config_from_dict", lambda: config_from_dict(tree))


OVERRIDE_KEYS = st.sampled_from(KEY_PATHS) | st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(KEY_PATHS),
                                                       st.sampled_from(KEY_NAMES) | st.text(max_size=4))


@HOSTILE
@given(overrides=st.lists(st.builds(lambda key, value: f"{key}={value}", OVERRIDE_KEYS, FIELD_VALUES | YAML_VALUES)
                          | st.text(max_size=12), max_size=4))
@example(overrides=["model.options.x=1", "model.options.x.y=2"])
@example(overrides=["data=5", "data.root=x"])
@example(overrides=["optim.lr=" + "9" * 400])
@example(overrides=["task=[1]"])
def test_dotted_overrides(overrides):
    check_error("overrides", lambda: load_config(None, overrides))
