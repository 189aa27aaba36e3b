"""Every shipped config survives config_to_dict -> config_from_dict and save -> load; dotted overrides
reach nested sections."""

from pathlib import Path

import pytest

from vidaction.config import config_from_dict, config_to_dict, load_config, save_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))


def test_the_sweep_sees_every_task():
    assert {load_config(path).task for path in CONFIGS} == {"recognition", "detection"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_shipped_config_round_trips(path, tmp_path):
    cfg = load_config(path)
    tree = config_to_dict(cfg)
    assert config_from_dict(tree) == cfg
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


def test_dotted_overrides_reach_nested_sections():
    cfg = load_config(None, ["recipe.name=hcml_progressive", "recipe.hcml.level_epochs=2",
                             "recipe.hcml.flow_levels=[res2,res3]", "model.options.attention_options.spatial_kernel=3"])
    assert cfg.recipe.hcml.level_epochs == 2 and cfg.recipe.hcml.flow_levels == ["res2", "res3"]
    assert cfg.model.options == {"attention_options": {"spatial_kernel": 3}}
    cfg = config_from_dict({"task": "detection"}, ["gaf.cvae_optim.lr=0.01", "gaf.cvae_optim.betas=[0.5, 0.9]"])
    assert (cfg.gaf.cvae_optim.lr, cfg.gaf.cvae_optim.betas, cfg.gaf.cvae_optim.name) == (0.01, [0.5, 0.9], "adam")

