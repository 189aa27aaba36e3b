"""The demo recipes: one YAML file per family of demo rows in ``configs/`` beside this module (packaged
with it), read into :class:`DemoRecipe` and turned into training configs with
:func:`vidaction.config.config_from_dict` plus dotted overrides.

- ``w3``: TSN, TSM, TSM + CBAM, TSM + W3, TSM + W3 + MFR on the synthetic motion data (the default);
- ``hcml``: R2D, R2D + prime motion blocks, the same with HCML's progressive self-supervision;
- ``detection``: AFSD and AFSD + GAF on the synthetic untrimmed videos' features.

A recipe file holds ``models`` (the rows trained by default: a registered name with ``+suffixes``),
``suffixes`` (what each suffix adds, as dotted overrides), ``dataset`` (keyword arguments of the
synthetic data generator: its size), and ``config`` (the training config tree, without machine paths:
data paths are filled in at run time). ``extends`` names a recipe whose config, dataset and suffixes
it starts from; its ``overrides`` apply to the models whose name starts with one of its ``bases``.
A motion spec may combine the suffixes of every motion suite (``tsm_r18+pmb``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vidaction.config import ConfigError, config_from_dict

if TYPE_CHECKING:
    from vidaction.config import DetectionExperimentConfig, ExperimentConfig

RECIPE_DIR = Path(__file__).resolve().parent / "configs"
MOTION_SUITES = ("w3", "hcml")
DETECTION = "detection"


@dataclass(frozen=True)
class DemoRecipe:
    """One recipe file, resolved through ``extends`` (read-only: shared by every caller)."""

    name: str
    models: tuple[str, ...]
    suffixes: dict[str, list[str]]
    config: dict[str, Any]
    dataset: dict[str, Any]
    overrides: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()


@functools.cache
def load_recipe(name: str) -> DemoRecipe:
    """The recipe ``configs/<name>.yaml`` (``w3``, ``hcml`` or ``detection``)."""
    path = RECIPE_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
        raise ConfigError(f"no demo recipe {name!r} (known: {', '.join(known)})")
    raw = yaml.safe_load(path.read_text())
    parent = load_recipe(raw["extends"]) if "extends" in raw else None
    return DemoRecipe(
        name=name,
        models=tuple(raw["models"]),
        suffixes={**(parent.suffixes if parent else {}), **raw.get("suffixes", {})},
        config=raw.get("config", parent.config if parent else {}),
        dataset=raw.get("dataset", parent.dataset if parent else {}),
        overrides=tuple(raw.get("overrides", ())),
        bases=tuple(raw.get("bases", ())),
    )


def motion_suffixes() -> dict[str, list[str]]:
    """Every motion suite's suffixes and their overrides."""
    return {suffix: overrides for suite in MOTION_SUITES for suffix, overrides in load_recipe(suite).suffixes.items()}


def motion_recipe(base: str) -> DemoRecipe:
    """The motion suite a registered model name belongs to: the one with a matching ``bases`` prefix,
    else the default ``w3``."""
    recipes = [load_recipe(suite) for suite in MOTION_SUITES]
    return next((r for r in recipes if any(base.startswith(prefix) for prefix in r.bases)), recipes[0])


def motion_row_config(spec: str, data_root: Path, run_overrides: list[str],
                      extra: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """The training config of motion row ``spec`` (a registered name with ``+``-suffixes) on the
    synthetic motion data at ``data_root``: its suite's config, then ``run_overrides`` (out_dir, seed,
    ...), the suite's and the suffixes' overrides, and ``extra`` last."""
    base, *suffixes = spec.split("+")
    table = motion_suffixes()
    unknown = [s for s in suffixes if s not in table]
    if unknown:
        raise ConfigError(f"demo model {spec!r}: unknown suffix {unknown[0]!r} (known: {', '.join(table)})")
    recipe = motion_recipe(base)
    return config_from_dict(recipe.config, [
        f"data.root={data_root / 'videos'}",
        f"data.annotations={data_root / 'annotations'}",
        f"model.name={base}",
        *run_overrides,
        *recipe.overrides,
        *(o for suffix in suffixes for o in table[suffix]),
        *extra,
    ])


def detection_demo_config(data_root: Path, overrides: list[str] | tuple[str, ...] = ()) -> DetectionExperimentConfig:
    """The detection demo's config on the synthetic detection dataset at ``data_root`` (as
    :func:`~vidaction.data.synthetic_detection.make_detection_dataset` writes it), then ``overrides``."""
    return config_from_dict(load_recipe(DETECTION).config, [
        f"data.annotations={data_root / 'annotations'}",
        f"data.class_names={data_root / 'annotations' / 'classes.txt'}",
        f"data.root={data_root / 'features'}", *overrides])


def detection_row_overrides(spec: str) -> list[str]:
    """The overrides of detection row ``spec`` (``afsd`` with optional ``+``-suffixes)."""
    recipe = load_recipe(DETECTION)
    base, *suffixes = spec.split("+")
    bases = {model.split("+")[0] for model in recipe.models}
    if base not in bases or any(s not in recipe.suffixes for s in suffixes):
        raise ConfigError(f"detection demo model {spec!r}: the base is {', '.join(sorted(bases))}, suffixes "
                          f"{', '.join(recipe.suffixes) or '(none)'}")
    return [o for suffix in suffixes for o in recipe.suffixes[suffix]]


def detection_tiou() -> list[float]:
    """The tIoU thresholds the detection demo scores at (0.1-0.7)."""
    return list(load_recipe(DETECTION).config["test"]["tiou_thresholds"])
