"""``vidaction detect`` over many videos: one results file that ``eval-detection`` scores, equal to the
one-video path; a rerun after a crash redoes only the unfinished videos; two torchrun processes
merge to one process's file; the features of a video stream through in pieces (memory does not grow
with its length)."""

import json
import shutil
import tracemalloc

import numpy as np
import pytest
import torch

from tests.processes import torchrun_two
from vidaction.config import config_to_dict
from vidaction.data.motion_descriptor import video_motion_features
from vidaction.data.synthetic_scenes import Instance, render_detection_video
from vidaction.data.writer import write_video
from vidaction.engine.checkpoint import save_checkpoint
from vidaction.engine.sharding import part_path
from vidaction.engine.tasks.detection import detection_parts


@pytest.fixture(scope="module")
def detector(detection_dataset, feature_config, tmp_path_factory):
    """A small feature detector of random weights saved as 'vidaction train' saves it, and a folder of
    the three test videos and a file that is not a video."""
    root = tmp_path_factory.mktemp("detect")
    cfg = feature_config(detection_dataset, root / "run")
    torch.manual_seed(0)
    parts = detection_parts(cfg, log=lambda _: None)
    save_checkpoint(root / "detector.pt", {
        "format": "vidaction", "model": parts.model.state_dict(), "config": config_to_dict(cfg),
        "class_names": list(parts.class_names), "pretrained_cfg": parts.model.pretrained_cfg, "arch": parts.model.arch})
    for video in sorted((detection_dataset / "videos").glob("video_test_*.mp4")):
        (root / "videos").mkdir(exist_ok=True)
        shutil.copy(video, root / "videos" / video.name)
    (root / "videos" / "broken.mp4").write_text("not a video")
    return root, root / "detector.pt"


@pytest.fixture(scope="module")
def first_run(detector, detection_dataset, cli):
    """``detect`` of the folder with timelines: ``(completed process, results file, its content)``."""
    root, checkpoint = detector
    out = root / "first.json"
    proc = cli("detect", checkpoint, root / "videos", "--out", out, "--workers", "1", "--plot", root / "timelines",
               "--gt", detection_dataset / "annotations", "--no-progress", check=False)
    return proc, out, json.loads(out.read_text())


def test_one_results_file_for_all_videos_scored_by_eval_detection_and_resumed(detector, first_run,
                                                                               detection_dataset, cli):
    root, checkpoint = detector
    first, out, results = first_run
    assert first.returncode == 1 and "3 detected, 0 already done, 1 failed" in first.stdout
    ids = sorted(p.stem for p in (root / "videos").glob("video_test_*.mp4"))
    assert list(results["results"]) == ids and results["version"] == "VERSION 1.3"
    assert sorted(p.stem for p in (root / "timelines").glob("*.png")) == ids
    one = cli("detect", checkpoint, root / "videos" / f"{ids[1]}.mp4", "--out", root / "one.json")
    assert "detections of" in one.stdout
    assert json.loads((root / "one.json").read_text())["results"][ids[1]] == results["results"][ids[1]]
    scored = cli("eval-detection", "--gt", detection_dataset / "annotations", "--pred", out)
    assert 0 <= json.loads(scored.stdout.splitlines()[-1])["average_mAP"] <= 1 and "absent" not in scored.stderr
    # killed while writing the second video's line: the first stays done, the others are redone
    out = root / "resumed.json"
    part = part_path(out, 0)
    line = json.dumps({"video_id": ids[0], "video": str(root / "videos" / f"{ids[0]}.mp4"), "duration": 1.0,
                       "results": results["results"][ids[0]]})
    part.write_text(line + "\n" + '{"video_id": "' + ids[1][:4])
    again = cli("detect", checkpoint, root / "videos", "--out", out, "--workers", "0", "--no-progress", check=False)
    assert "2 detected, 1 already done, 1 failed" in again.stdout
    assert json.loads(out.read_text()) == results and not part.exists()
    assert "0 detected, 3 already done" in cli("detect", checkpoint, root / "videos", "--out", out, "--no-progress",
                                               check=False).stdout


@pytest.mark.slow
def test_two_torchrun_processes_merge_to_the_single_process_file(detector, first_run, tmp_path):
    root, checkpoint = detector
    proc = torchrun_two("-m", "vidaction.cli.main", "detect", checkpoint, root / "videos",
                        "--out", tmp_path / "merged.json", "--workers", "0", "--no-progress")
    assert proc.returncode == 1, proc.stderr[-3000:]  # the broken file
    assert proc.stdout.count("3 detected, 0 already done, 1 failed") == 1
    single, merged = first_run[2], json.loads((tmp_path / "merged.json").read_text())
    assert list(merged["results"]) == list(single["results"])
    for video_id, found in single["results"].items():
        assert [d["label"] for d in merged["results"][video_id]] == [d["label"] for d in found]
        assert np.allclose([d["segment"] + [d["score"]] for d in merged["results"][video_id]],
                           [d["segment"] + [d["score"]] for d in found], atol=1e-6)
    assert not list(tmp_path.glob("*.part"))


def traced(function, *args):
    """``function(*args)`` and the peak of the memory NumPy and Python allocated meanwhile, in bytes."""
    tracemalloc.start()
    try:
        return function(*args), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_motion_features_of_a_video_four_times_longer_take_the_same_memory(tmp_path):
    scene = render_detection_video(np.random.default_rng(0), [Instance(1, 20, 60)], [], 150, 10.0, 64)
    short = write_video(tmp_path / "short.mp4", scene, fps=10)
    long = write_video(tmp_path / "long.mp4", np.concatenate([scene] * 4), fps=10)
    recipe = {"fps": 10.0, "stride": 2, "window": 8, "num_channels": 32}
    features, _ = video_motion_features(short, recipe)  # also the first call's one-time allocations
    assert features.shape == (75, 32)
    long_peak = traced(video_motion_features, long, recipe)[1]
    # the whole long video would be 600 x 64 x 64 x 3 bytes = 7.4 MB of frames, 29 MB as float32
    assert long_peak < 1.3 * traced(video_motion_features, short, recipe)[1] and long_peak < 7e6
