"""The training loop with recognition parts: learns, resumes exactly, handles bad videos, NaN losses,
interruptions, and writes its files."""

import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vidaction.config import OptimConfig, ScheduleConfig, TrainConfig
from vidaction.data.dataset import EpochSampler, collate_clips
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.data.labels import head_sizes
from vidaction.engine.batches import ClipBatches
from vidaction.engine.evaluators import ClassificationEvaluator
from vidaction.engine.loop import NonFiniteLossError, TooManyBadSamples, TrainingLoop
from vidaction.engine.objectives import CrossEntropyObjective
from vidaction.engine.prediction import predict_scores


class ToyClips(Dataset):
    """Class = sign of the mean of channel 0; item ``bad`` indices decode as failures."""

    def __init__(self, n=48, num_classes=2, bad=(), seed=0, nan_at=None):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, num_classes, (n,), generator=g)
        self.clips = torch.randn(n, 3, 2, 4, 4, generator=g) * 0.5
        self.clips[:, 0] += (self.labels.float() * 2 - 1)[:, None, None, None]
        self.bad = set(bad)
        self.nan_at = nan_at

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        index = index % len(self.labels)
        if index in self.bad:
            return {"clip": None, "label": int(self.labels[index]), "index": index, "error": f"video{index}.mp4: corrupt"}
        clip = self.clips[index].clone()
        if self.nan_at == index:
            clip[:] = float("nan")
        return {"clip": clip, "label": int(self.labels[index]), "index": index}


class ToyNet(nn.Module):
    """A 1x1x1 convolution, BatchNorm and a linear classifier on the pooled features."""

    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 1)
        self.bn = nn.BatchNorm3d(4)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3, 4)))


def loader(dataset, train, batch_size=8):
    base = torch.utils.data.RandomSampler(dataset) if train else torch.utils.data.SequentialSampler(dataset)
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochSampler(base, len(dataset)),
                      collate_fn=collate_clips, drop_last=train)


def make_trainer(tmp_path, epochs=3, resume="", data=None, **train_kw):
    torch.manual_seed(0)
    data = data or ToyClips()
    cfg = TrainConfig(out_dir=str(tmp_path), progress=False, tensorboard=False, resume=resume, **train_kw)
    return classification_loop(ToyNet(), cfg, ScheduleConfig(epochs=epochs, warmup_epochs=1), loader(data, True),
                               loader(ToyClips(n=32, seed=1), False), ["neg", "pos"])


def classification_loop(model, cfg, schedule, train_loader, val_loader, class_names):
    heads = head_sizes(class_names)
    return TrainingLoop(model, CrossEntropyObjective(0.0, heads), ClassificationEvaluator(class_names),
                        ClipBatches(heads), cfg, OptimConfig(name="sgd", lr=0.1, weight_decay=0.0), schedule,
                        train_loader, val_loader)


def test_fit_beats_chance_and_writes_run_files(tmp_path):
    metrics = make_trainer(tmp_path).fit()
    assert metrics["top1"] > 0.8 and metrics["epochs"] == 3 and metrics["num_videos"] == 32
    for name in ("last.pt", "best.pt", "metrics.jsonl", "history.json", "curves.png", "confusion.png", "confusion.json"):
        assert (tmp_path / name).is_file(), name
    history = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3] and "val_top1" in history[-1]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for line in lines if line["kind"] == "epoch") == 3


def test_resume_continues_exactly(tmp_path):
    straight = make_trainer(tmp_path / "a", epochs=3)
    straight.fit()
    first = make_trainer(tmp_path / "b", epochs=3)
    first.epochs = 1
    first.fit()
    resumed = make_trainer(tmp_path / "b2", epochs=3, resume=str(tmp_path / "b" / "last.pt"))
    assert resumed.epoch == 1
    resumed.fit()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed.history[-1]["val_top1"] == straight.history[-1]["val_top1"]
    assert resumed.global_step == straight.global_step


def test_bad_videos_are_skipped_counted_and_limited(tmp_path, capsys):
    trainer = make_trainer(tmp_path, epochs=1, data=ToyClips(bad={3}))
    trainer.max_bad_fraction = 0.5
    trainer.fit()
    assert trainer.history[0]["bad_samples"] == 1
    assert "video3.mp4: corrupt" in capsys.readouterr().err
    strict = make_trainer(tmp_path / "strict", epochs=1, data=ToyClips(bad={1, 2, 3, 4, 5}))
    with pytest.raises(TooManyBadSamples, match=r"(?s)5 of 48 videos .*max_bad_fraction=0.05.*video1.mp4: corrupt"):
        strict.fit()
    assert (tmp_path / "strict" / "interrupted.pt").is_file()


def test_nan_loss_stops_before_the_update(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, data=ToyClips(nan_at=0))
    with pytest.raises(NonFiniteLossError, match=r"loss is nan \(ce=nan\) at epoch 1"):
        trainer.fit()
    saved = load_checkpoint(tmp_path / "interrupted.pt")
    assert all(torch.isfinite(v.float()).all() for v in saved["model"].values())
    assert saved["epoch"] == 0 and saved["interrupted"]
    current = trainer.model.state_dict()
    assert all(torch.equal(current[k], v) for k, v in saved["model"].items())


def test_multi_view_scores_are_averaged(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1)
    clips = ToyClips(n=8, seed=2).clips
    views = torch.stack([clips, clips * 0.5], dim=1)
    batch = [{"clip": views[i], "label": 0, "index": i} for i in range(8)]
    scores, _, index, _ = predict_scores(trainer.net, [collate_clips(batch)], trainer.runtime, num_classes=2)
    trainer.model.eval()
    with torch.no_grad():
        expected = (trainer.model(clips) + trainer.model(clips * 0.5)) / 2
    assert torch.allclose(scores, expected, atol=1e-6) and index.tolist() == list(range(8))


class TwoHeadClips(ToyClips):
    """Verb = sign of channel 0, noun = sign of channel 1: labels are ``(verb, noun)`` tuples."""

    def __init__(self, n=64, seed=0):
        super().__init__(n=n, seed=seed)
        g = torch.Generator().manual_seed(seed + 100)
        self.nouns = torch.randint(0, 2, (n,), generator=g)
        self.clips[:, 1] += (self.nouns.float() * 2 - 1)[:, None, None, None]

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return {**item, "label": (item["label"], int(self.nouns[index % len(self.nouns)]))}


def test_two_head_training_reports_verb_noun_and_action_accuracy(tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(out_dir=str(tmp_path), progress=False, tensorboard=False)
    trainer = classification_loop(ToyNet(num_classes=4), cfg, ScheduleConfig(epochs=4, warmup_epochs=1),
                                  loader(TwoHeadClips(), True), loader(TwoHeadClips(n=32, seed=1), False),
                                  ["verb:a", "verb:b", "noun:x", "noun:y"])
    metrics = trainer.fit()
    assert trainer.adapter.head_sizes == (2, 2)
    assert metrics["verb_top1"] > 0.8 and metrics["noun_top1"] > 0.8 and metrics["action_top1"] > 0.6
    assert metrics["top1"] == metrics["action_top1"] and metrics["num_videos"] == 32
    history = json.loads((tmp_path / "history.json").read_text())
    assert 0.0 <= history[-1]["train_acc"] <= 1.0 and "val_noun_top1" in history[-1]
