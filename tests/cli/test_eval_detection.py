"""``vidaction eval-detection`` on tiny ground-truth files written by the tests."""

import json
import re

import pytest

from vidaction.cli.main import main
from vidaction.data.formats.thumos14 import THUMOS14_CLASSES


def write_json(path, document):
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def anet_files(tmp_path):
    gt = write_json(tmp_path / "gt.json", {"version": "VERSION 1.3", "taxonomy": [], "database": {
        "a": {"subset": "validation", "duration": 30.0, "annotations": [
            {"segment": [1, 5], "label": "Jump"}, {"segment": [10, 12], "label": "Run"}]},
        "b": {"subset": "validation", "duration": 30.0, "annotations": [{"segment": [2, 8], "label": "Jump"}]},
        "c": {"subset": "training", "duration": 30.0, "annotations": [{"segment": [2, 8], "label": "Swim"}]}}})
    pred = write_json(tmp_path / "pred.json", {"version": "VERSION 1.3", "external_data": {}, "results": {
        "a": [{"label": "Jump", "score": 0.9, "segment": [1, 5]}, {"label": "Run", "score": 0.8, "segment": [10, 11]}],
        "b": [{"label": "Jump", "score": 0.5, "segment": [0, 8]}],
        "v_a": [{"label": "Run", "score": 0.99, "segment": [0, 1]}]}})
    return gt, pred


def run(capsys, *args):
    code = main(["eval-detection", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_activitynet_defaults_tables_and_json_line(anet_files, capsys):
    gt, pred = anet_files
    code, out, err = run(capsys, "--gt", gt, "--pred", pred, "--per-class")
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    # Jump: both found up to tIoU 0.75 (b's detection has tIoU 6/8), then only a's. Run: the unknown
    # video's detection ranks first as a false positive, a's has tIoU 0.5.
    expected = {"0.5": 0.75, "0.55": 0.5, "0.6": 0.5, "0.65": 0.5, "0.7": 0.5, "0.75": 0.5,
                "0.8": 0.25, "0.85": 0.25, "0.9": 0.25, "0.95": 0.25}
    assert result["mAP"] == pytest.approx(expected)
    assert result["average_mAP"] == pytest.approx(0.425)
    assert "(activitynet, subset validation): 2 videos, 3 segments, 3 classes" in out
    assert "| average | 42.50   |" in out
    assert "| Jump  | 100.0 |" in out and "| Swim  | -     |" in out
    assert "1 detections on 1 videos absent from the ground truth" in err
    assert "without their 'v_' prefix" in err
    assert "not scored: Swim" in err


def test_thresholds_option_and_class_list(anet_files, tmp_path, capsys):
    gt, pred = anet_files
    classes = tmp_path / "classes.txt"
    classes.write_text("Run\nJump\nSwim\n")
    code, out, _ = run(capsys, "--gt", gt, "--pred", pred, "--tiou", "0.5,0.8", "--classes", classes, "--per-class")
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1]) == {"mAP": {"0.5": 0.75, "0.8": 0.25}, "average_mAP": 0.5}
    assert out.index("| Run ") < out.index("| Jump ")
    with pytest.raises(SystemExit) as info:
        main(["eval-detection", "--gt", str(gt), "--pred", str(pred), "--tiou", "0.5,1.5"])
    assert info.value.code == 2


def test_thumos_folder_default_thresholds_subset_and_ambiguous(tmp_path, capsys):
    folder = tmp_path / "annotation"
    folder.mkdir()
    for name in THUMOS14_CLASSES:
        (folder / f"{name}_test.txt").write_text("video_test_1 10 20\n" if name == "Diving" else "")
    (folder / "Ambiguous_test.txt").write_text("video_test_1 30 40\n")
    pred = write_json(tmp_path / "pred.json", {"version": "1", "results": {"video_test_1": [
        {"label": "Diving", "score": 0.9, "segment": [31, 35]},
        {"label": "Diving", "score": 0.8, "segment": [10, 20]}]}})
    code, out, _ = run(capsys, "--gt", folder, "--pred", pred)
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert list(result["mAP"]) == ["0.3", "0.4", "0.5", "0.6", "0.7"]
    assert result["average_mAP"] == pytest.approx(0.5)
    assert "(thumos14, subset testing): 1 videos, 1 segments, 20 classes" in out
    code, out, _ = run(capsys, "--gt", folder, "--pred", pred, "--ambiguous", "ignore")
    assert json.loads(out.strip().splitlines()[-1])["average_mAP"] == pytest.approx(1.0)


@pytest.mark.parametrize("results, message", [
    ({"version": "1"}, "no 'results' field"),
    ({"results": {"a": [{"label": "Hop", "score": 1, "segment": [0, 1]}]}}, "'Hop' is not one of the 3 classes"),
    ({"results": {"a": [{"label": "Run", "score": 1, "segment": [3, 1]}]}}, r"results\['a'\]\[0\].segment"),
    ({"results": {"a": [{"label": "Run", "score": None, "segment": [0, 1]}]}}, r"results\['a'\]\[0\].score"),
])
def test_user_errors_end_in_one_line(anet_files, tmp_path, capsys, results, message):
    gt, _ = anet_files
    pred = write_json(tmp_path / "bad.json", results)
    code, _, err = run(capsys, "--gt", gt, "--pred", pred)
    assert code == 2
    assert err.startswith("vidaction: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)


def test_missing_files_and_bad_subset(anet_files, tmp_path, capsys):
    gt, pred = anet_files
    code, _, err = run(capsys, "--gt", gt, "--pred", tmp_path / "none.json")
    assert code == 2 and "results file not found" in err
    code, _, err = run(capsys, "--gt", tmp_path / "none.json", "--pred", pred)
    assert code == 2 and "annotation file not found" in err
    code, _, err = run(capsys, "--gt", gt, "--pred", pred, "--subset", "testing")
    assert code == 2 and "no videos of subset 'testing'" in err
    folder = tmp_path / "annotation"
    folder.mkdir()
    (folder / "Diving_val.txt").write_text("v 1 2\n")
    code, _, err = run(capsys, "--gt", folder, "--pred", pred, "--subset", "training")
    assert code == 2 and "a THUMOS14 annotation folder has the 'val' and 'test' subsets" in err
