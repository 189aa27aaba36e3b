"""Detection mAP against hand-computed cases and a plain-Python transcription of the official algorithm."""

import json
import math

import numpy as np
import pytest

from vidaction.data.errors import AnnotationError
from vidaction.data.records import DetectionVideo
from vidaction.evaluation.detection_map import (ANET_TIOU_THRESHOLDS, THUMOS14_TIOU_THRESHOLDS, average_precision,
                                                pairwise_segment_iou, segment_iou, threshold_key)
from vidaction.evaluation.detection_results import Detections, evaluate_detection, read_results_json, write_results_json


def reference_iou(ps, pe, gs, ge):
    inter = max(0.0, min(pe, ge) - max(ps, gs))
    union = (ge - gs) + (pe - ps) - inter
    return inter / union if union else math.nan


def reference_map(ground_truth, predictions, num_classes, thresholds, ambiguous="count"):
    """Per-class AP ``{class: [AP per threshold]}``: ActivityNet's compute_average_precision_detection
    and interpolated_prec_rec in Python loops; rankings use the official numpy argsort calls.
    ``ambiguous="ignore"`` removes unmatched detections that overlap an ambiguous region from the list."""
    regions = {v.video_id: v.ambiguous.tolist() for v in ground_truth}
    result = {}
    for c in range(num_classes):
        gt = [(v.video_id, seg) for v in ground_truth for seg, label in zip(v.segments.tolist(), v.labels.tolist())
              if label == c]
        if not gt:
            continue
        preds = [(vid, seg, score) for vid, seg, score, label in
                 zip(predictions.video_ids.tolist(), predictions.segments.tolist(), predictions.scores.tolist(),
                     predictions.labels.tolist()) if label == c]
        order = np.argsort(np.array([p[2] for p in preds], dtype=float))[::-1]
        locked = [[False] * len(gt) for _ in thresholds]
        tp = [[False] * len(preds) for _ in thresholds]
        for rank, i in enumerate(order):
            video, (start, end), _ = preds[i]
            candidates = [g for g in range(len(gt)) if gt[g][0] == video]
            if not candidates:
                continue
            tious = [reference_iou(start, end, *gt[g][1]) for g in candidates]
            by_tiou = np.argsort(np.array(tious))[::-1]
            for t, threshold in enumerate(thresholds):
                for j in by_tiou:
                    if tious[j] < threshold:
                        break
                    if locked[t][candidates[j]]:
                        continue
                    tp[t][rank] = True
                    locked[t][candidates[j]] = True
                    break
        aps = []
        for t in range(len(thresholds)):
            flags = []
            for rank, i in enumerate(order):
                video, (start, end), _ = preds[i]
                overlaps = any(min(end, ae) - max(start, a_s) > 0 for a_s, ae in regions.get(video, []))
                if tp[t][rank] or not (ambiguous == "ignore" and overlaps):
                    flags.append(tp[t][rank])
            precision, recall, hits = [], [], 0
            for k, flag in enumerate(flags, 1):
                hits += flag
                precision.append(hits / k)
                recall.append(hits / len(gt))
            mprec, mrec = [0.0, *precision, 0.0], [0.0, *recall, 1.0]
            for k in range(len(mprec) - 2, -1, -1):
                mprec[k] = max(mprec[k], mprec[k + 1])
            aps.append(sum((mrec[k] - mrec[k - 1]) * mprec[k] for k in range(1, len(mrec)) if mrec[k] != mrec[k - 1]))
        result[c] = aps
    return result


def random_case(rng, num_classes=4):
    grid = float(rng.choice([0.5, 1.0]))

    def snap(x):
        return float(np.round(x / grid) * grid)

    ground_truth = []
    for v in range(int(rng.integers(2, 8))):
        many = rng.random() < 0.2
        n = int(rng.integers(18, 24)) if many else int(rng.integers(0, 5))
        segments, labels = [], []
        for _ in range(n):
            start = snap(rng.uniform(0, 30))
            segments.append((start, start + (snap(rng.uniform(0, 6)) if rng.random() > 0.1 else 0.0)))
            labels.append(0 if many else int(rng.integers(0, num_classes - 1)))
        if segments and rng.random() < 0.3:
            segments.append(segments[0])
            labels.append(labels[0])
        ambiguous = [(snap(rng.uniform(0, 30)), snap(rng.uniform(30, 40)))] if rng.random() < 0.3 else []
        ground_truth.append(DetectionVideo(f"v{v}", segments, labels, ambiguous=ambiguous))
    parts = []
    for video in [*ground_truth, DetectionVideo("unknown", [], [])]:
        n = int(rng.integers(0, 40))
        segments, labels = [], []
        for _ in range(n):
            if len(video.labels) and rng.random() < 0.5:
                g = int(rng.integers(len(video.labels)))
                start = video.segments[g, 0] + snap(rng.normal(0, 1))
                end = max(start, video.segments[g, 1] + snap(rng.normal(0, 1)))
                label = int(video.labels[g])
            else:
                start = snap(rng.uniform(0, 30))
                end = start + (snap(rng.uniform(0, 6)) if rng.random() > 0.1 else 0.0)
                label = int(rng.integers(0, num_classes))
            segments.append((start, end))
            labels.append(label)
        scores = np.round(rng.random(n), int(rng.choice([1, 2])))
        parts.append(Detections.for_video(video.video_id, np.array(segments).reshape(-1, 2), scores, labels))
    return ground_truth, Detections.concatenate(parts)


@pytest.mark.parametrize("seed", range(12))
def test_equals_the_plain_python_transcription_with_ties(seed):
    rng = np.random.default_rng(seed)
    ground_truth, predictions = random_case(rng)
    thresholds = ANET_TIOU_THRESHOLDS if seed % 2 else THUMOS14_TIOU_THRESHOLDS
    names = ["a", "b", "c", "d"]
    for mode in ("count", "ignore"):
        metrics = evaluate_detection(ground_truth, predictions, names, thresholds, ambiguous=mode)
        reference = reference_map(ground_truth, predictions, len(names), thresholds, ambiguous=mode)
        for c in range(len(names)):
            if c in reference:
                np.testing.assert_allclose(metrics.ap[:, c], reference[c], rtol=0, atol=1e-12)
            else:
                assert np.isnan(metrics.ap[:, c]).all()
        assert metrics.map_per_threshold == pytest.approx(np.mean(list(reference.values()), axis=0), abs=1e-12)


def test_ranking_uses_the_official_unstable_argsort_on_many_ties():
    # 40 tied scores in one class: numpy's default sort is not stable beyond 16 elements on most
    # builds, so only the official call on the same array reproduces the official ranking.
    rng = np.random.default_rng(7)
    gt = DetectionVideo("v", [(float(i), i + 1.0) for i in range(0, 80, 4)], [0] * 20)
    segments = np.array([(float(i), i + 1.0) if i % 8 == 0 else (float(i) + 2, i + 3.0) for i in range(0, 160, 4)])
    scores = rng.choice([0.2, 0.5], size=40)
    predictions = Detections.for_video("v", segments, scores, [0] * 40)
    metrics = evaluate_detection([gt], predictions, ["a"], [0.5])
    assert metrics.ap[0, 0] == pytest.approx(reference_map([gt], predictions, 1, [0.5])[0][0], abs=1e-12)


def one_class(gt_segments, pred_segments, scores, thresholds=(0.5,), video="v"):
    ground_truth = [DetectionVideo("v", gt_segments, [0] * len(gt_segments))]
    predictions = Detections.for_video(video, np.array(pred_segments).reshape(-1, 2), scores, [0] * len(scores))
    return evaluate_detection(ground_truth, predictions, ["a"], thresholds).ap[:, 0]


def test_hand_computed_cases():
    # One perfect prediction.
    assert one_class([(2.0, 6.0)], [(2.0, 6.0)], [0.9], ANET_TIOU_THRESHOLDS) == pytest.approx([1.0] * 10)
    # A false positive ranked first: precision 1/2 at recall 1.
    assert one_class([(2.0, 6.0)], [(20.0, 26.0), (2.0, 6.0)], [0.9, 0.8]) == pytest.approx([0.5])
    # A duplicate after the match is a false positive after full recall: AP stays 1.
    assert one_class([(2.0, 6.0)], [(2.0, 6.0), (2.0, 6.0)], [0.9, 0.8]) == pytest.approx([1.0])
    # tIoU exactly at the threshold matches; just below does not.
    assert one_class([(0.0, 10.0)], [(0.0, 5.0)], [1.0], [0.5, 0.51]) == pytest.approx([1.0, 0.0])
    # Two of three found, ranked TP, FP, TP: envelope 1 up to recall 1/3, then 2/3.
    ap = one_class([(0.0, 1.0), (5.0, 6.0), (10.0, 11.0)], [(0.0, 1.0), (20.0, 21.0), (5.0, 6.0)], [0.9, 0.8, 0.7])
    assert ap == pytest.approx([1 / 3 * 1 + 1 / 3 * 2 / 3])


def test_a_prediction_whose_best_ground_truth_is_taken_falls_to_the_next():
    # p2's best segment (tIoU 1) is taken by p1, its next one has tIoU 0.9: a true positive up to 0.9.
    ap = one_class([(0.0, 10.0), (0.0, 9.0)], [(0.0, 10.0), (0.0, 10.0)], [0.9, 0.8], [0.5, 0.9, 0.95])
    assert ap == pytest.approx([1.0, 1.0, 0.5])


def test_zero_length_segments_follow_the_official_nan():
    # 0/0 tIoU is NaN, NaN < threshold is false: a zero-length prediction matches a zero-length
    # ground truth anywhere in the video, at every threshold, as the official code computes it.
    assert np.isnan(segment_iou([3.0, 3.0], np.array([[7.0, 7.0]]))[0])
    assert one_class([(7.0, 7.0)], [(3.0, 3.0)], [0.5], [0.5, 0.95]) == pytest.approx([1.0, 1.0])
    # Against a segment of positive length a zero-length prediction has tIoU 0.
    assert one_class([(0.0, 7.0)], [(3.0, 3.0)], [0.5], [0.5]) == pytest.approx([0.0])


def test_unknown_videos_count_as_false_positives_and_are_reported():
    ground_truth = [DetectionVideo("v", [(0.0, 4.0)], [0])]
    predictions = Detections(["ghost", "v"], [(0.0, 4.0), (0.0, 4.0)], [0.9, 0.8], [0, 0])
    metrics = evaluate_detection(ground_truth, predictions, ["a"], [0.5])
    assert metrics.ap[0, 0] == pytest.approx(0.5)
    assert metrics.unknown_videos == ("ghost",)


def test_a_class_without_predictions_scores_zero_and_one_without_ground_truth_is_not_scored():
    ground_truth = [DetectionVideo("v", [(0.0, 4.0), (5.0, 8.0)], [0, 1])]
    predictions = Detections(["v", "v"], [(0.0, 4.0), (5.0, 8.0)], [0.9, 0.8], [0, 2])
    metrics = evaluate_detection(ground_truth, predictions, ["a", "b", "c"], [0.5])
    assert metrics.ap[0, :2] == pytest.approx([1.0, 0.0])
    assert np.isnan(metrics.ap[0, 2])
    assert metrics.map_per_threshold == pytest.approx([0.5])
    assert metrics.num_positives.tolist() == [1, 1, 0]


def test_tied_scores_are_ranked_by_reversed_argsort():
    gt = [(0.0, 4.0)]
    first = int(np.argsort(np.array([0.5, 0.5]))[::-1][0])
    # File order [true positive, false positive], equal scores: the official ranks entry `first` first.
    ap = one_class(gt, [(0.0, 4.0), (10.0, 14.0)], [0.5, 0.5])
    assert ap == pytest.approx([1.0 if first == 0 else 0.5])


def test_ambiguous_ignore_drops_unmatched_detections_overlapping_ambiguous_regions():
    ground_truth = [DetectionVideo("v", [(0.0, 10.0)], [0], ambiguous=[(20.0, 30.0)])]
    predictions = Detections(["v"] * 4, [(21.0, 25.0), (30.0, 35.0), (0.0, 10.0), (22.0, 23.0)],
                             [0.9, 0.85, 0.8, 0.7], [0, 0, 0, 0])
    count = evaluate_detection(ground_truth, predictions, ["a"], [0.5]).ap[0, 0]
    ignore = evaluate_detection(ground_truth, predictions, ["a"], [0.5], ambiguous="ignore").ap[0, 0]
    assert count == pytest.approx(1 / 3)
    # [21, 25] is dropped; [30, 35] only touches the region (no positive intersection) and stays.
    assert ignore == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="ambiguous"):
        evaluate_detection(ground_truth, predictions, ["a"], [0.5], ambiguous="drop")


def test_threshold_order_and_single_class_api():
    rng = np.random.default_rng(3)
    ground_truth, predictions = random_case(rng, num_classes=2)
    thresholds = [0.7, 0.3, 0.5]
    metrics = evaluate_detection(ground_truth, predictions, ["a", "b"], thresholds)
    again = evaluate_detection(ground_truth, predictions, ["a", "b"], sorted(thresholds))
    np.testing.assert_array_equal(metrics.ap[[1, 2, 0]], again.ap)
    c = int(np.flatnonzero(metrics.num_positives)[0])
    mask = predictions.labels == c
    gt_ids = [v.video_id for v in ground_truth for label in v.labels if label == c]
    gt_segments = np.array([s for v in ground_truth for s, label in zip(v.segments, v.labels) if label == c])
    single = average_precision(gt_ids, gt_segments, predictions.video_ids[mask], predictions.segments[mask],
                               predictions.scores[mask], thresholds)
    np.testing.assert_allclose(single, metrics.ap[:, c], atol=1e-15)


def test_segment_iou_and_pairwise():
    candidates = np.array([[0.0, 10.0], [5.0, 15.0], [20.0, 30.0]])
    assert segment_iou([0.0, 10.0], candidates) == pytest.approx([1.0, 5 / 15, 0.0])
    segments = np.array([[0.0, 10.0], [12.0, 22.0], [3.0, 3.0]])
    pairwise = pairwise_segment_iou(segments, candidates)
    assert pairwise.shape == (3, 3)
    for i, segment in enumerate(segments):
        np.testing.assert_array_equal(pairwise[i], segment_iou(segment, candidates))


def test_metrics_json_keys_and_values():
    metrics = evaluate_detection([DetectionVideo("v", [(0.0, 4.0)], [0])],
                                 Detections.for_video("v", [(0.0, 4.0)], [1.0], [0]), ["a"])
    doc = metrics.to_json()
    assert list(doc["mAP"]) == ["0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9", "0.95"]
    assert doc["average_mAP"] == 1.0
    assert threshold_key(np.linspace(0.3, 0.7, 5)[1]) == "0.4"


def test_bad_arguments_name_the_video():
    with pytest.raises(ValueError, match="video 'x', detection 1: segment end < start"):
        Detections(["x", "x"], [(0.0, 1.0), (3.0, 2.0)], [0.5, 0.5], [0, 0])
    with pytest.raises(ValueError, match="score is not finite"):
        Detections(["x"], [(0.0, 1.0)], [float("nan")], [0])
    gt = [DetectionVideo("v", [(0.0, 4.0)], [0])]
    with pytest.raises(ValueError, match="appears twice"):
        evaluate_detection(gt * 2, Detections.concatenate([]), ["a"])
    with pytest.raises(ValueError, match="label 3 outside"):
        evaluate_detection(gt, Detections.for_video("v", [(0.0, 1.0)], [1.0], [3]), ["a"])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        evaluate_detection(gt, Detections.concatenate([]), ["a"], [0.0])
    with pytest.raises(ValueError, match="no segments"):
        evaluate_detection([DetectionVideo("v", [], [])], Detections.concatenate([]), ["a"])


def test_results_json_round_trip(tmp_path):
    predictions = Detections(["v1", "v1", "v2"], [(0.5, 4.25), (1.0, 2.0), (3.0, 3.0)], [0.9, 0.1 + 0.2, 1.0],
                             [1, 0, 1])
    path = write_results_json(tmp_path / "out" / "results.json", predictions, ["run", "jump"])
    doc = json.loads(path.read_text())
    assert doc["version"] == "VERSION 1.3" and doc["external_data"] == {"used": False}
    assert doc["results"]["v1"][0] == {"label": "jump", "score": 0.9, "segment": [0.5, 4.25]}
    back = read_results_json(path, ["run", "jump"])
    np.testing.assert_array_equal(back.segments, predictions.segments)
    np.testing.assert_array_equal(back.scores, predictions.scores)
    np.testing.assert_array_equal(back.labels, predictions.labels)
    assert back.video_ids.tolist() == ["v1", "v1", "v2"]


@pytest.mark.parametrize("results, message", [
    ({"version": "1"}, "no 'results' field"),
    ({"results": []}, "must map video ids"),
    ({"results": {"v": {"label": "run"}}}, r"results\['v'\] must be a list"),
    ({"results": {"v": [{"label": "runn", "score": 1, "segment": [0, 1]}]}},
     r"results\['v'\]\[0\].label 'runn' is not one of the 2 classes; did you mean 'run'"),
    ({"results": {"v": [{"label": "run", "score": "high", "segment": [0, 1]}]}}, r"\.score must be a finite number"),
    ({"results": {"v": [{"label": "run", "score": True, "segment": [0, 1]}]}}, r"\.score must be a finite number"),
    ({"results": {"v": [{"label": "run", "score": 0.5, "segment": [2, 1]}]}}, r"\.segment \[2, 1\]: end < start"),
    ({"results": {"v": [{"label": "run", "score": 0.5, "segment": [2]}]}}, r"\.segment must be \[start, end\]"),
    ({"results": {"v": [{"label": "run", "score": 0.5}]}}, r"results\['v'\]\[0\] has no 'segment'"),
])
def test_bad_results_files_name_video_and_field(tmp_path, results, message):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(AnnotationError, match=message):
        read_results_json(path, ["run", "jump"])


def test_results_file_errors_for_missing_and_invalid_json(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_results_json(tmp_path / "none.json", ["run"])
    path = tmp_path / "broken.json"
    path.write_text('{"results":\n {"v": [}')
    with pytest.raises(AnnotationError, match=r"broken.json:2: not valid JSON"):
        read_results_json(path, ["run"])


def test_ground_truth_tied_in_tiou_is_tried_in_reversed_argsort_order():
    # p1 [1, 5] has tIoU 0.6 with both A [0, 4] and B [2, 6]; the official tries them in
    # argsort(tiou)[::-1] order. If p1 takes B, p2 (exactly A) matches too; if it takes A, p2 is a
    # false positive (tIoU 1/3 with B).
    first = int(np.argsort(np.array([0.6, 0.6]))[::-1][0])
    ap = one_class([(0.0, 4.0), (2.0, 6.0)], [(1.0, 5.0), (0.0, 4.0)], [0.9, 0.8])
    assert ap == pytest.approx([1.0 if first == 1 else 0.5])


def test_no_detections_at_all_scores_zero():
    metrics = evaluate_detection([DetectionVideo("v", [(0.0, 4.0)], [0])], Detections.concatenate([]), ["a"], [0.5])
    assert metrics.ap.tolist() == [[0.0]] and metrics.average_map == 0.0 and metrics.unknown_videos == ()


def test_bad_ground_truth_names_the_video():
    with pytest.raises(ValueError, match=r"video 'w': ground-truth label 5 outside 0..0"):
        evaluate_detection([DetectionVideo("v", [(0.0, 1.0)], [0]), DetectionVideo("w", [(0.0, 1.0)], [5])],
                           Detections.concatenate([]), ["a"])
    with pytest.raises(ValueError, match=r"video 'v': ground-truth segment \[2.0, 1.0\]"):
        evaluate_detection([DetectionVideo("v", [(2.0, 1.0)], [0])], Detections.concatenate([]), ["a"])
