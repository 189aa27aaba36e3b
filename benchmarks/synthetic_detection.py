"""Synthetic detection data: generation time, statistics, and whether its features are learnable.

Writes the default dataset (``make_detection_dataset``), prints the number of videos, instances per
class and the action fraction, then fits a per-position multinomial logistic regression (background +
classes, standardised features, full-batch L-BFGS) on the ``validation`` subset's features and scores
the ``test`` subset: action-vs-background balanced accuracy and AUC, and the class accuracy on action
positions, each next to chance. Ambiguous positions are left out. Last, a naive detector on top of that
classifier (probabilities smoothed over 5 steps; every maximal run of one arg-max class becomes a
segment scored by its mean class probability) is scored with the official-equivalent mAP at tIoU
0.1-0.7: a floor for what a temporal detector should reach on these features.

Run: python benchmarks/synthetic_detection.py [--out DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vidaction.data.feature_sidecar import feature_path, read_sidecar
from vidaction.data.synthetic_detection import make_detection_dataset


def position_labels(entry: dict, classes: list[str], num_steps: int, feature_fps: float,
                    time_offset: float) -> np.ndarray:
    """Per feature step: 1 + class of the instance containing its time, 0 background, -1 ambiguous."""
    times = time_offset + np.arange(num_steps) / feature_fps
    labels = np.zeros(num_steps, dtype=np.int64)
    for start, end in entry.get("ambiguous", []):
        labels[(times >= start) & (times < end)] = -1
    for annotation in entry["annotations"]:
        start, end = annotation["segment"]
        labels[(times >= start) & (times < end)] = 1 + classes.index(annotation["label"])
    return labels


def load_subset(root: Path, subset: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    database = json.loads((root / "activitynet.json").read_text())["database"]
    features, labels = [], []
    for video_id, entry in sorted(database.items()):
        if entry["subset"] != subset:
            continue
        path = feature_path(root / "features", video_id)
        array, sidecar = np.load(path), read_sidecar(path)
        features.append(array)
        labels.append(position_labels(entry, classes, len(array), sidecar.feature_fps, sidecar.time_offset))
    return np.concatenate(features), np.concatenate(labels)


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float = 1e-3) -> torch.nn.Linear:
    """Multinomial logistic regression by full-batch L-BFGS (cross-entropy + ``l2`` on the weights)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], num_classes)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets) + l2 * model.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(sorted_scores[np.r_[False, np.diff(sorted_scores) == 0]]):
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def learnability(root: Path, classes: list[str]) -> dict:
    x_train, y_train = load_subset(root, "validation", classes)
    x_test, y_test = load_subset(root, "test", classes)
    keep_train, keep_test = y_train >= 0, y_test >= 0
    x_train, y_train, x_test, y_test = x_train[keep_train], y_train[keep_train], x_test[keep_test], y_test[keep_test]
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    model = fit_logistic_regression((x_train - mean) / std, y_train, len(classes) + 1)
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.from_numpy((x_test - mean) / std)), dim=1).numpy()
    action = y_test > 0
    predicted_action = probabilities[:, 0] < 0.5
    balanced = 0.5 * ((predicted_action[action]).mean() + (~predicted_action[~action]).mean())
    class_accuracy = (probabilities[action, 1:].argmax(1) + 1 == y_test[action]).mean()
    per_class = np.bincount(y_test[action] - 1, minlength=len(classes)) / action.sum()
    return {
        "train_positions": len(y_train), "test_positions": len(y_test),
        "action_vs_background_balanced_accuracy": float(balanced), "balanced_accuracy_chance": 0.5,
        "action_vs_background_auc": auc(1 - probabilities[:, 0], action), "auc_chance": 0.5,
        "class_accuracy_on_action_positions": float(class_accuracy),
        "class_accuracy_chance_uniform": 1 / len(classes), "class_accuracy_chance_majority": float(per_class.max()),
    }


def naive_detection_map(root: Path, classes: list[str]) -> dict:
    """mAP of run-length segments of the smoothed per-position classifier (module docstring)."""
    from vidaction.data.records import DetectionVideo
    from vidaction.evaluation.detection_results import Detections, evaluate_detection

    x_train, y_train = load_subset(root, "validation", classes)
    keep = y_train >= 0
    mean, std = x_train[keep].mean(0), x_train[keep].std(0) + 1e-6
    model = fit_logistic_regression((x_train[keep] - mean) / std, y_train[keep], len(classes) + 1)
    database = json.loads((root / "activitynet.json").read_text())["database"]
    ground_truth, parts = [], []
    for video_id, entry in sorted(database.items()):
        if entry["subset"] != "test":
            continue
        ground_truth.append(DetectionVideo(video_id, [a["segment"] for a in entry["annotations"]],
                                           [classes.index(a["label"]) for a in entry["annotations"]],
                                           duration=entry["duration"], ambiguous=entry["ambiguous"]))
        path = feature_path(root / "features", video_id)
        array, sidecar = np.load(path), read_sidecar(path)
        with torch.no_grad():
            probabilities = torch.softmax(model(torch.from_numpy((array - mean) / std)), dim=1).numpy()
        kernel = np.ones(5) / 5
        smooth = np.stack([np.convolve(probabilities[:, c], kernel, mode="same") for c in range(len(classes) + 1)], 1)
        best = smooth.argmax(1)
        edges = np.flatnonzero(np.diff(np.r_[-1, best, -1]))
        segments, scores, labels = [], [], []
        fps = sidecar.feature_fps
        first_bin = sidecar.time_offset - 0.5 / fps  # where step 0's bin begins
        for start, stop in itertools.pairwise(edges):
            if best[start] == 0:
                continue
            segments.append([first_bin + start / fps, first_bin + stop / fps])
            scores.append(smooth[start:stop, best[start]].mean())
            labels.append(best[start] - 1)
        parts.append(Detections.for_video(video_id, np.array(segments).reshape(-1, 2), scores, labels))
    metrics = evaluate_detection(ground_truth, Detections.concatenate(parts), classes,
                                 tiou_thresholds=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7))
    return metrics.to_json()


def statistics(root: Path, classes: list[str]) -> dict:
    database = json.loads((root / "activitynet.json").read_text())["database"]
    stats: dict = {}
    for subset in ("validation", "test"):
        entries = [e for e in database.values() if e["subset"] == subset]
        counts = {name: 0 for name in classes}
        action = 0.0
        for entry in entries:
            for annotation in entry["annotations"]:
                counts[annotation["label"]] += 1
                action += annotation["segment"][1] - annotation["segment"][0]
        total = sum(e["duration"] for e in entries)
        stats[subset] = {"videos": len(entries), "instances": counts, "hours": round(total / 3600, 3),
                         "action_fraction": round(action / total, 3),
                         "ambiguous_regions": sum(len(e["ambiguous"]) for e in entries)}
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="dataset folder (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out or scratch)
        begin = time.perf_counter()
        make_detection_dataset(root, seed=args.seed)
        seconds = time.perf_counter() - begin
        classes = (root / "annotations" / "classes.txt").read_text().split()
        print(f"make_detection_dataset (defaults): {seconds:.1f} s")
        print(json.dumps(statistics(root, classes), indent=1))
        print(json.dumps(learnability(root, classes), indent=1))
        print("naive detector (smoothed per-position classifier, runs as segments):")
        print(json.dumps(naive_detection_map(root, classes), indent=1))


if __name__ == "__main__":
    main()
