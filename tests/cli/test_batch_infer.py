"""``vidaction infer`` over many videos: JSON lines equal to the one-video path, unreadable files
recorded, a rerun that redoes only what a crash left unfinished, and two torchrun processes whose
merged output equals one process's."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.processes import torchrun_two
from vidaction.config import config_from_dict, config_to_dict
from vidaction.data.synthetic import MOTION_CLASSES
from vidaction.engine.checkpoint import save_checkpoint
from vidaction.engine.tasks.recognition import attach_preprocessing, build_model


def save_random_classifier(path: Path, motion_dataset: Path) -> Path:
    """A tsm_tiny of random weights saved as 'vidaction train' saves its checkpoints."""
    cfg = config_from_dict({
        "data": {"format": "ucf101", "root": str(motion_dataset / "videos"),
                 "annotations": str(motion_dataset / "annotations"), "num_frames": 4, "input_size": 24,
                 "resize_short": 28, "test_clips": 2},
        "model": {"name": "tsm_tiny", "dropout": 0.0}})
    torch.manual_seed(0)
    model = build_model(cfg.model, len(MOTION_CLASSES), cfg.data.num_frames, cfg.data.input_size)
    attach_preprocessing(model, cfg, list(MOTION_CLASSES))
    return save_checkpoint(path, {"format": "vidaction", "model": model.state_dict(), "config": config_to_dict(cfg),
                                  "class_names": list(MOTION_CLASSES), "pretrained_cfg": model.pretrained_cfg,
                                  "arch": model.arch})


@pytest.fixture(scope="module")
def videos(motion_dataset, tmp_path_factory):
    """A folder of five videos in two subfolders and one file that is not a video; the checkpoint."""
    root = tmp_path_factory.mktemp("infer")
    for name in ("rotate_cw", "approach"):
        for clip in sorted((motion_dataset / "videos" / name).glob("*.mp4"))[:2 if name == "approach" else 3]:
            (root / "videos" / name).mkdir(parents=True, exist_ok=True)
            shutil.copy(clip, root / "videos" / name / clip.name)
    (root / "videos" / "broken.mp4").write_text("not a video")
    return root, save_random_classifier(root / "model.pt", motion_dataset)


def lines_of(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_batch_lines_match_the_one_video_path_and_a_rerun_redoes_only_the_unfinished(videos, cli):
    root, checkpoint = videos
    out = root / "all.jsonl"
    first = cli("infer", checkpoint, root / "videos", "--out", out, "--topk", "3", "--batch-size", "2",
                "--workers", "1", "--no-progress", check=False)
    assert first.returncode == 1 and "5 classified, 0 already in" in first.stdout and "1 failed" in first.stdout
    lines = lines_of(out)
    assert [Path(line["video"]).parent.name for line in lines] == ["approach"] * 2 + ["videos"] + ["rotate_cw"] * 3
    assert "error" in lines[2] and lines[1]["clips"] == 2 and len(lines[1]["topk"]) == 3
    one = json.loads(cli("infer", checkpoint, lines[3]["video"], "--json", "--topk", "3").stdout)
    assert [t["label"] for t in one["topk"]] == [t["label"] for t in lines[3]["topk"]]
    assert [t["score"] for t in one["topk"]] == pytest.approx([t["score"] for t in lines[3]["topk"]], abs=1e-6)
    # killed while writing the fifth line: that video and the last are redone, the rest skipped
    text = out.read_text()
    cut = text[:text.index("\n", text.index(lines[3]["video"])) + 1]
    out.write_text(cut + '{"video": "' + lines[4]["video"][:5])
    again = cli("infer", checkpoint, root / "videos" / "rotate_cw", root / "videos" / "approach", "--out", out,
                "--topk", "3", "--workers", "0", "--no-progress")
    assert "2 classified, 3 already in" in again.stdout
    assert lines_of(out) == lines
    listed = root / "list.txt"
    listed.write_text(f"# two videos\n{lines[0]['video']}\n\n{lines[1]['video']}\n")
    assert "0 classified, 2 already in" in cli("infer", checkpoint, "--list", listed, "--out", out,
                                               "--no-progress").stdout
    several = cli("infer", checkpoint, root / "videos", check=False)
    assert several.returncode == 2 and "--out" in several.stderr


@pytest.mark.slow
def test_two_torchrun_processes_merge_to_the_single_process_output(videos, cli, tmp_path):
    root, checkpoint = videos
    cli("infer", checkpoint, root / "videos", "--out", tmp_path / "single.jsonl", "--workers", "0",
        "--no-progress", check=False)
    proc = torchrun_two("-m", "vidaction.cli.main", "infer", checkpoint, root / "videos",
                        "--out", tmp_path / "merged.jsonl", "--workers", "0", "--no-progress")
    assert proc.returncode == 1, proc.stderr[-3000:]  # the broken file
    assert proc.stdout.count("5 classified") == 1
    single, merged = lines_of(tmp_path / "single.jsonl"), lines_of(tmp_path / "merged.jsonl")
    assert [line["video"] for line in merged] == [line["video"] for line in single]
    for a, b in zip(single, merged):
        assert a.get("error") == b.get("error") and [t["label"] for t in a.get("topk", [])] == \
            [t["label"] for t in b.get("topk", [])]
        assert [t["score"] for t in a.get("topk", [])] == pytest.approx([t["score"] for t in b.get("topk", [])])
    assert not list(tmp_path.glob("*.part"))
