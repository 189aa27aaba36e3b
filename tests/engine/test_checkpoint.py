"""Checkpoints are atomic: a crash while writing leaves the previous file intact and no debris."""

import pytest
import torch

from vidaction.engine.checkpoint import load_checkpoint, save_checkpoint


def test_crash_during_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    real_save = torch.save

    def dying_save(obj, stream):
        real_save({"epoch": 2, "w": torch.zeros(1000)}, stream)
        stream.truncate(100)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
