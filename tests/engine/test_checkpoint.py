"""Checkpoints are atomic (a crash while writing leaves the previous file intact and no debris) and
read as data: every reader refuses a file holding other Python objects, unless trusted."""

import re

import numpy as np
import pytest
import torch

from tests.hostile import Payload
from vidaction.engine.checkpoint import load_checkpoint, save_checkpoint
from vidaction.engine.feature_extraction import load_backbone
from vidaction.models.pretrained import UnsafeCheckpointError, read_state_dict, trusted_checkpoints


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


@pytest.mark.parametrize("reader", [load_checkpoint, read_state_dict, load_backbone])
def test_every_reader_refuses_objects_other_than_tensors_and_plain_data(reader, tmp_path):
    path, marker = tmp_path / "crafted.pt", tmp_path / "pwned"
    torch.save({"model": {"w": torch.ones(1)}, "note": Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match=rf"^{re.escape(str(path))} holds Python objects other than "
                       r"tensors and plain data \(GLOBAL getattr\); refusing to load it\."):
        reader(path)
    assert not marker.exists()


def test_trusted_checkpoints_load_older_files_inside_the_block_only(tmp_path):
    path = tmp_path / "old.pt"
    save_checkpoint(path, {"epoch": 3, "rng": {"numpy": np.random.get_state()}})
    with pytest.raises(UnsafeCheckpointError, match=r"\(GLOBAL numpy\..*pass --trust-checkpoint$"):
        load_checkpoint(path)
    with trusted_checkpoints():
        assert load_checkpoint(path)["epoch"] == 3
        with trusted_checkpoints(False):
            with pytest.raises(UnsafeCheckpointError):
                load_checkpoint(path)
        assert load_checkpoint(path)["epoch"] == 3
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"\x80\x02garbage" * 20])
def test_a_file_that_is_no_checkpoint_is_named(content, tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(FileNotFoundError, match=rf"^{re.escape(str(path))}: not a loadable weights file \("):
        load_checkpoint(path)
    torch.save([torch.ones(1)], path)
    with pytest.raises(FileNotFoundError, match="holds a list, not a checkpoint"):
        load_checkpoint(path)
