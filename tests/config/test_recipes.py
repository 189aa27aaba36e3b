"""The recipe's per-method sections: flat and nested keys, foreign keys, configs saved before the split."""

import dataclasses

import pytest

from vidaction.config import (ConfigError, GAFRecipe, HCMLRecipe, MFRRecipe, RecipeConfig, config_from_dict,
                              config_to_dict, load_config)
from vidaction.config.recipes import RECIPES

# The recipe section as config_to_dict wrote it before the split: every method's field, at its default.
OLD_FLAT_RECIPE = {
    "name": "standard", "teacher": "", "mimic_weight": 1.0, "mimic_normalize": True,
    "reconstruction_weight": 15.0, "contrastive_weight": 0.25, "num_locations": 16, "prediction_steps": 0,
    "level_epochs": 10, "level_warmup_epochs": 1.0, "level_sync_bn": False, "flow_hidden": [], "flow_levels": [],
    "nonaction_weight": 1.0,
}


def test_the_sections_hold_the_old_flat_fields_once():
    sections = [MFRRecipe, HCMLRecipe, GAFRecipe]
    names = [f.name for cls in sections for f in dataclasses.fields(cls)]
    assert sorted(names) == sorted(k for k in OLD_FLAT_RECIPE if k != "name")
    assert not {f.name for f in dataclasses.fields(RecipeConfig)} & set(names)


@pytest.mark.parametrize("flat, nested", [
    ({"name": "mfr", "teacher": "t.pt", "mimic_weight": 0.5}, {"name": "mfr", "mfr": {"teacher": "t.pt",
                                                                                      "mimic_weight": 0.5}}),
    ({"name": "hcml_progressive", "level_epochs": 2, "flow_hidden": [8, 8, 6, 4, 2]},
     {"name": "hcml_progressive", "hcml": {"level_epochs": 2, "flow_hidden": [8, 8, 6, 4, 2]}}),
    ({"name": "gaf", "nonaction_weight": 2}, {"name": "gaf", "gaf": {"nonaction_weight": 2.0}}),
])
def test_flat_and_nested_keys_give_the_same_config(flat, nested):
    cfg = config_from_dict({"recipe": nested})
    assert config_from_dict({"recipe": flat}) == cfg
    name, *rest = (f"recipe.{k}={v}" for k, v in flat.items())
    assert config_from_dict({}, [name, *rest]) == cfg
    section = next(k for k in nested if k != "name")
    assert config_from_dict({}, [name, *(f"recipe.{section}.{k}={v}" for k, v in nested[section].items())]) == cfg


def test_flat_overrides_reach_the_owning_section():
    cfg = load_config(None, ["recipe.name=hcml", "recipe.level_epochs=2", "recipe.hcml.num_locations=4"])
    assert (cfg.recipe.hcml.level_epochs, cfg.recipe.hcml.num_locations) == (2, 4)
    cfg = config_from_dict({"recipe": {"name": "mfr", "mfr": {"teacher": "a.pt"}}}, ["recipe.teacher=b.pt"])
    assert cfg.recipe.mfr.teacher == "b.pt"
    cfg = config_from_dict({}, ["recipe={name: mfr, teacher: c.pt}"])
    assert cfg.recipe.mfr.teacher == "c.pt"


@pytest.mark.parametrize("recipe, override, key, owner", [
    ("standard", "recipe.teacher=t.pt", "recipe.teacher", "recipe.name=mfr"),
    ("hcml", "recipe.mimic_weight=0.5", "recipe.mimic_weight", "recipe.name=mfr"),
    ("mfr", "recipe.level_epochs=3", "recipe.level_epochs", "recipe.name=hcml / hcml_progressive / hcml_pretrain"),
    ("standard", "recipe.hcml.num_locations=4", "recipe.num_locations", "recipe.name=hcml"),
    ("hcml_pretrain", "recipe.nonaction_weight=0", "recipe.nonaction_weight", "recipe.name=gaf"),
])
def test_a_foreign_recipe_key_with_a_value_is_refused_naming_key_and_owner(recipe, override, key, owner):
    with pytest.raises(ConfigError) as error:
        load_config(None, [f"recipe.name={recipe}", override])
    assert key in str(error.value) and owner in str(error.value) and f"not {recipe}" in str(error.value)


def test_a_foreign_recipe_key_at_its_default_is_accepted():
    cfg = load_config(None, ["recipe.teacher=", "recipe.level_epochs=10", "recipe.nonaction_weight=1"])
    assert cfg.recipe == RecipeConfig()


def test_a_flat_and_a_nested_value_of_one_key_must_agree(tmp_path):
    with pytest.raises(ConfigError, match="recipe.level_epochs=2 and recipe.hcml.level_epochs=3 name the same"):
        config_from_dict({"recipe": {"name": "hcml", "level_epochs": 2, "hcml": {"level_epochs": 3}}})
    assert config_from_dict({"recipe": {"name": "hcml", "level_epochs": 3, "hcml": {"level_epochs": 3}}}) \
        .recipe.hcml.level_epochs == 3


def test_a_nested_child_overrides_a_flat_base_key_by_key(tmp_path):
    (tmp_path / "base.yaml").write_text("recipe:\n  name: hcml_progressive\n  level_epochs: 80\n  num_locations: 8\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nrecipe:\n  hcml:\n    level_epochs: 2\n")
    (tmp_path / "back.yaml").write_text("_base_: child.yaml\nrecipe:\n  num_locations: 4\n")
    hcml = load_config(tmp_path / "child.yaml").recipe.hcml
    assert (hcml.level_epochs, hcml.num_locations) == (2, 8)
    hcml = load_config(tmp_path / "back.yaml").recipe.hcml
    assert (hcml.level_epochs, hcml.num_locations) == (2, 4)


@pytest.mark.parametrize("name", RECIPES)
def test_an_old_flat_saved_config_at_defaults_loads_for_every_recipe(name):
    tree = {**config_to_dict(config_from_dict({})), "recipe": {**OLD_FLAT_RECIPE, "name": name}}
    cfg = config_from_dict(tree)
    assert cfg.recipe == RecipeConfig(name=name)


def test_an_old_flat_saved_hcml_config_keeps_its_values():
    tree = {**config_to_dict(config_from_dict({})),
            "recipe": {**OLD_FLAT_RECIPE, "name": "hcml", "level_epochs": 3, "flow_levels": ["res2", "res3"]}}
    cfg = config_from_dict(tree)
    assert cfg.recipe.name == "hcml"
    assert cfg.recipe.hcml == HCMLRecipe(level_epochs=3, flow_levels=["res2", "res3"])
    assert cfg.recipe.mfr == MFRRecipe() and cfg.recipe.gaf == GAFRecipe()
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_config_to_dict_writes_the_nested_form():
    recipe = config_to_dict(load_config(None, ["recipe.name=mfr", "recipe.teacher=t.pt"]))["recipe"]
    assert recipe["name"] == "mfr" and recipe["mfr"]["teacher"] == "t.pt"
    assert set(recipe) == {"name", "mfr", "hcml", "gaf"}


@pytest.mark.parametrize("override, expected", [
    ("recipe.level_epoch=2", "did you mean 'recipe.level_epochs'"),
    ("recipe.hcml.level_epoch=2", "did you mean 'recipe.hcml.level_epochs'"),
    ("recipe.mfr.level_epochs=2", "unknown config key recipe.mfr.level_epochs"),
    ("recipe.hcml=3", "recipe.hcml expects|must be a mapping"),
])
def test_bad_recipe_keys_name_the_key(override, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(None, ["recipe.name=hcml", override])


def test_a_misspelt_flat_key_in_a_file_gets_the_flat_suggestion(tmp_path):
    (tmp_path / "bad.yaml").write_text("recipe:\n  name: hcml\n  level_epoch: 2\n")
    with pytest.raises(ConfigError, match="unknown config key recipe.level_epoch; did you mean 'recipe.level_epochs'"):
        load_config(tmp_path / "bad.yaml")


def test_switching_recipes_within_a_family_keeps_its_section():
    cfg = load_config(None, ["recipe.name=hcml_progressive", "recipe.level_epochs=2"]).recipe
    assert dataclasses.replace(cfg, name="hcml_pretrain").hcml.level_epochs == 2
    with pytest.raises(ConfigError, match="recipe.level_epochs=2"):
        dataclasses.replace(cfg, name="standard")


def test_a_saved_config_with_another_recipes_values_still_loads():
    from vidaction.config import config_from_saved

    saved = {"recipe": {"name": "standard", "teacher": "", "num_locations": 4, "level_epochs": 3}}
    with pytest.raises(ConfigError, match="num_locations"):
        config_from_dict(saved)
    cfg = config_from_saved(saved)
    assert cfg.recipe.name == "standard" and cfg.recipe.hcml == HCMLRecipe()
    kept = config_from_saved({"recipe": {"name": "hcml", "num_locations": 4, "mimic_weight": 2.0}})
    assert kept.recipe.hcml.num_locations == 4 and kept.recipe.mfr.mimic_weight == 1.0
