"""AFSD's and GAF's published annotation files (``thumos_annotations/``, ``anet_annotations/``), written
by the tests in the layout their repositories ship, and ``thumos_gt.json`` scored against an
independent implementation of the official ActivityNet evaluator."""

import json

import numpy as np
import pytest

from vidaction.cli.main import main
from vidaction.config import ConfigError, DetectionDataConfig
from vidaction.data.errors import AnnotationError
from vidaction.data.formats.afsd import read_afsd_anet, read_afsd_thumos, read_class_index, read_video_info
from vidaction.data.formats.detection import detection_format, read_detection_annotations
from vidaction.data.formats.thumos14 import THUMOS14_CLASSES, THUMOS14_UCF101_IDS
from vidaction.engine.tasks.detection import default_tiou_thresholds, read_split

ANNOTATION_HEADER = "video,type,type_idx,start,end,startFrame,endFrame"
VIDEO_INFO_HEADER = "video,fps,sample_fps,count,sample_count"
# The published CSVs: LF line endings, no BOM, no quoting; AFSD's class index has CRLF, GAF's LF.
VAL_ANNOTATION = [
    "video_validation_0000051,Billiards,12,85.9,90.6,2577,2718",
    "video_validation_0000051,Billiards,12,67.5,75.9,2025,2277",
    "video_validation_0000052,Billiards,12,24.3,24.8,729,744",
    "video_validation_0000160,Ambiguous,0,155.2,160.6,4656,4818",
    "video_validation_0000160,CliffDiving,22,10.0,12.5,300,375",
    "video_validation_0000160,Diving,26,10.0,12.5,300,375",
]
VAL_VIDEO_INFO = [
    "video_validation_0000051,30.0,10.0,5091.0,1697",
    "video_validation_0000052,30.0,10.0,4991.0,1663",
    "video_validation_0000160,29.97002997002997,10.0,5994.0,1999",
    "video_validation_0000999,25.0,10.0,250.0,100",
]
TEST_ANNOTATION = [
    "video_test_0000004,CricketBowling,23,0.2,1.1,6,33",
    "video_test_0000004,CricketBowling,23,11.4,12.2,342,366",
    "video_test_0001292,Ambiguous,0,3.0,4.5,90,135",
]
TEST_VIDEO_INFO = ["video_test_0000004,30.0,10.0,1012.0,337"]


def write_lines(path, lines, newline="\n", final=True):
    path.write_bytes((newline.join(lines) + (newline if final else "")).encode())
    return path


def class_index_lines():
    return [f"{i} {name}" for i, name in zip(THUMOS14_UCF101_IDS, THUMOS14_CLASSES)]


@pytest.fixture(scope="module")
def thumos_annotations(tmp_path_factory):
    """``thumos_annotations/`` as AFSD ships it."""
    root = tmp_path_factory.mktemp("afsd") / "thumos_annotations"
    root.mkdir()
    write_lines(root / "val_Annotation.csv", [ANNOTATION_HEADER, *VAL_ANNOTATION])
    write_lines(root / "val_video_info.csv", [VIDEO_INFO_HEADER, *VAL_VIDEO_INFO])
    write_lines(root / "test_Annotation.csv", [ANNOTATION_HEADER, *TEST_ANNOTATION])
    write_lines(root / "test_video_info.csv", [VIDEO_INFO_HEADER, *TEST_VIDEO_INFO])
    write_lines(root / "Class Index_Detection.txt", class_index_lines(), "\r\n")
    return root


def test_thumos_pair_as_published(thumos_annotations):
    videos, names = read_afsd_thumos(thumos_annotations / "{subset}_Annotation.csv",
                                     thumos_annotations / "{subset}_video_info.csv", "val")
    assert names == THUMOS14_CLASSES
    assert [v.video_id for v in videos] == ["video_validation_0000051", "video_validation_0000052",
                                            "video_validation_0000160", "video_validation_0000999"]
    first, _, diving, empty = videos
    assert first.segments.tolist() == [[67.5, 75.9], [85.9, 90.6]]  # sorted by start, as the folder reader
    assert first.labels.tolist() == [2, 2] and first.subset == "validation"
    assert (first.duration, first.fps) == (5091.0 / 30.0, 30.0)
    assert first.meta == {"file_stem": "video_validation_0000051", "sample_fps": 10.0, "count": 5091.0,
                          "sample_count": 1697}
    # CliffDiving instances are also annotated as Diving; both kept. Ambiguous rows are regions, not segments.
    assert diving.labels.tolist() == [4, 7] and diving.ambiguous.tolist() == [[155.2, 160.6]]
    assert diving.duration == 5994.0 / 29.97002997002997
    assert empty.segments.shape == (0, 2) and empty.duration == 10.0
    # video_test_0001292 has only Ambiguous rows and no video info: left out, as AFSD never sees it.
    test, _ = read_detection_annotations(thumos_annotations / "{subset}_Annotation.csv", "test", None, "afsd_thumos",
                                         thumos_annotations / "{subset}_video_info.csv")
    assert [v.video_id for v in test] == ["video_test_0000004"] and test[0].subset == "testing"
    assert detection_format(thumos_annotations / "x.csv", "afsd_thumos") == "thumos14"


@pytest.mark.parametrize("newline", ["\r\n", "\n"], ids=["afsd-crlf", "gaf-lf"])
def test_class_index_of_afsd_and_gaf(tmp_path, newline):
    path = write_lines(tmp_path / "Class Index_Detection.txt", class_index_lines(), newline)
    assert read_class_index(path) == (THUMOS14_UCF101_IDS, THUMOS14_CLASSES)


def test_class_list_beside_the_file_or_given(tmp_path):
    write_lines(tmp_path / "a.csv", [ANNOTATION_HEADER, "v1,Jump,5,1.0,2.0,25,50", "v1,Run,3,2.5,3.0,62,75"])
    write_lines(tmp_path / "i.csv", [VIDEO_INFO_HEADER, "v1,25.0,10.0,100.0,40"])
    write_lines(tmp_path / "Class Index_Detection.txt", ["5 Jump", "3 Run"])
    (video,), names = read_afsd_thumos(tmp_path / "a.csv", tmp_path / "i.csv")
    assert names == ["Jump", "Run"] and video.labels.tolist() == [0, 1] and video.subset == ""
    (video,), names = read_afsd_thumos(tmp_path / "a.csv", tmp_path / "i.csv", class_names=["Run", "Jump"])
    assert names == ["Run", "Jump"] and video.labels.tolist() == [1, 0]  # matched by type


def test_config_points_at_the_pair(thumos_annotations):
    with pytest.raises(ConfigError, match="afsd_thumos needs data.video_info"):
        DetectionDataConfig(annotations="a.csv", annotation_format="afsd_thumos")
    with pytest.raises(ConfigError, match="data.annotation_format must be one of"):
        DetectionDataConfig(annotation_format="afsd")
    cfg = DetectionDataConfig(annotations=str(thumos_annotations / "{subset}_Annotation.csv"),
                              annotation_format="afsd_thumos",
                              video_info=str(thumos_annotations / "{subset}_video_info.csv"), root="/media",
                              media_template="{}.npy", input="features", feature_channels=2)
    train, names = read_split(cfg, "train")
    val, _ = read_split(cfg, "val")
    assert len(train) == 4 and len(val) == 1 and names == THUMOS14_CLASSES
    assert val[0].path == "/media/video_test_0000004.npy"
    assert default_tiou_thresholds(cfg, []) == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7])
    with pytest.raises(AnnotationError, match="data.annotation_format=afsd_thumos"):
        detection_format(thumos_annotations / "val_Annotation.csv")


@pytest.mark.parametrize("row, message", [
    ("v1,Billiards,12,6x.5,75.9,2025,2277", r"a\.csv:3: start must be a finite number, got '6x\.5'"),
    ("v1,Billiards,12,nan,75.9,2025,2277", r"a\.csv:3: start must be a finite number"),
    ("v1,Billiards,12,80.0,75.9,2400,2277", r"a\.csv:3: video v1: segment \[80\.0, 75\.9\] needs 0 <= start <= end"),
    ("v1,Diving,12,67.5,75.9,2025,2277", r"a\.csv:3: type 'Diving' disagrees with type_idx 12, which is 'Billiards'"),
    ("v1,Billiards,11,67.5,75.9,2025,2277", r"a\.csv:3: type_idx 11 \(Billiards\) is not in the class index"),
    ("v1,Billiards,12,67.5,75.9,2025.5,2277", r"a\.csv:3: startFrame must be a non-negative integer"),
    ("v1,Billiards,12,67.5,75.9,2025", r"a\.csv:3: row has no value for column\(s\) \['endFrame'\]"),
    ("v1,Billiards,12,67.5,75.9,2025,2277,9", r"a\.csv:3: row has more fields than the header's 7"),
    ("v9,Billiards,12,67.5,75.9,2025,2277", r"a\.csv:3: video v9 is not in .*i\.csv"),
])
def test_malformed_annotation_rows_name_file_and_line(tmp_path, row, message):
    write_lines(tmp_path / "a.csv", [ANNOTATION_HEADER, "v1,Billiards,12,1.0,2.0,30,60", row], "\r\n")
    write_lines(tmp_path / "i.csv", [VIDEO_INFO_HEADER, "v1,30.0,10.0,3000.0,1000"])
    with pytest.raises(AnnotationError, match=message):
        read_afsd_thumos(tmp_path / "a.csv", tmp_path / "i.csv")


def test_quoting_bom_and_missing_columns(tmp_path):
    # A spreadsheet's re-save: BOM, CRLF, quoted fields.
    quoted = '"v1","Billiards","12","1.0","2.0","30","60"'
    (tmp_path / "a.csv").write_bytes(f"\ufeff{ANNOTATION_HEADER}\r\n{quoted}\r\n".encode())
    write_lines(tmp_path / "i.csv", [VIDEO_INFO_HEADER, "v1,30.0,10.0,3000.0,1000"])
    (video,), _ = read_afsd_thumos(tmp_path / "a.csv", tmp_path / "i.csv")
    assert video.segments.tolist() == [[1.0, 2.0]]
    write_lines(tmp_path / "b.csv", ["video,type,start,end", "v1,Billiards,1.0,2.0"])
    with pytest.raises(AnnotationError, match=r"b\.csv:1: header lacks column\(s\) \['type_idx', 'startFrame', "
                                              r"'endFrame'\]"):
        read_afsd_thumos(tmp_path / "b.csv", tmp_path / "i.csv")


@pytest.mark.parametrize("row, message", [
    ("v2,0,10.0,300.0,100", r"i\.csv:3: video v2: fps, sample_fps and count must be positive"),
    ("v2,30.0,10.0,abc,100", r"i\.csv:3: count must be a finite number, got 'abc'"),
    ("v2,30.0,10.0,300.0,1.5", r"i\.csv:3: sample_count must be a non-negative integer, got '1\.5'"),
    ("v1,30.0,10.0,300.0,100", r"i\.csv:3: video v1 listed twice"),
])
def test_malformed_video_info_rows(tmp_path, row, message):
    write_lines(tmp_path / "i.csv", [VIDEO_INFO_HEADER, "v1,30.0,10.0,3000.0,1000", row])
    with pytest.raises(AnnotationError, match=message):
        read_video_info(tmp_path / "i.csv")


@pytest.mark.parametrize("lines, message", [
    (["7 BaseballPitch", "BasketballDunk"], r"Index_Detection\.txt:2: expected 'class_id ClassName'"),
    (["7 BaseballPitch", "7 Billiards"], r"Index_Detection\.txt:2: class id 7 or name 'Billiards' listed twice"),
])
def test_malformed_class_index(tmp_path, lines, message):
    with pytest.raises(AnnotationError, match=message):
        read_class_index(write_lines(tmp_path / "Class Index_Detection.txt", lines, "\r\n"))


ACTION_NAMES = ["Playing accordion", "Applying sunscreen", "Playing badminton"]  # not sorted, as published


def anet_video(subset, duration, frame_num, annotations):
    fps = frame_num / duration  # AFSD's copy resampled to at most 768 frames
    return {"subset": subset, "duration": duration, "frame_num": frame_num,
            "annotations": [{"start_frame": s * fps, "end_frame": e * fps, "label": label,
                             "label_id": ACTION_NAMES.index(label) + 1} for s, e, label in annotations],
            "fps": fps}


@pytest.fixture(scope="module")
def anet_annotations(tmp_path_factory):
    """``anet_annotations/``: ``video_info_train_val.json`` in gen_video_info.py's layout, and
    ``action_name.txt`` without a final newline."""
    root = tmp_path_factory.mktemp("afsd") / "anet_annotations"
    root.mkdir()
    database = {"v_sJFgo9H6zNo": anet_video("validation", 139.042, 768, [(89.5, 130.0, "Playing badminton"),
                                                                        (0.0, 0.0, "Applying sunscreen")]),
                "v_V1GAp8Af2oc": anet_video("training", 60.0, 768, [(1.0, 5.0, "Playing accordion")]),
                "v_aaaVal00002": anet_video("validation", 50.0, 768, [])}
    (root / "video_info_train_val.json").write_text(json.dumps(database))
    write_lines(root / "action_name.txt", ACTION_NAMES, final=False)
    return root / "video_info_train_val.json"


def test_anet_video_info_as_published(anet_annotations):
    videos, names = read_detection_annotations(anet_annotations, "validation", None, "afsd_anet")
    assert names == ACTION_NAMES
    assert [v.video_id for v in videos] == ["sJFgo9H6zNo", "aaaVal00002"]
    first = videos[0]
    assert first.segments == pytest.approx(np.array([[89.5, 130.0], [0.0, 0.0]]), abs=1e-9)
    assert first.labels.tolist() == [2, 1] and first.subset == "validation" and first.duration == 139.042
    assert first.fps == pytest.approx(768 / 139.042)
    assert first.meta == {"file_stem": "v_sJFgo9H6zNo", "frame_num": 768}
    (train,), _ = read_afsd_anet(anet_annotations, "train", class_names=["Playing accordion"])
    assert train.video_id == "V1GAp8Af2oc" and train.labels.tolist() == [0]
    assert detection_format(anet_annotations, "afsd_anet") == "activitynet"


@pytest.mark.parametrize("change, message", [
    (lambda a, v: a.update(label_id=1), r"\['v_x'\]\.annotations\[0\]\.label_id 1: 'Playing badminton' is line 3"),
    (lambda a, v: a.update(start_frame=9.0), r"\['v_x'\]\.annotations\[0\]: frames \[9\.0, 8\.0\] need"),
    (lambda a, v: a.update(end_frame="8"), r"\['v_x'\]\.annotations\[0\]\.end_frame must be a finite number"),
    (lambda a, v: a.update(label="Skiing"), r"\['v_x'\]\.annotations\[0\]\.label 'Skiing' is not one of the 3"),
    (lambda a, v: v.pop("fps"), r"\['v_x'\]\.fps must be a positive number, got None"),
    (lambda a, v: v.update(frame_num=7.5), r"\['v_x'\]\.frame_num must be an integer"),
])
def test_malformed_anet_entries(anet_annotations, tmp_path, change, message):
    video = {"subset": "validation", "duration": 10.0, "frame_num": 100, "fps": 10.0,
             "annotations": [{"start_frame": 1.0, "end_frame": 8.0, "label": "Playing badminton", "label_id": 3}]}
    change(video["annotations"][0], video)
    path = tmp_path / "video_info_train_val.json"
    path.write_text(json.dumps({"v_x": video}))
    write_lines(tmp_path / "action_name.txt", ACTION_NAMES, final=False)
    with pytest.raises(AnnotationError, match=rf"video_info_train_val\.json: {message}"):
        read_afsd_anet(path, "validation")


def test_anet_needs_a_class_list_and_the_video_info_layout(tmp_path):
    path = tmp_path / "video_info.json"
    path.write_text(json.dumps({"v_x": anet_video("validation", 10.0, 100, [])}))
    with pytest.raises(AnnotationError, match="no action_name.txt beside the file"):
        read_afsd_anet(path, "validation")
    path.write_text(json.dumps({"database": {}}))
    with pytest.raises(AnnotationError, match="not AFSD's video info"):
        read_afsd_anet(path, "validation", class_names=["a"])


# thumos_gt.json as AFSD and GAF ship it: only "database"; subsets "test" and "train" (the validation
# videos); segments as numeric strings; no duration, no Ambiguous label.
GT = {"database": {
    "video_test_0000896": {"subset": "test", "annotations": [
        {"segment": ["18.6", "24.8"], "label": "HighJump"}, {"segment": ["29.1", "34.8"], "label": "HighJump"},
        {"segment": ["41.0", "47.4"], "label": "HighJump"}]},
    "video_test_0000004": {"subset": "test", "annotations": [
        {"segment": ["0.2", "1.1"], "label": "CricketBowling"},
        {"segment": ["11.4", "12.2"], "label": "CricketBowling"},
        {"segment": ["12.9", "15.3"], "label": "CricketShot"}]},
    "video_test_0000950": {"subset": "test", "annotations": [
        {"segment": ["11.6", "19.0"], "label": "CricketShot"}, {"segment": ["41.2", "44.3"], "label": "HighJump"}]},
    "video_validation_0000051": {"subset": "train", "annotations": [
        {"segment": ["67.5", "75.9"], "label": "Billiards"}]},
}}
PREDICTIONS = {"version": "VERSION 1.3", "external_data": {}, "results": {
    "video_test_0000896": [
        {"label": "HighJump", "score": 0.91, "segment": [18.0, 25.0]}, {"label": "HighJump", "score": 0.55,
                                                                        "segment": [28.0, 33.0]},
        {"label": "HighJump", "score": 0.83, "segment": [18.9, 24.1]}, {"label": "HighJump", "score": 0.12,
                                                                        "segment": [40.0, 49.5]},
        {"label": "CricketShot", "score": 0.3, "segment": [0.0, 3.0]}],
    "video_test_0000004": [
        {"label": "CricketBowling", "score": 0.77, "segment": [0.1, 1.4]},
        {"label": "CricketBowling", "score": 0.44, "segment": [10.2, 12.0]},
        {"label": "CricketShot", "score": 0.66, "segment": [13.5, 15.0]},
        {"label": "CricketBowling", "score": 0.05, "segment": [12.9, 15.3]}],
    "video_test_0000950": [
        {"label": "CricketShot", "score": 0.71, "segment": [12.0, 17.5]},
        {"label": "HighJump", "score": 0.62, "segment": [41.0, 45.0]}],
    # In test_video_info.csv but not in thumos_gt.json; AFSD's output has it: false positives.
    "video_test_0000270": [{"label": "HighJump", "score": 0.88, "segment": [1.0, 5.0]}],
}}
TIOUS = [0.3, 0.4, 0.5, 0.6, 0.7]


def official_ap(gt, results, subset, thresholds):
    """The official ``ANETdetection.evaluate`` written out plainly: ``float()`` of the segments,
    the class index of the subset's ground truth, greedy matching by descending score against the
    highest-tIoU unmatched segment, interpolated AP. ``(AP (T, classes), class index)``."""
    index, truth = {}, []
    for video, entry in gt["database"].items():
        if entry["subset"] != subset:
            continue
        for ann in entry["annotations"]:
            index.setdefault(ann["label"], len(index))
            truth.append((video, float(ann["segment"][0]), float(ann["segment"][1]), index[ann["label"]]))
    preds = [(video, float(r["segment"][0]), float(r["segment"][1]), index[r["label"]], r["score"])
             for video, entries in results.items() for r in entries]
    ap = np.zeros((len(thresholds), len(index)))
    for label in range(len(index)):
        gts = [g for g in truth if g[3] == label]
        ranked = sorted((p for p in preds if p[3] == label), key=lambda p: -p[4])
        for t, threshold in enumerate(thresholds):
            taken, tp = set(), []
            for video, start, end, _, _ in ranked:
                ious = []
                for j, (gt_video, gt_start, gt_end, _) in enumerate(gts):
                    if gt_video == video:
                        inter = max(0.0, min(end, gt_end) - max(start, gt_start))
                        ious.append((inter / ((gt_end - gt_start) + (end - start) - inter), j))
                # The first segment below the threshold ends the search; all later ones are below it too.
                hit = next((j for iou, j in sorted(ious, reverse=True) if iou >= threshold and j not in taken), None)
                if hit is not None:
                    taken.add(hit)
                tp.append(hit is not None)
            if not ranked:
                continue
            hits = np.cumsum(tp)
            precision = [0.0, *(hits / np.arange(1, len(tp) + 1)), 0.0]
            recall = [0.0, *(hits / len(gts)), 1.0]
            for i in range(len(precision) - 2, -1, -1):
                precision[i] = max(precision[i], precision[i + 1])
            ap[t, label] = sum((recall[i] - recall[i - 1]) * precision[i] for i in range(1, len(recall))
                               if recall[i] != recall[i - 1])
    return ap, index


@pytest.fixture(scope="module")
def thumos_gt(tmp_path_factory):
    root = tmp_path_factory.mktemp("gt")
    gt, pred = root / "thumos_gt.json", root / "pred.json"
    gt.write_text(json.dumps(GT))
    pred.write_text(json.dumps(PREDICTIONS))
    return gt, pred


def test_thumos_gt_json_scores_as_the_official_evaluator(thumos_gt, capsys):
    gt, pred = thumos_gt
    assert main(["eval-detection", "--gt", str(gt), "--pred", str(pred)]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    ap, index = official_ap(GT, PREDICTIONS["results"], "test", TIOUS)
    expected = ap.mean(axis=1)
    assert list(result["mAP"]) == ["0.3", "0.4", "0.5", "0.6", "0.7"]
    assert np.abs(np.array(list(result["mAP"].values())) - expected).max() < 1e-9
    assert abs(result["average_mAP"] - expected.mean()) < 1e-9
    # By hand, HighJump at tIoU 0.7 (4 segments): 896 [18, 25] TP (6.2 / 7), 0270 FP, 896 [18.9, 24.1] FP
    # (its best segment is taken, the next has tIoU 0), 950 [41, 45] TP (3.1 / 4), 896 [28, 33] FP
    # (3.9 / 6.8), 896 [40, 49.5] FP (6.4 / 9.5): interpolated AP = 0.25 * 1 + 0.25 * 0.5.
    assert ap[4, index["HighJump"]] == pytest.approx(0.375, abs=1e-12)
    assert "(thumos14, subset testing): 3 videos, 8 segments, 20 classes" in out
    assert "video_test_0000270" in err
    # Its "train" subset (the validation videos) is scored too.
    assert main(["eval-detection", "--gt", str(gt), "--pred", str(pred), "--subset", "train"]) == 0
    assert "(thumos14, subset training): 1 videos, 1 segments, 20 classes" in capsys.readouterr().out


def test_thumos_gt_numeric_strings_read_as_float(tmp_path, thumos_annotations):
    videos, _ = read_detection_annotations(write_gt(tmp_path, [" 18.60 ", "2.48e1"]), "test")
    assert videos[0].segments.tolist() == [[float(" 18.60 "), float("2.48e1")]]
    # The same instance read from the CSV pair and from the JSON is the same float.
    pair, _ = read_afsd_thumos(thumos_annotations / "test_Annotation.csv", thumos_annotations / "test_video_info.csv")
    gt, _ = read_detection_annotations(write_gt(tmp_path, ["11.4", "12.2"]), "test")
    assert gt[0].segments[0].tolist() == pair[0].segments[1].tolist()


@pytest.mark.parametrize("segment", [["18.6", "abc"], ["18.6", "nan"], ["1e999", "2"], [True, "2"], ["18.6"]])
def test_thumos_gt_junk_is_refused_naming_file_video_field(tmp_path, segment):
    path = write_gt(tmp_path, segment)
    with pytest.raises(AnnotationError, match=r"thumos_gt\.json: database\['video_test_0000896'\]\.annotations\[0\]"
                                              r"\.segment must be \[start, end\] finite seconds"):
        read_detection_annotations(path, "test")


def write_gt(tmp_path, segment):
    path = tmp_path / "thumos_gt.json"
    path.write_text(json.dumps({"database": {"video_test_0000896": {"subset": "test", "annotations": [
        {"segment": segment, "label": "HighJump"}]}}}))
    return path


def test_eval_detection_scores_the_csv_pair_as_published(thumos_annotations, tmp_path, capsys):
    # Exact detections of video_test_0000004's two CricketBowling instances: AP 1 at every tIoU.
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"version": "VERSION 1.3", "external_data": {}, "results": {"video_test_0000004": [
        {"label": "CricketBowling", "score": 0.9, "segment": [0.2, 1.1]},
        {"label": "CricketBowling", "score": 0.8, "segment": [11.4, 12.2]}]}}))
    gt = ["--gt", str(thumos_annotations / "test_Annotation.csv")]
    assert main(["eval-detection", *gt, "--pred", str(pred), "--annotation-format", "afsd_thumos",
                 "--video-info", str(thumos_annotations / "test_video_info.csv")]) == 0
    out = capsys.readouterr().out
    assert "(thumos14, subset testing): 1 videos, 2 segments, 20 classes" in out
    assert json.loads(out.strip().splitlines()[-1])["average_mAP"] == pytest.approx(1.0)
    assert main(["eval-detection", *gt, "--pred", str(pred), "--annotation-format", "afsd_thumos"]) == 2
    assert "needs --video-info" in capsys.readouterr().err
