"""Hostile annotation files, counted: every reader, on valid files mutated at random (lines dropped,
duplicated or swapped, cuts at any byte, fields replaced by text, huge, negative or non-finite
numbers, inserted bytes, other encodings, BOMs, CR/CRLF endings; JSON nodes replaced, deleted or
renamed) and on random bytes, returns valid records or raises one :class:`AnnotationError` line that
names the file; never another exception. Settings, strategies and the report: :mod:`tests.hostile`.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.activitynet import read_activitynet
from vidaction.data.formats.afsd import read_afsd_anet, read_afsd_thumos
from vidaction.data.formats.detection import read_class_list, read_detection_annotations
from vidaction.data.formats.egogesture import SUBJECTS, read_egogesture
from vidaction.data.formats.epic_kitchens import read_epic55
from vidaction.data.formats.filelist import filelist_class_names, read_filelist
from vidaction.data.formats.kinetics import read_kinetics
from vidaction.data.formats.something import read_sthv1, read_sthv2
from vidaction.data.formats.thumos14 import THUMOS14_CLASSES, THUMOS14_UCF101_IDS, read_thumos14
from vidaction.data.formats.ucf101 import read_ucf101
from vidaction.data.labels import head_sizes, prefix_heads, split_heads
from vidaction.data.records import DetectionVideo, VideoRecord
from vidaction.evaluation.detection_results import read_results_json
from tests.conftest import EPIC55_HEADER, EPIC55_TEST_HEADER
from tests.hostile import HOSTILE, counted, deadline, json_mutated, mutated, mutated_files, write_report

CASES: dict[str, Counter] = defaultdict(Counter)
CASE_SECONDS = 10


@pytest.fixture(scope="module", autouse=True)
def report_cases():
    yield
    write_report(counted({f"annotations/{name}": counts for name, counts in CASES.items()}))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def write_files(folder: Path, files: dict[str, bytes | None]) -> Path:
    for name, content in files.items():
        if content is not None:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    return folder


def run_case(reader: str, scratch: Path, files: dict[str, bytes | None], call, check) -> None:
    """Write ``files`` into a fresh folder, ``call(folder)``; a result must pass ``check``, an
    ``AnnotationError`` must be one line naming a file of that folder; anything else, or no answer
    within ``CASE_SECONDS``, fails."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    CASES[reader]["cases"] += 1
    try:
        write_files(folder, files)
        try:
            with deadline(CASE_SECONDS):
                result = call(folder)
        except AnnotationError as exc:
            CASES[reader]["errors"] += 1
            message = str(exc)
            assert message.splitlines() == [message], message
            assert message.startswith(exc.path) and Path(exc.path).is_relative_to(folder), message
            assert exc.line_no >= 0
            return
        check(result)
    except BaseException:
        CASES[reader]["failures"] += 1
        raise
    finally:
        shutil.rmtree(folder)


def check_records(result, sizes: tuple[int, ...] | None = None) -> None:
    """Recognition ``(records, classes)``: string paths, labels inside the class list (or -1), finite
    ``start < end`` where given."""
    records, classes = result[0], result[1]
    sizes = sizes or (len(classes),)
    assert all(isinstance(name, str) for name in classes)
    for record in records:
        assert isinstance(record, VideoRecord) and isinstance(record.path, str)
        labels = record.label if isinstance(record.label, tuple) else (record.label,)
        assert len(labels) == len(sizes)
        assert all(isinstance(label, int) and -1 <= label < size for label, size in zip(labels, sizes))
        if record.start is not None and record.end is not None:
            assert math.isfinite(record.start) and math.isfinite(record.end) and 0 <= record.start < record.end
        assert record.num_frames is None or record.num_frames >= 1


def check_detection(result) -> None:
    """Detection ``(videos, classes)``: unique ids, finite ``0 <= start <= end``, labels inside the list."""
    videos, classes = result
    assert len({v.video_id for v in videos}) == len(videos)
    for video in videos:
        assert isinstance(video, DetectionVideo)
        segments = np.asarray(video.segments).reshape(-1, 2)
        assert np.isfinite(segments).all() and (segments[:, 0] >= 0).all() and (segments[:, 1] >= segments[:, 0]).all()
        assert len(video.labels) == len(segments) and all(0 <= label < len(classes) for label in video.labels)
        assert np.isfinite(np.asarray(video.ambiguous, dtype=np.float64)).all()
        assert video.duration is None or (math.isfinite(video.duration) and video.duration >= 0)


def _crlf(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


UCF101 = {"classInd.txt": _crlf("1 ApplyEyeMakeup", "2 Archery"),
          "trainlist01.txt": _crlf("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1", "Archery/v_Archery_g08_c01.avi 2"),
          "testlist01.txt": _crlf("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "Archery/v_Archery_g01_c01.avi")}


@HOSTILE
@example(files={**UCF101, "trainlist01.txt": b"Archery/v_Archery_g08_c01.avi \xc2\xb2\n"}, subset="train")
@example(files={**UCF101, "classInd.txt": b"1 ApplyEyeMakeup\n" + b"9" * 5000 + b" Archery\n"}, subset="val")
@given(files=mutated_files(UCF101), subset=st.sampled_from(["train", "val"]))
def test_ucf101(scratch, files, subset):
    run_case("ucf101", scratch, files, lambda folder: read_ucf101(folder, folder / "videos", 1, subset), check_records)


STHV1 = {"something-something-v1-labels.csv": _crlf("Holding something", "Pushing something from left to right"),
         "something-something-v1-train.csv": b"100218;Pushing something from left to right\n42;Holding something\n",
         "something-something-v1-validation.csv": b"7;Holding something\n"}


@HOSTILE
@example(files={**STHV1, "something-something-v1-train.csv": b"1;\x80\n"}, subset="train")
@given(files=mutated_files(STHV1), subset=st.sampled_from(["train", "val"]))
def test_something_v1(scratch, files, subset):
    run_case("sthv1", scratch, files, lambda folder: read_sthv1(folder, folder / "frames", subset), check_records)


STHV2_TRAIN = [{"id": "78687", "label": "putting a cup on a table", "template": "Putting [something] on a surface",
                "placeholders": ["a cup"]},
               {"id": "42326", "label": "pushing pen", "template": "Pushing [something] from left to right",
                "placeholders": ["pen"]}]
STHV2 = {"something-something-v2-labels.json": json.dumps({"Holding something": "1", "Putting something on a surface":
                                                           "0", "Pushing something from left to right": "2"}).encode(),
         "something-something-v2-train.json": json.dumps(STHV2_TRAIN, indent=1).encode(),
         "something-something-v2-validation.json": json.dumps(STHV2_TRAIN[:1]).encode()}


@HOSTILE
@example(files={**STHV2, "something-something-v2-train.json": b'[{"id": "1", "template": null}]'}, subset="train")
@example(files={**STHV2, "something-something-v2-labels.json": b'{"Holding something": []}'}, subset="train")
@example(files={**STHV2, "something-something-v2-labels.json": b'{"Holding something": Infinity}'}, subset="val")
@given(files=mutated_files(STHV2, tuple(STHV2)), subset=st.sampled_from(["train", "val"]))
def test_something_v2(scratch, files, subset):
    run_case("sthv2", scratch, files, lambda folder: read_sthv2(folder, folder / "videos", subset), check_records)


KINETICS_HEADER = "label,youtube_id,time_start,time_end,split,is_cc\n"
KINETICS = {"train.csv": (KINETICS_HEADER + "air drumming,-0Qw8ZV3W9o,13,23,train,0\n"
                          "abseiling,--07WQ2iBlw,1,11,train,0\n"
                          '"passing American football (in game)",xyz,0,10,train,0\n').encode(),
            "validate.csv": (KINETICS_HEADER + "air drumming,abc,0,10,val,0\n").encode(),
            "test.csv": b"youtube_id,time_start,time_end,split\nqqq,0,10,test\n"}


@HOSTILE
@example(files={**KINETICS, "validate.csv": (KINETICS_HEADER + "abseiling,abc,1e309,10,val,0\n").encode()},
         subset="val")
@example(files={**KINETICS, "train.csv": KINETICS_HEADER.encode() + b"a," * 200_000}, subset="train")
@given(files=mutated_files(KINETICS), subset=st.sampled_from(["train", "val", "test"]))
def test_kinetics(scratch, files, subset):
    run_case("kinetics", scratch, files, lambda folder: read_kinetics(folder, folder / "k400", subset), check_records)


FILELIST = {"train.txt": b"# comment\n\nwalk/a b.mp4 walk\nrun/c.mp4\trun\n/abs/d.mp4 1\n",
            "val.txt": b"e.mp4 walk\n", "names.txt": b"jump\nrun\nswim\nwalk\n",
            "train_ids.txt": b"a.mp4 0\nb.mp4 2\n", "val_ids.txt": b"c.mp4 1\n"}


def _read_filelist(folder: Path, names: bool, ids: bool, split: str):
    train = folder / ("train_ids.txt" if ids else "train.txt")
    listed = train if split == "train" else folder / ("val_ids.txt" if ids else "val.txt")
    classes = filelist_class_names(train, folder / "names.txt" if names else None)
    return read_filelist(listed, folder / "videos", classes), classes


@HOSTILE
@example(files={**FILELIST, "train_ids.txt": b"a.mp4 99999999999999\n"}, names=False, ids=True, split="val")
@example(files={**FILELIST, "val_ids.txt": b"c.mp4 --5\nd.mp4 \xc2\xb2\n"}, names=False, ids=True, split="val")
@given(files=mutated_files(FILELIST), names=st.booleans(), ids=st.booleans(), split=st.sampled_from(["train", "val"]))
def test_generic_list(scratch, files, names, ids, split):
    run_case("list", scratch, files, lambda folder: _read_filelist(folder, names, ids, split), check_records)


def _egogesture_files() -> dict[str, bytes]:
    files = {}
    for subject in SUBJECTS["val"]:
        files[f"subject{subject:02d}/Scene1/Group1.csv"] = b"5,10,40\r\n83,41,90,\r\n"
        files[f"subject{subject:02d}/Scene2/Group3.csv"] = b"1,1,30\n"
    return files


EGOGESTURE = _egogesture_files()


@HOSTILE
@example(files={**EGOGESTURE, "subject01/Scene1/Group1.csv": b"\xff\xfe1\x00"}, stray=None)
@given(files=mutated_files(EGOGESTURE), stray=st.sampled_from([None, "subject01/Scene1/group2.csv",
                                                              "subject07/Scene3", "subject12/Scene1/Group1.CSV"]))
def test_egogesture(scratch, files, stray):
    if stray:
        files = {**files, stray: files.get("subject01/Scene1/Group1.csv") or b""}
    run_case("egogesture", scratch, files, lambda folder: read_egogesture(folder, folder / "images", "val"),
             check_records)


EPIC55 = {"EPIC_verb_classes.csv": b"verb_id,class_key,verbs\n1,put,['put']\n0,take,\"['take', 'grab']\"\n",
          "EPIC_noun_classes.csv": b"noun_id,class_key,nouns\n0,tap,['tap']\n2,pan,['pan']\n1,cup,['cup']\n",
          "EPIC_train_action_labels.csv": (EPIC55_HEADER + "0,P01,P01_01,open tap,00:00:00.01,00:00:01.00,1,60,open,0,"
                                           "tap,0,\"['tap', 'water']\",\"[0, 1]\"\n2,P02,P02_03,take pan,00:00:05.00,"
                                           "00:00:06.00,301,360,take,0,pan,2,['pan'],[2]\n").encode(),
          "EPIC_test_s1_timestamps.csv": (EPIC55_TEST_HEADER + "9,P01,P01_11,0:1,0:2,61,120\n").encode(),
          "EPIC_test_s2_timestamps.csv": (EPIC55_TEST_HEADER + "10,P09,P09_07,0:0,0:1,1,60\n").encode()}


def _read_epic55(folder: Path, subset: str):
    records, verbs, nouns = read_epic55(folder, folder / "rgb", subset, val_participants=("P02",))
    check_records((records, verbs + nouns), (len(verbs), len(nouns)))


@HOSTILE
@example(files={**EPIC55, "EPIC_verb_classes.csv": b"verb_id,class_key\n0,\"" + b"x" * 200_000 + b"\"\n"},
         subset="train")
@given(files=mutated_files(EPIC55), subset=st.sampled_from(["train", "val", "test_s1", "test_s2"]))
def test_epic55(scratch, files, subset):
    run_case("epic55", scratch, files, lambda folder: _read_epic55(folder, subset), lambda _: None)


THUMOS14 = {f"{name}_test.txt": b"" for name in THUMOS14_CLASSES}
THUMOS14.update({"Diving_test.txt": b"video_test_0000004  30.5  32.1\r\nvideo_test_0000004\t10.0 12.5\n",
                 "CliffDiving_test.txt": b"video_test_0000004 10.0 12.5\n",
                 "BaseballPitch_test.txt": b"\nvideo_test_0000001 1.0 2.0\n",
                 "Ambiguous_test.txt": b"video_test_0000004 40 41\nvideo_test_0001292 5 9\n",
                 "detclasslist.txt": "".join(f"{i} {name}\n" for i, name in
                                             zip(THUMOS14_UCF101_IDS, THUMOS14_CLASSES)).encode()})


@HOSTILE
@example(files={**THUMOS14, "detclasslist.txt": b"7 Diving\n9 Diving\n"})
@example(files={**THUMOS14, "detclasslist.txt": b"7 " + b"x" * 300 + b"\n"})
@given(files=mutated_files(THUMOS14))
def test_thumos14_folder(scratch, files):
    run_case("thumos14_folder", scratch, files, lambda folder: read_detection_annotations(folder, "test"),
             check_detection)


ANET = {"version": "VERSION 1.3", "taxonomy": [], "database": {
    "sJFgo9H6zNo": {"subset": "validation", "duration": 139.042, "resolution": "640x360", "url": "https://x",
                    "annotations": [{"segment": [89.5, 130.0], "label": "Mooping floor"},
                                    {"segment": [0.0, 0.0], "label": "Washing hands"}]},
    "V1GAp8Af2oc": {"subset": "training", "duration": 60.0, "fps": 30,
                    "annotations": [{"segment": [1.0, 5.0], "label": "Archery"}]},
    "zzzTest0001": {"subset": "testing", "duration": 30.0, "annotations": [], "ambiguous": [[1, 2]]}}}
THUMOS14_JSON = {"database": {"video_test_0000004": {"subset": "Test", "duration": 60.0, "fps": 30.0, "annotations": [
    {"segment": [10.0, 12.5], "label": "Diving", "label_id": 7}, {"segment": [20, 21], "label": "Ambiguous"}]}}}


@HOSTILE
@example(content=json.dumps({"database": {"v": {"subset": "validation", "annotations": [
    {"segment": [0, 1], "label": []}]}}}).encode(), subset="validation", dispatch=True)
@example(content=json.dumps({"database": {"v": {"subset": "validation", "annotations": [
    {"segment": [0, 10**400], "label": "x"}]}}}).encode(), subset="validation", dispatch=False)
@example(content=b"[" * 100_000, subset="validation", dispatch=True)
@given(content=json_mutated(ANET) | mutated(json.dumps(ANET, indent=1).encode()),
       subset=st.sampled_from(["validation", "train", "test"]), dispatch=st.booleans())
def test_activitynet_json(scratch, content, subset, dispatch):
    read = read_detection_annotations if dispatch else read_activitynet
    run_case("activitynet", scratch, {"anet.json": content}, lambda folder: read(folder / "anet.json", subset),
             check_detection)


@HOSTILE
@given(content=json_mutated(THUMOS14_JSON), subset=st.sampled_from(["test", "val"]))
def test_thumos14_json(scratch, content, subset):
    run_case("thumos14_json", scratch, {"thumos14.json": content},
             lambda folder: read_thumos14(folder / "thumos14.json", subset), check_detection)


# AFSD's and GAF's thumos_annotations/ and anet_annotations/ as published (data/formats/afsd.py).
AFSD_THUMOS = {
    "val_Annotation.csv": b"video,type,type_idx,start,end,startFrame,endFrame\n"
                          b"video_validation_0000051,Billiards,12,67.5,75.9,2025,2277\n"
                          b"video_validation_0000160,Ambiguous,0,155.2,160.6,4656,4818\n"
                          b"video_validation_0000160,Diving,26,10.0,12.5,300,375\n",
    "val_video_info.csv": b"video,fps,sample_fps,count,sample_count\n"
                          b"video_validation_0000051,30.0,10.0,5091.0,1697\n"
                          b"video_validation_0000160,29.97002997002997,10.0,5994.0,1999\n",
    "Class Index_Detection.txt": _crlf("7 BaseballPitch", "12 Billiards", "26 Diving")}
AFSD_ANET = {"v_sJFgo9H6zNo": {"subset": "validation", "duration": 139.042, "frame_num": 768, "fps": 5.52,
                               "annotations": [{"start_frame": 494.0, "end_frame": 717.6, "label": "Mooping floor",
                                                "label_id": 2}]},
             "v_V1GAp8Af2oc": {"subset": "training", "duration": 60.0, "frame_num": 768, "fps": 12.8,
                               "annotations": [{"start_frame": 12.8, "end_frame": 64.0, "label": "Archery",
                                                "label_id": 1}]}}


@HOSTILE
@given(files=mutated_files(AFSD_THUMOS), subset=st.sampled_from(["val", "test"]))
def test_afsd_thumos_annotations(scratch, files, subset):
    run_case("afsd_thumos", scratch, files,
             lambda folder: read_afsd_thumos(folder / "{subset}_Annotation.csv", folder / "{subset}_video_info.csv",
                                             subset), check_detection)


@HOSTILE
@given(files=mutated_files({"video_info_train_val.json": json.dumps(AFSD_ANET).encode(),
                            "action_name.txt": b"Archery\nMooping floor"}, json_files=("video_info_train_val.json",)),
       subset=st.sampled_from(["training", "validation"]))
def test_afsd_anet_annotations(scratch, files, subset):
    run_case("afsd_anet", scratch, files, lambda folder: read_afsd_anet(folder / "video_info_train_val.json", subset),
             check_detection)


RESULTS = {"version": "VERSION 1.3", "external_data": {"used": False}, "results": {
    "v1": [{"label": "run", "score": 0.9, "segment": [1.0, 2.5]}, {"label": "jump", "score": 0.1, "segment": [0, 0]}],
    "v2": [{"label": "jump", "score": 1, "segment": [3, 9]}]}}


def _check_results(detections) -> None:
    assert len(detections.video_ids) == len(detections.scores) == len(detections.labels) == len(detections.segments)
    assert np.isfinite(detections.scores).all() and np.isfinite(detections.segments).all()
    assert (detections.segments[:, 1] >= detections.segments[:, 0]).all()
    assert ((detections.labels >= 0) & (detections.labels < 2)).all()


@HOSTILE
@example(content=json.dumps({"results": {"v": [{"label": [], "score": 1, "segment": [0, 1]}]}}).encode())
@example(content=json.dumps({"results": {"v": [{"label": "run", "score": 10**400, "segment": [0, 1]}]}}).encode())
@example(content=b"{\"results\": " + b"9" * 5000 + b"}")
@given(content=json_mutated(RESULTS) | mutated(json.dumps(RESULTS).encode()))
def test_detection_results_json(scratch, content):
    run_case("detection_results", scratch, {"results.json": content},
             lambda folder: read_results_json(folder / "results.json", ["run", "jump"]), _check_results)


def _check_class_list(names) -> None:
    assert names and len(set(names)) == len(names) and all(isinstance(name, str) for name in names)


@HOSTILE
@given(content=mutated(b"walk\nrun fast\nswim\n"))
def test_class_list(scratch, content):
    run_case("class_list", scratch, {"classes.txt": content}, lambda folder: read_class_list(folder / "classes.txt"),
             _check_class_list)


@HOSTILE
@given(names=st.lists(st.text(max_size=8) | st.sampled_from(["verb:take", "noun:tap", ":", "a:b:c"]), max_size=8))
def test_label_heads(names):
    CASES["label_heads"]["cases"] += 1
    heads = split_heads(names)
    assert sum(head_sizes(names)) == len(names)
    assert prefix_heads(dict(heads)) == names if len(heads) > 1 else heads == [("", names)]
