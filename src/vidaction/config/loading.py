"""From YAML files, plain dicts and ``key=value`` overrides to a checked config tree, and back.

The top-level ``task`` key picks the schema: ``recognition`` (the default,
:class:`~vidaction.config.recognition.ExperimentConfig`) or ``detection``
(:class:`~vidaction.config.detection.DetectionExperimentConfig`). A YAML file may name a parent with
``_base_: relative/path.yaml``; the child's keys override the parent's, section by section. Keys of a
section marked :data:`~vidaction.config.common.FLAT_KEYS` may be written one level up (``recipe.teacher``
for ``recipe.mfr.teacher``); each file, dict and override is moved into the nested form before anything
is merged, so a flat parent and a nested child override each other key by key. Unknown keys fail at load
time with the closest valid key; values are checked against the field types (an int is taken for a
float); cross-field checks live in each section's ``__post_init__``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from vidaction.config.common import ConfigError
from vidaction.config.detection import DetectionExperimentConfig
from vidaction.config.recipes import SECTION_USERS
from vidaction.config.recognition import ExperimentConfig

# The root dataclass of each task (the YAML's top-level ``task``, default recognition).
TASKS = {"recognition": ExperimentConfig, "detection": DetectionExperimentConfig}
MAX_YAML_VALUES = 100_000
"""A config file or override whose aliases expand to more values is refused (a "billion laughs" file)."""


def _closest(name: Any, candidates: list[str], prefix: str = "") -> str:
    match = difflib.get_close_matches(str(name), candidates, n=1, cutoff=0.0)
    return f"; did you mean {prefix + match[0]!r}?" if match else ""


def _shown(key: str) -> str:
    """``key`` as written when printable, else its ``repr`` (so an error stays one line)."""
    return key if key.isprintable() else repr(key)


def _section_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _flat_routes(cls: type) -> dict[str, str]:
    """``{key: section}`` for the keys of ``cls``'s sections that may be written directly on ``cls``."""
    hints = _section_types(cls)
    return {key.name: section.name for section in dataclasses.fields(cls) if section.metadata.get("flat_keys")
            for key in dataclasses.fields(hints[section.name])}


def _key_names(cls: type) -> list[str]:
    """The keys ``cls`` accepts: its fields and the flat keys of its sections."""
    return [f.name for f in dataclasses.fields(cls)] + list(_flat_routes(cls))


def _nest(tree: dict, cls: type, prefix: str = "") -> dict:
    """A copy of ``tree`` with every flat key moved into the section of ``cls`` that owns it."""
    hints, routes = _section_types(cls), _flat_routes(cls)
    out = {}
    for key, value in tree.items():
        annotation = hints.get(key) if key not in routes else None
        if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
            value = _nest(value, annotation, f"{prefix}{key}.")
        out[key] = value
    for key, section in routes.items():
        if key not in out:
            continue
        value, nested = out.pop(key), out.get(section, {})
        if not isinstance(nested, dict):
            raise ConfigError(f"{prefix}{section} must be a mapping")
        if key in nested and nested[key] != value:
            raise ConfigError(f"{prefix}{key}={value!r} and {prefix}{section}.{key}={nested[key]!r} name the same "
                              f"setting; give one")
        out[section] = {**nested, key: value}
    return out


def _nest_any_task(tree: dict) -> dict:
    """:func:`_nest` for a file whose task a ``_base_`` may still set: the tasks share no section
    that has flat keys, so each task's routes leave the other's sections alone."""
    for root in TASKS.values():
        tree = _nest(tree, root)
    return tree


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a field annotation, converting int -> float where natural."""
    origin = typing.get_origin(annotation) or annotation
    if origin in (typing.Union, types.UnionType):
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{key} expects float, got an integer too large for one") from None
    expected = {bool: bool, int: int, float: float, str: str, list: list, dict: dict}.get(origin)
    if expected is None:
        return value
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{key} expects an integer, got {value!r}")
    if expected is list and isinstance(value, tuple):
        return list(value)
    if expected is str and value is None:
        return ""
    if not isinstance(value, expected):
        raise ConfigError(f"{key} expects {expected.__name__}, got {value!r} ({type(value).__name__})")
    return value


def _build(cls: type, values: dict, prefix: str) -> Any:
    """``cls`` from a nested dict (:func:`_nest`), checking every key and value."""
    hints = _section_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"unknown config key {_shown(prefix + str(key))}"
                              f"{_closest(key, _key_names(cls), prefix)}")
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{key} must be a mapping")
            # A section's own defaults (e.g. detection's Adam optimiser) apply under the given keys.
            factory = fields[key].default_factory
            defaults = dataclasses.asdict(factory()) if factory is not dataclasses.MISSING else {}
            kwargs[key] = _build(annotation, _merge(defaults, value), f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(f"{prefix}{key}", value, annotation)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:  # a cross-field check met values of another type
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: invalid values ({exc})") from exc


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "options":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _expanded_size(value: Any, where: str, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Values in ``value`` with every YAML alias expanded (each shared node counted once per use);
    an alias inside the value it names (``a: &x [*x]``) is a ``ConfigError``."""
    if not isinstance(value, (dict, list)):
        return 1
    node = id(value)
    if node in open_nodes:
        raise ConfigError(f"{where}: a YAML alias refers to a value that contains it")
    if node not in sizes:
        open_nodes.add(node)
        children = value.values() if isinstance(value, dict) else value
        sizes[node] = 1 + sum(_expanded_size(child, where, sizes, open_nodes) for child in children)
        open_nodes.discard(node)
    return sizes[node]


def _safe_yaml(text: str | bytes, where: str) -> Any:
    """``yaml.safe_load`` of ``text``; malformed, undecodable or too deeply nested YAML, a recursive
    alias, or aliases that expand to more than :data:`MAX_YAML_VALUES` values are one-line
    ``ConfigError``s starting with ``where`` (and the line)."""
    try:
        value = yaml.safe_load(text)
        size = _expanded_size(value, where, {}, set())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{where}{f':{mark.line + 1}' if mark else ''}: invalid YAML: {problem}") from exc
    except RecursionError:
        raise ConfigError(f"{where}: invalid YAML: nested too deeply") from None
    except ConfigError:
        raise
    except ValueError:  # PyYAML's int() of more digits than Python converts
        raise ConfigError(f"{where}: invalid YAML: a number with more digits than can be read") from None
    if size > MAX_YAML_VALUES:
        raise ConfigError(f"{where}: {size} values once YAML aliases are expanded, more than {MAX_YAML_VALUES}")
    return value


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: _base_ cycle through {[str(p) for p in seen]}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = _safe_yaml(path.read_bytes(), str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    base = raw.pop("_base_", None)
    try:
        raw = _nest_any_task(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if base is None:
        return raw
    if not isinstance(base, str) or not base.isprintable() or not base:
        raise ConfigError(f"{path}: _base_ must name a YAML file relative to this one, got {base!r}")
    parent = _read_yaml(path.parent / base, seen + (path,))
    return _merge(parent, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. optim.lr=0.01)")
    key, raw = text.split("=", 1)
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = _safe_yaml(raw, f"override {text!r}") if raw != "" else ""
    except ConfigError as exc:
        if not isinstance(exc.__cause__, yaml.YAMLError):
            raise
        value = raw  # not YAML: the text itself
    return key.split("."), value


def _section_node(node: dict, key: str, path: str) -> dict:
    """``node[key]``, created empty when absent; a value there that is not a mapping is an error."""
    child = node.setdefault(key, {})
    if not isinstance(child, dict):
        raise ConfigError(f"config key {path} holds {child!r}, not a section")
    return child


def _set_dotted(tree: dict, keys: list[str], value: Any, root: type) -> None:
    """Set ``tree[k0][k1]... = value``, validating each key against the schema of ``root``; a flat
    key (``recipe.teacher``) goes into the section that owns it (``recipe.mfr.teacher``)."""
    cls: Any = root
    node = tree
    for depth, key in enumerate(keys):
        path = ".".join(keys[: depth + 1])
        if cls is dict:
            if depth == len(keys) - 1:
                node[key] = value
            else:
                node = _section_node(node, key, path)
            continue
        names = [f.name for f in dataclasses.fields(cls)]
        if key in _flat_routes(cls):
            section = _flat_routes(cls)[key]
            node = _section_node(node, section, ".".join(keys[:depth] + [section]))
            cls = _section_types(cls)[section]
        elif key not in names:
            parent = ".".join(keys[:depth])
            raise ConfigError(f"unknown config key {_shown(path)}"
                              f"{_closest(key, _key_names(cls), parent + '.' if parent else '')}")
        annotation = _section_types(cls)[key]
        if depth == len(keys) - 1:
            if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
                value = _nest(value, annotation, f"{path}.")
            node[key] = value
            return
        node = _section_node(node, key, path)
        cls = annotation if dataclasses.is_dataclass(annotation) else (dict if annotation is dict else None)
        if cls is None:
            raise ConfigError(f"config key {path} is a value, not a section")


def config_from_dict(tree: dict, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Build the config of the tree's ``task`` (:class:`ExperimentConfig` for recognition, the
    default; :class:`DetectionExperimentConfig` for detection) plus ``key=value`` overrides. The
    tree may use the flat recipe keys of older configs and checkpoints."""
    parsed = [parse_override(text) for text in overrides]
    task = tree.get("task", "recognition")
    for keys, value in parsed:
        if keys == ["task"]:
            task = value
    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(f"task must be one of {list(TASKS)}, got {task!r}")
    tree = {**_nest(copy.deepcopy(tree), TASKS[task]), "task": task}
    for keys, value in parsed:
        _set_dotted(tree, keys, value, TASKS[task])
    return _build(TASKS[task], tree, "")


def config_from_saved(tree: dict) -> Any:
    """The config a checkpoint or run folder saved. Settings of recipes other than the saved
    ``recipe.name`` are dropped: that run never read them, and versions before the per-recipe
    sections saved every recipe's keys, whatever the recipe (a published checkpoint is never refused
    for them)."""
    tree = _nest_any_task(copy.deepcopy(tree))
    recipe = tree.get("recipe")
    if isinstance(recipe, dict):
        name = recipe.get("name", "standard")
        for section, users in SECTION_USERS.items():
            if name not in users:
                recipe.pop(section, None)
    return config_from_dict(tree)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Read a YAML config (following ``_base_``) and apply dotted overrides. An error that the file
    has without the overrides names the file."""
    if not path:
        return config_from_dict({}, overrides)
    tree = _read_yaml(Path(path))
    try:
        return config_from_dict(tree, overrides)
    except ConfigError as exc:
        if overrides and str(exc) != _error_of(tree):
            raise
        raise ConfigError(f"{path}: {exc}") from exc


def _error_of(tree: dict) -> str | None:
    """The message of the ``ConfigError`` that ``tree`` alone gives, ``None`` if it gives none."""
    try:
        config_from_dict(tree)
    except ConfigError as exc:
        return str(exc)
    return None


def config_to_dict(cfg: Any) -> dict:
    """The resolved config as plain data in the nested form (for the run folder and checkpoints)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
