"""HCML's efficacy score of a trained model's motion features (Sec. 4.2, Table 1), end to end.

The motion features ``P^l`` of one level are extracted, frozen, for every video of the training and
the validation split, with the test preprocessing for both (one view: the probe measures the
representation, not augmentation), and a linear probe
(:func:`vidaction.evaluation.efficacy.linear_probe`) reports ``Acc_train / (Acc_train - Acc_test)``.
Levels are numbered as in Table 1 (1, 2, 3 = the motion features after res2, res3, res4), or named
by their stage (``res2``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from vidaction.config import ConfigError, ExperimentConfig
from vidaction.data.build import build_dataset_for_records, build_loader, read_annotations
from vidaction.data.labels import num_classes_of
from vidaction.engine.runtime import resolve_device
from vidaction.engine.tasks.recognition import load_trained_model
from vidaction.evaluation.efficacy import linear_probe, pool_features


def resolve_level(model: nn.Module, level: str | int) -> str:
    """The stage name of motion level ``level`` (1-based number or stage name) of ``model``."""
    levels = tuple(getattr(model, "motion_levels", ()))
    if not levels:
        raise ConfigError("the checkpoint's model has no prime motion blocks (model.options.motion=pmb), so no "
                          "motion features to probe")
    text = str(level)
    if text in levels:
        return text
    if text.isdigit() and 1 <= int(text) <= len(levels):
        return levels[int(text) - 1]
    numbered = ", ".join(f"{i} = {name}" for i, name in enumerate(levels, 1))
    raise ConfigError(f"level={level}: this model's motion levels are {numbered}")


@torch.no_grad()
def extract_motion_features(model: nn.Module, loader, level: str, device: torch.device,
                            progress: bool = True) -> tuple[Tensor, Tensor, list[str]]:
    """``(features (V, C), labels (V,), bad)``: level ``level``'s ``P^l`` pooled over time and space."""
    model.eval().to(device)
    features, labels, bad = [], [], []
    for batch in tqdm(loader, desc=f"features {level}", leave=False, disable=not progress, dynamic_ncols=True):
        bad.extend(batch["bad"])
        if batch["clip"] is None:
            continue
        model(batch["clip"].to(device))
        features.append(pool_features(model.motion_features()[level].float()).cpu())
        labels.append(batch["label"])
    if not features:
        raise ConfigError(f"no readable videos to extract {level} features from")
    return torch.cat(features), torch.cat(labels), bad


def run_efficacy(cfg: ExperimentConfig, level: str | int) -> dict[str, Any]:
    """The efficacy score of ``cfg.train.checkpoint``'s motion features at ``level``, probed on the
    configured dataset's training and validation splits."""
    if not cfg.train.checkpoint:
        raise FileNotFoundError("no checkpoint given: pass checkpoint=PATH (or train.checkpoint=PATH)")
    model, _, class_names = load_trained_model(cfg.train.checkpoint)
    name = resolve_level(model, level)
    data_cfg = replace(cfg.data, test_clips=1, test_crops=1)
    device = resolve_device(cfg.train.device)
    splits = {}
    for split in ("train", "val"):
        records, split_classes = read_annotations(data_cfg, split)
        if class_names and split_classes != class_names:
            raise ConfigError(f"the dataset's {len(split_classes)} classes differ from the checkpoint's "
                              f"{len(class_names)}")
        loader = build_loader(build_dataset_for_records(data_cfg, records, train=False), data_cfg, train=False)
        splits[split] = extract_motion_features(model, loader, name, device, cfg.train.progress)
    (train_x, train_y, train_bad), (test_x, test_y, test_bad) = splits["train"], splits["val"]
    result = linear_probe(train_x, train_y, test_x, test_y, num_classes_of(class_names) if class_names
                          else int(max(train_y.max(), test_y.max())) + 1)
    return {"level": name, "channels": int(train_x.shape[1]), "train_videos": len(train_y), "test_videos": len(test_y),
            "bad_videos": len(train_bad) + len(test_bad), "train_accuracy": result.train_accuracy,
            "test_accuracy": result.test_accuracy, "score": result.score}
