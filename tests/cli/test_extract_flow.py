"""``vidaction extract-flow``: output layout, resumption, unreadable videos, option errors."""

import json

import numpy as np
import pytest

from vidaction.cli.main import main
from vidaction.data.writer import write_video

pytest.importorskip("cv2")


@pytest.fixture
def videos(tmp_path):
    """Two 6-frame 32x32 videos of a drifting pattern in ``videos/``."""
    folder = tmp_path / "videos"
    yy, xx = np.mgrid[0:32, 0:32]
    for name, speed in (("a", 1), ("b", -1)):
        frames = [np.repeat((127 + 100 * np.sin((xx - speed * k) / 3.0) * np.cos(yy / 4.0))
                             .astype(np.uint8)[..., None], 3, axis=2) for k in range(6)]
        write_video(folder / f"{name}.mp4", np.stack(frames), fps=10)
    return folder


def test_extract_flow_writes_resumes_and_reports(videos, tmp_path, capsys):
    out = tmp_path / "flow"
    assert main(["extract-flow", str(videos), "--out", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"flow in {out}: 2 extracted, 0 already complete, 0 failed"
    for name in ("a", "b"):
        marker = json.loads((out / name / "flow.json").read_text())
        assert marker["num_flows"] == 5 and marker["format"] == "jpg" and marker["bound"] == 20.0
        assert len(list((out / name).glob("x_*.jpg"))) == 5 and (out / name / "y_00005.jpg").is_file()
    (out / "b" / "flow.json").unlink()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    code = main(["extract-flow", str(videos / "a.mp4"), str(videos / "b.mp4"), str(broken), "--out", str(out),
                 "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.strip() == f"flow in {out}: 1 extracted, 1 already complete, 1 failed"
    assert "skipped unreadable video" in captured.err and "broken.mp4" in captured.err
    assert (out / "b" / "flow.json").is_file() and not (out / "broken").exists()


def test_extract_flow_npy_with_resampling(videos, tmp_path, capsys):
    out = tmp_path / "npy"
    assert main(["extract-flow", str(videos / "a.mp4"), "--out", str(out), "--format", "npy", "--fps", "5",
                 "--short-side", "16", "--square", "--no-progress"]) == 0
    assert np.load(out / "a.npy").shape == (2, 2, 16, 16)
    assert json.loads((out / "a.json").read_text())["fps"] == 5.0


def test_extract_flow_option_errors(videos, tmp_path, capsys):
    assert main(["extract-flow", str(videos), "--out", str(tmp_path), "--jpeg-quality", "0"]) == 2
    assert "vidaction: error: extract-flow: jpeg_quality must be in 1..100" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["extract-flow", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no video (.mp4, " in capsys.readouterr().err
