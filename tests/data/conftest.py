"""The data tests' fixtures: gray-ramp videos (:mod:`tests.media`) and a UCF101-layout tree of them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.media import encode, frame_ids, gray_ramp
from vidaction.data.writer import write_video

UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "Bowling")


@pytest.fixture
def ramp() -> SimpleNamespace:
    """``ramp.frames(n, h, w)``, ``ramp.ids(frames)``, ``ramp.encode(path, frames, ...)``, ``ramp.write(path, n)``."""
    return SimpleNamespace(frames=gray_ramp, ids=frame_ids, encode=encode,
                           write=lambda path, n, **size: write_video(path, gray_ramp(n, **size), fps=25))


def _crlf(lines) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


@pytest.fixture(scope="session")
def ucf_tree(tmp_path_factory) -> Path:
    """UCF101 layout: ``videos/<Class>/v_<Class>_gNN_c01.mp4`` (24-frame ramps, 40x48) and
    ``annotations/{classInd,trainlist01,testlist01}.txt`` with CRLF line endings; 2 train and 1
    test video per class."""
    root = tmp_path_factory.mktemp("ucf101")
    train, test = [], []
    for label, name in enumerate(UCF_CLASSES, 1):
        (root / "videos" / name).mkdir(parents=True)
        for group in (1, 2, 3):
            relative = f"{name}/v_{name}_g{group:02d}_c01.mp4"
            write_video(root / "videos" / relative, gray_ramp(24, 40, 48), fps=25)
            if group < 3:
                train.append(f"{relative} {label}")
            else:
                test.append(relative)
    annotations = root / "annotations"
    annotations.mkdir()
    (annotations / "classInd.txt").write_bytes(_crlf(f"{i} {n}" for i, n in enumerate(UCF_CLASSES, 1)))
    (annotations / "trainlist01.txt").write_bytes(_crlf(train))
    (annotations / "testlist01.txt").write_bytes(_crlf(test))
    return root
