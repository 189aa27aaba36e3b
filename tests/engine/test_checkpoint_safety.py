"""A checkpoint is data, not code: every checkpoint the project writes loads with
``torch.load(weights_only=True)``; a crafted one (an object whose unpickling creates a marker file) is
refused with a one-line error by every command that reads checkpoints, and nothing of it runs; an
older vidaction checkpoint (NumPy RNG state) loads only with ``--trust-checkpoint``. Configs are read
with a safe YAML loader, and nothing in ``src/`` evaluates text from a file.

The runs are tiny and trained once per module; HCML's come from the session runs of
tests/engine/conftest.py."""

import ast
import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.hostile import Payload

SOURCE = Path(__file__).resolve().parents[2] / "src" / "vidaction"
REFUSED = "holds Python objects other than tensors and plain data (GLOBAL "


def recognition_overrides(dataset: Path, out_dir: Path, epochs: int = 1) -> list[str]:
    return [f"data.root={dataset / 'videos'}", f"data.annotations={dataset / 'annotations'}", "data.num_frames=4",
            "data.input_size=24", "data.resize_short=28", "data.batch_size=8", "data.num_workers=0",
            "data.pin_memory=false", "data.flip=false", "model.name=tsm_tiny", "model.dropout=0", "optim.name=adamw",
            "optim.lr=0.01", f"schedule.epochs={epochs}", "train.tensorboard=false", "train.progress=false",
            f"train.out_dir={out_dir}"]


@pytest.fixture(scope="module")
def runs(motion_dataset, detection_dataset, detection_config_file, tmp_path_factory, cli):
    """One epoch each: a recognition run, W3's MFR (teacher and student), a detector and a GAF detector."""
    root = tmp_path_factory.mktemp("safety")
    config = root / "recognition.yaml"
    config.write_text("data:\n  format: ucf101\n")
    cli("train", config, *recognition_overrides(motion_dataset, root / "recognition"))
    cli("train", config, *recognition_overrides(motion_dataset, root / "mfr"), "recipe.name=mfr")
    detector = detection_config_file(root / "detector.yaml", detection_dataset, root / "detector")
    cli("train", detector)
    cli("train", detection_config_file(root / "gaf.yaml", detection_dataset, root / "gaf", gaf=True))
    return {"root": root, "config": config, "detector_config": detector}


@pytest.fixture(scope="module")
def hcml_pretrained(hcml_progressive_run, tmp_path_factory) -> Path:
    """``hcml_pretrain``'s ``pretrained.pt``, exported from the progressive run's finished stages."""
    from vidaction.engine.experiment import run_training

    cfg, progressive, _ = hcml_progressive_run
    out = tmp_path_factory.mktemp("hcml_pretrain")
    for level in ("level0", "level1", "level2"):
        shutil.copytree(progressive / level, out / level)
    run_training(replace(cfg, recipe=replace(cfg.recipe, name="hcml_pretrain"), train=replace(cfg.train,
                                                                                             out_dir=str(out))))
    return out / "pretrained.pt"


def test_every_checkpoint_the_project_writes_is_plain_data(runs, hcml_joint_run, hcml_progressive_run,
                                                           hcml_pretrained):
    root = runs["root"]
    written = [root / run / name for run in ("recognition", "mfr/teacher", "mfr/student", "detector", "gaf")
               for name in ("last.pt", "best.pt")]
    written += [hcml_joint_run[1] / "last.pt", hcml_pretrained]
    written += [hcml_progressive_run[1] / stage / "last.pt" for stage in ("level0", "level1", "level2", "joint")]
    for path in written:
        state = torch.load(path, weights_only=True)
        assert isinstance(state["model"], dict) and state["format"] == "vidaction", path
    gaf = torch.load(root / "gaf" / "last.pt", weights_only=True)
    assert {"cvae_optimizer", "cvae_scheduler", "cvae_scaler"} <= gaf.keys()
    rng = gaf["rng"]
    assert isinstance(rng["python"]["state"], torch.Tensor) and isinstance(rng["numpy"]["key"], torch.Tensor)


def test_model_pretrained_takes_our_own_best_checkpoint(runs, motion_dataset, cli):
    root = runs["root"]
    proc = cli("train", runs["config"], *recognition_overrides(motion_dataset, root / "fine_tuned"),
               f"model.pretrained={root / 'recognition' / 'best.pt'}")
    assert "vidaction weights: " in proc.stdout + proc.stderr
    assert "0 missing, 0 unexpected, 0 shape mismatches" in proc.stdout + proc.stderr


@pytest.fixture
def crafted(runs, tmp_path):
    """``crafted(kind) -> (path, marker)``: a copy of the recognition (or ``"detector"``) run's best.pt
    with an entry whose unpickling would create ``marker``."""
    def make(kind: str = "recognition") -> tuple[Path, Path]:
        path, marker = tmp_path / f"crafted_{kind}.pt", tmp_path / "pwned"
        torch.save({**torch.load(runs["root"] / kind / "best.pt", weights_only=True), "note": Payload(marker)}, path)
        return path, marker
    return make


def test_the_crafted_checkpoint_runs_code_when_fully_unpickled(crafted):
    path, marker = crafted()
    torch.load(path, weights_only=False)
    assert marker.is_file()


def _commands(root: Path, config: Path, detector_config: Path, dataset: Path, detection_dataset: Path,
              crafted: Path, tmp: Path) -> dict[str, list]:
    video = dataset / "videos" / "rotate_cw" / "v_rotate_cw_g01_c01.mp4"
    untrimmed = sorted((detection_dataset / "videos").glob("video_test_*.mp4"))[0]
    train = ["train", config, *recognition_overrides(dataset, tmp / "run")]
    return {
        "infer": ["infer", crafted, video],
        "visualize-attention": ["visualize-attention", crafted, video, "--out", tmp / "a.png"],
        "visualize-flow": ["visualize-flow", crafted, video, "--out", tmp / "f.png"],
        "visualize-features": ["visualize-features", crafted, video, "--out", tmp / "g.png"],
        "extract-features": ["extract-features", crafted, video, "--out", tmp / "features", "--no-progress"],
        "convert-checkpoint": ["convert-checkpoint", crafted, tmp / "out.pt", "--arch", "tsm_tiny",
                               "--num-classes", "4"],
        "test": ["test", config, f"checkpoint={crafted}", *recognition_overrides(dataset, tmp / "run")],
        "efficacy": ["efficacy", config, f"checkpoint={crafted}", "level=1",
                     *recognition_overrides(dataset, tmp / "run")],
        "train.resume": [*train, f"train.resume={crafted}"],
        "model.pretrained": [*train, f"model.pretrained={crafted}"],
        "recipe.teacher": [*train, "recipe.name=mfr", f"recipe.teacher={crafted}"],
        "detect": ["detect", crafted, untrimmed, "--out", tmp / "segments.json"],
        "test.fuse_checkpoint": ["test", detector_config, f"checkpoint={root / 'detector' / 'best.pt'}",
                                 f"test.fuse_checkpoint={crafted}"],
    }


DETECTOR_COMMANDS = ("detect", "test.fuse_checkpoint")
COMMANDS = ("infer", "visualize-attention", "visualize-flow", "visualize-features", "extract-features",
            "convert-checkpoint", "test", "efficacy", "train.resume", "model.pretrained", "recipe.teacher",
            *DETECTOR_COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_crafted_checkpoint_is_refused_and_nothing_of_it_runs(command, runs, crafted, motion_dataset,
                                                                 detection_dataset, tmp_path, cli):
    path, marker = crafted("detector" if command in DETECTOR_COMMANDS else "recognition")
    args = _commands(runs["root"], runs["config"], runs["detector_config"], motion_dataset, detection_dataset, path,
                     tmp_path)[command]
    proc = cli(*args, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr == (f"vidaction: error: {path} {REFUSED}getattr); refusing to load it. If you trust this "
                           "file (a checkpoint written by vidaction before 2026-12), pass --trust-checkpoint\n")
    assert not marker.exists()


def _old_style(state: dict, path: Path) -> Path:
    """``state`` as vidaction wrote it before checkpoints held plain data: the RNG states as Python's
    and NumPy's own tuples (the same states)."""
    python, numpy_state = state["rng"]["python"], state["rng"]["numpy"]
    rng = {**state["rng"],
           "python": (python["version"], tuple(python["state"].tolist()), python["gauss_next"]),
           "numpy": (numpy_state["bit_generator"], numpy_state["key"].numpy().astype(np.uint32), numpy_state["pos"],
                     numpy_state["has_gauss"], numpy_state["cached_gaussian"])}
    torch.save({**state, "rng": rng}, path)
    return path


def test_an_older_checkpoint_loads_only_with_trust_checkpoint(runs, motion_dataset, tmp_path, cli):
    root = runs["root"]
    old = _old_style(torch.load(root / "recognition" / "last.pt", weights_only=True), tmp_path / "old.pt")
    video = motion_dataset / "videos" / "rotate_cw" / "v_rotate_cw_g01_c01.mp4"
    refused = cli("infer", old, video, check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"{old} {REFUSED}numpy." in refused.stderr and "pass --trust-checkpoint" in refused.stderr
    assert json.loads(cli("infer", "--trust-checkpoint", old, video, "--json").stdout)["topk"]
    overrides = recognition_overrides(motion_dataset, tmp_path / "resumed", epochs=2)
    resumed = cli("train", "--trust-checkpoint", runs["config"], *overrides, f"train.resume={old}")
    assert "resumed from" in resumed.stderr
    assert torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["epoch"] == 2


def test_trust_checkpoint_is_offered_by_every_command_that_reads_one(cli):
    for command in ("train", "test", "infer", "detect", "efficacy", "extract-features", "convert-checkpoint",
                    "visualize-attention", "visualize-flow", "visualize-features"):
        text = " ".join(cli(command, "--help").stdout.split())
        assert "--trust-checkpoint UNSAFE: load checkpoints that hold Python objects" in text, command


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path):
    from vidaction.config import ConfigError, load_config

    marker = tmp_path / "pwned"
    config = tmp_path / "hostile.yaml"
    config.write_text(f"data:\n  format: !!python/object/apply:pathlib.Path.touch [{marker}]\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(config)
    plain = tmp_path / "plain.yaml"
    plain.write_text("data:\n  format: ucf101\n")
    with pytest.raises(ConfigError):
        load_config(plain, [f"data.format=!!python/object/apply:pathlib.Path.touch [{marker}]"])
    assert not marker.exists()


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_nothing_in_the_package_evaluates_or_unpickles_text_from_a_file():
    """No eval/exec/compile, pickle/marshal loads or unsafe YAML loader anywhere; ``torch.load`` only
    in :func:`vidaction.models.pretrained.load_torch_file`; ``np.load`` never with ``allow_pickle``."""
    forbidden = {"eval", "exec", "compile", "pickle.load", "pickle.loads", "marshal.load", "marshal.loads",
                 "yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all",
                 "dill.load", "shelve.open"}
    torch_loads = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node, name in _calls(tree):
            assert name not in forbidden, f"{path}:{node.lineno}: {name}"
            if name.endswith("np.load"):
                assert not any(k.arg == "allow_pickle" and ast.unparse(k.value) != "False" for k in node.keywords)
            if name == "torch.load":
                torch_loads.append(path.relative_to(SOURCE).as_posix())
    assert torch_loads == ["models/pretrained.py"]


def test_rng_state_is_plain_data_and_restores_every_generator(tmp_path):
    from vidaction.engine.checkpoint import save_checkpoint
    from vidaction.engine.runtime import rng_state, seed_everything, set_rng_state

    def draws():
        return random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(), torch.rand(1).item()

    seed_everything(3)
    draws()
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state()})
    expected = draws()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert draws() == expected
    # The tuples older checkpoints hold restore the same generators.
    set_rng_state(torch.load(_old_style(torch.load(tmp_path / "rng.pt"), tmp_path / "old.pt"),
                             weights_only=False)["rng"])
    assert draws() == expected
