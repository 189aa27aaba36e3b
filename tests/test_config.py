"""Config loading: YAML + _base_ + dotted overrides, unknown keys rejected with the closest key."""

from pathlib import Path

import pytest

from vidaction.config import ConfigError, config_from_dict, config_to_dict, load_config, save_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert (cfg.data.window if cfg.task == "detection" else cfg.data.num_frames) > 0


def test_override_types_and_nesting():
    cfg = load_config(None, ["optim.lr=0.1", "schedule.epochs=3", "model.options.shift_div=4",
                             "data.flip_label_pairs=[[left, right]]", "optim.weight_decay=0"])
    assert cfg.optim.lr == 0.1 and isinstance(cfg.optim.weight_decay, float)
    assert cfg.schedule.epochs == 3
    assert cfg.model.options == {"shift_div": 4}
    assert cfg.data.flip_label_pairs == [["left", "right"]]


@pytest.mark.parametrize("override, expected", [
    ("optim.lrr=1", "did you mean 'optim.lr'"),
    ("optimm.lr=1", "did you mean 'optim'"),
    ("data.num_frame=8", "did you mean 'data.num_frames'"),
    ("optim.lr=fast", "optim.lr expects float"),
    ("data.format=avi", "data.format must be one of"),
    ("optim.lr", "not of the form key=value"),
    ("model.name.x=1", "is a value, not a section"),
])
def test_bad_overrides_name_the_key(override, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, [override])


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  momentun: 0.9\n")
    with pytest.raises(ConfigError, match="unknown config key optim.momentun; did you mean 'optim.momentum'"):
        load_config(path)


def test_base_inheritance_and_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("optim:\n  lr: 0.5\n  momentum: 0.8\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\noptim:\n  lr: 0.25\n")
    cfg = load_config(tmp_path / "b.yaml")
    assert (cfg.optim.lr, cfg.optim.momentum) == (0.25, 0.8)
    (tmp_path / "c.yaml").write_text("_base_: d.yaml\n")
    (tmp_path / "d.yaml").write_text("_base_: c.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "c.yaml")


def test_cross_field_checks():
    with pytest.raises(ConfigError, match="input_size"):
        load_config(None, ["data.input_size=300", "data.resize_short=256"])
    with pytest.raises(ConfigError, match="warmup_epochs"):
        load_config(None, ["schedule.epochs=2", "schedule.warmup_epochs=3"])


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(None, ["optim.lr=0.3", "model.options.base_width=16"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", [p for p in CONFIGS if "w3" in p.parts], ids=lambda p: p.name)
def test_w3_configs_build_their_models(path):
    from vidaction.engine.tasks.recognition import build_model

    cfg = load_config(path)
    num_classes = cfg.model.num_classes or {"epic55": (125, 352)}[cfg.data.format]
    model = build_model(cfg.model, num_classes, cfg.data.num_frames, cfg.data.input_size)
    expected = (2, 3) if cfg.model.options["attention"] == "nonlocal" else (1, 2, 3, 4)
    assert model.attention_stages == expected
    assert (model.refine is not None) == cfg.model.options.get("refine", False)


@pytest.mark.parametrize("path", [p for p in CONFIGS if "hcml" in p.parts], ids=lambda p: p.name)
def test_hcml_configs_build_their_models_on_the_meta_device(path):
    import torch

    from vidaction.engine.tasks.recognition import build_model

    cfg = load_config(path)
    assert cfg.recipe.name in ("hcml", "hcml_progressive", "hcml_pretrain") or cfg.model.pretrained
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.model.num_classes, cfg.data.num_frames, cfg.data.input_size)
    assert model.motion_levels == ("res2", "res3", "res4")
    if cfg.model.pretrained:
        assert not Path(cfg.model.pretrained).is_absolute()
    if cfg.recipe.name.startswith("hcml"):
        from vidaction.models.motion.hcml import HCMLNet

        # Sec. 3.2's P^{l-1}_{>t}: res3 predicts every future step of res2's T frames, res4 of res3's T / 2.
        assert cfg.recipe.hcml.prediction_steps == 0
        with torch.device("meta"):
            net = HCMLNet(model, steps=cfg.recipe.hcml.prediction_steps or None)
        assert net.steps == {"res3": cfg.data.num_frames - 1, "res4": cfg.data.num_frames // 2 - 1}


def test_hcml_configs_test_on_the_papers_views():
    """Sec. 4.3: "increasing the spatial resolution to 256x256 and sampling multiple clips per video (9 clips for
    Something-V1&V2 and 30 clips for Kinetics-400 ...)": views counted as clips, 30 = [57]'s 10 clips x 3 crops
    (Table 6's "x30"), so 9 = 3 clips x 3 crops."""
    expected = {"sthv1": (3, 3, 256), "sthv2": (3, 3, 256), "kinetics": (10, 3, 256)}
    checked = set()
    for path in CONFIGS:
        if "hcml" not in path.parts:
            continue
        data = load_config(path).data
        if data.format in expected:
            assert (data.test_clips, data.test_crops, data.test_crop_size) == expected[data.format], path.name
            assert data.resize_short >= 256, path.name
            checked.add(data.format)
    assert checked == set(expected)


@pytest.mark.parametrize("path", [p for p in CONFIGS if "detection" in p.parts], ids=lambda p: p.name)
def test_detection_configs_build_their_detectors_on_the_meta_device(path):
    import torch

    from vidaction.config import DetectionExperimentConfig
    from vidaction.engine.tasks.detection import build_detector

    cfg = load_config(path)
    assert isinstance(cfg, DetectionExperimentConfig)
    model_cfg = cfg.model.__class__(**{**cfg.model.__dict__, "backbone_pretrained": ""})
    with torch.device("meta"):
        detector = build_detector(model_cfg, cfg.data, 20)
    assert (detector.backbone is None) == (cfg.data.input == "features")
    for value in (cfg.data.annotations, cfg.data.root, cfg.model.backbone_pretrained):
        assert not Path(value).is_absolute()


def test_a_section_keeps_its_own_defaults_under_given_keys():
    cfg = config_from_dict({"task": "detection", "optim": {"lr": 1e-4}}, ["gaf.cvae_optim.lr=0.01"])
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay) == ("adam", 1e-4, 1e-3)
    assert (cfg.gaf.cvae_optim.name, cfg.gaf.cvae_optim.lr, cfg.gaf.cvae_optim.betas) == ("adam", 0.01, [0.8, 0.999])
    assert config_from_dict({"optim": {"lr": 0.5}}).optim.name == "sgd"


def test_overrides_leave_the_base_tree_unchanged():
    """The demo builds every row from one recipe dict: a row's overrides must not leak into the next."""
    base = {"model": {"name": "tsm_r18", "options": {"base_width": 16}}, "data": {"num_frames": 4}}
    cfg = config_from_dict(base, ["model.options.motion=pmb", "data.num_frames=8", "model.options.base_width=8"])
    assert cfg.model.options == {"base_width": 8, "motion": "pmb"} and cfg.data.num_frames == 8
    assert base == {"model": {"name": "tsm_r18", "options": {"base_width": 16}}, "data": {"num_frames": 4}}
    assert config_from_dict(base).model.options == {"base_width": 16}
