"""Detection from the command line: train a feature detector, test it, detect on one video with a
timeline, and the detection demo. The commands run in this process (the ``cli`` fixture); the
torchrun test starts two training processes."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.processes import torchrun_two


def test_train_then_detect_one_video_with_a_timeline(detection_dataset, detection_config_file, tmp_path, cli):
    config = detection_config_file(tmp_path / "detector.yaml", detection_dataset, tmp_path / "run")
    trained = json.loads(cli("train", config).stdout.strip().splitlines()[-1])
    assert {"mAP@0.3", "mAP@0.5", "average_mAP"} <= trained.keys()
    tested = json.loads(cli("test", config, f"checkpoint={tmp_path / 'run' / 'last.pt'}").stdout.splitlines()[-1])
    assert tested["average_mAP"] == pytest.approx(trained["average_mAP"])
    video = sorted((detection_dataset / "videos").glob("video_test_*.mp4"))[0]
    proc = cli("detect", tmp_path / "run" / "last.pt", video, "--out", tmp_path / "segments.json", "--plot",
               tmp_path / "timeline.png", "--gt", detection_dataset / "annotations", "--min-score", "0")
    results = json.loads((tmp_path / "segments.json").read_text())
    assert list(results["results"]) == [video.stem] and results["results"][video.stem]
    first = results["results"][video.stem][0]
    assert set(first) == {"label", "score", "segment"} and first["segment"][0] <= first["segment"][1]
    assert "warning" not in proc.stdout
    image = np.asarray(Image.open(tmp_path / "timeline.png").convert("L"))
    assert image.shape[1] > 800 and image.std() > 10
    # The features of a new video are recomputed the way the training features were made.
    recomputed = cli("detect", tmp_path / "run" / "last.pt", video, "--out", tmp_path / "again.json")
    assert "detections of" in recomputed.stdout
    missing = cli("detect", tmp_path / "run" / "last.pt", tmp_path / "nope.mp4", "--out", tmp_path / "x.json",
                  check=False)
    assert missing.returncode == 2 and "video not found" in missing.stderr


@pytest.mark.slow
def test_detection_demo_prints_the_map_table(tmp_path, cli):
    proc = cli("demo", "--task", "detection", "--data-dir", tmp_path / "data", "--out", tmp_path / "runs",
               "--videos", "3", "2", "--epochs", "1", "--no-progress")
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in table[0].split("|")[1:-1]]
    assert header[:3] == ["model", "params (M)", "MACs (M)"] and header[3:10] == [f"mAP@{t / 10}" for t in range(1, 8)]
    assert [row.split("|")[1].strip() for row in table[1:]] == ["afsd", "afsd+gaf"]
    for name in ("curves.png", "timeline.png", "afsd/last.pt", "afsd+gaf/last.pt"):
        assert (tmp_path / "runs" / name).is_file(), name


def test_visualize_features_of_a_gaf_detector(detection_dataset, detection_config_file, tmp_path, cli):
    cli("train", detection_config_file(tmp_path / "gaf.yaml", detection_dataset, tmp_path / "gaf", gaf=True))
    video = sorted((detection_dataset / "videos").glob("video_test_*.mp4"))[0]
    proc = cli("visualize-features", tmp_path / "gaf" / "last.pt", video, "--out", tmp_path / "features.png",
               "--gt", detection_dataset / "annotations")
    assert "mean lambda inside ground-truth instances" in proc.stdout
    image = np.asarray(Image.open(tmp_path / "features.png").convert("L"))
    assert image.shape[0] > 400 and image.std() > 10
    plain = cli("visualize-features", tmp_path / "run_missing.pt", video, "--out", tmp_path / "x.png", check=False)
    assert plain.returncode == 2 and "checkpoint not found" in plain.stderr


@pytest.mark.slow
def test_torchrun_gaf_detector_matches_a_single_process_test(detection_dataset, detection_config_file, tmp_path,
                                                            cli):
    detection_config_file(tmp_path / "gaf.yaml", detection_dataset, tmp_path / "ddp", gaf=True)
    proc = torchrun_two("-m", "vidaction.cli.main", "train", tmp_path / "gaf.yaml", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    trained = json.loads(lines[0])
    tested = json.loads(cli("test", tmp_path / "gaf.yaml", f"checkpoint={tmp_path / 'ddp' / 'last.pt'}")
                        .stdout.splitlines()[-1])
    assert tested["average_mAP"] == pytest.approx(trained["average_mAP"])
    assert tested["num_detections"] == trained["num_detections"]
