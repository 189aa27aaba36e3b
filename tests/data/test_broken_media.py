"""Broken and odd media, made by the tests, through every command that reads video and through a
training epoch.

The corpus: zero bytes, files cut at several points (MP4 with the index at the end and at the
front, AVI, WebM), random bytes named .mp4/.avi/.webm, audio only, PNG and JPEG images renamed .mp4
(all broken); one frame, an AVI whose header declares 2^31 frames (its 12 are read, with a warning),
an MP4 whose headers declare a huge duration, variable frame rate, rotation metadata, 33x17 pixels,
10-bit 4:2:0 (all valid).
Documented behaviour: ``infer`` and ``detect`` print one ``vidaction: error: FILE: reason`` line and
exit 2 on a broken file; ``extract-features`` and ``extract-flow`` list it as failed (one line) and
exit 1 (their status for "some videos could not be read"); a training epoch skips it, counts it in
``bad_samples`` and lists it. A valid file works everywhere (``extract-flow`` refuses a one-frame
video with that reason: one frame has no flow). Never a traceback, never a hang: every command runs
under an alarm. Each outcome goes to the report of :mod:`tests.hostile`. Last, broken frames of a
frame folder (empty, cut, a PNG header declaring gigapixels) are a ``VideoDecodeError`` naming the frame.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tests.media import encode as encode_with_pyav
from tests.hostile import deadline, write_report

SECONDS = 60
OUTCOMES: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    yield
    write_report({"media": OUTCOMES})


# ---- the corpus -----------------------------------------------------------------------------------

def texture(num_frames: int, height: int = 32, width: int = 32) -> np.ndarray:
    """``(T, H, W, 3) uint8``: a random texture drifting one pixel per frame."""
    base = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.stack([np.roll(base, i, axis=1) for i in range(num_frames)])


def encode(path: Path, frames: np.ndarray, **options) -> Path:
    """:func:`tests.media.encode` with one encoder thread."""
    return encode_with_pyav(path, frames, threads=1, **options)


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def cut(source: Path, path: Path, fraction: float) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def patched(source: Path, path: Path, box: bytes, offset: int, fmt: str, value: int) -> Path:
    """``source`` with ``value`` packed as ``fmt`` at ``offset`` after every ``box`` tag."""
    data = bytearray(source.read_bytes())
    at = data.find(box)
    while at >= 0:
        struct.pack_into(fmt, data, at + offset, value)
        at = data.find(box, at + 1)
    path.write_bytes(bytes(data))
    return path


def ten_bit(path: Path) -> Path:
    if "yuv420p10le" not in {f.name for f in av.codec.Codec("libx264", "w").video_formats or ()}:
        pytest.skip("this libx264 cannot encode yuv420p10le")
    return encode(path, texture(8), pix_fmt="yuv420p10le")


class Case(NamedTuple):
    make: Callable[[Path, dict[str, Path]], Path]
    valid: bool


def _image(kind: str) -> Callable[[Path, dict[str, Path]], Path]:
    def make(path: Path, sources: dict[str, Path]) -> Path:
        Image.fromarray(texture(1)[0]).save(path, format=kind)
        return path
    return make


def _raw(data: bytes) -> Callable[[Path, dict[str, Path]], Path]:
    def make(path: Path, sources: dict[str, Path]) -> Path:
        path.write_bytes(data)
        return path
    return make


CASES = {
    "zero_bytes.mp4": Case(_raw(b""), False),
    "cut_50_index_at_end.mp4": Case(lambda p, s: cut(s["mp4"], p, 0.5), False),
    "cut_90_index_at_end.mp4": Case(lambda p, s: cut(s["mp4"], p, 0.9), False),
    "cut_10_index_first.mp4": Case(lambda p, s: cut(s["faststart"], p, 0.1), False),
    "cut_50_index_first.mp4": Case(lambda p, s: cut(s["faststart"], p, 0.5), False),
    "cut_90_index_first.mp4": Case(lambda p, s: cut(s["faststart"], p, 0.9), False),
    "cut_50.avi": Case(lambda p, s: cut(s["avi"], p, 0.5), False),
    "cut_50.webm": Case(lambda p, s: cut(s["webm"], p, 0.5), False),
    "random_bytes.mp4": Case(_raw(np.random.default_rng(1).bytes(4096)), False),
    "random_bytes.avi": Case(_raw(np.random.default_rng(2).bytes(4096)), False),
    "random_bytes.webm": Case(_raw(np.random.default_rng(3).bytes(4096)), False),
    "audio_only.mp4": Case(lambda p, s: audio_only(p), False),
    "declares_2e31_frames.avi": Case(lambda p, s: patched(patched(s["avi"], p, b"avih", 24, "<I", 2**31 - 1),
                                                          p, b"strh", 40, "<I", 2**31 - 1), True),
    "png_image.mp4": Case(_image("PNG"), False),
    "jpeg_image.mp4": Case(_image("JPEG"), False),
    "one_frame.mp4": Case(lambda p, s: encode(p, texture(1)), True),
    "declares_huge_duration.mp4": Case(lambda p, s: patched(patched(s["mp4"], p, b"mvhd", 20, ">I", 2**32 - 16),
                                                            p, b"mdhd", 20, ">I", 2**32 - 16), True),
    "variable_rate.mp4": Case(lambda p, s: encode(p, texture(10), rate=1000,
                                                  pts=[0, 40, 50, 120, 130, 300, 310, 320, 500, 900]), True),
    "rotated_90.mp4": Case(lambda p, s: encode(p, texture(12, 16, 32), rotation=90), True),
    "odd_33x17.mp4": Case(lambda p, s: encode(p, texture(10, 17, 33), pix_fmt="yuv444p"), True),
    "ten_bit.mp4": Case(lambda p, s: ten_bit(p), True),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """``{case name: file}`` of every case this machine can write (10-bit may be skipped)."""
    folder = tmp_path_factory.mktemp("corpus")
    sources = {"mp4": encode(folder / "src.mp4", texture(12)),
               "faststart": encode(folder / "src_fast.mp4", texture(12),
                                   container_options={"movflags": "faststart"}),
               "avi": encode(folder / "src.avi", texture(12), codec="mpeg4"),
               "webm": encode(folder / "src.webm", texture(12), codec="libvpx-vp9")}
    (folder / "media").mkdir()
    files = {}
    for name, case in CASES.items():
        with contextlib.suppress(pytest.skip.Exception):
            files[name] = case.make(folder / "media" / name, sources)
    for source in sources.values():
        source.unlink()
    return files


def media(corpus: dict[str, Path], name: str) -> Path:
    if name not in corpus:
        pytest.skip(f"{name}: this machine's encoders cannot write it")
    return corpus[name]


# ---- checkpoints ----------------------------------------------------------------------------------

def tiny_overrides(root: Path, out_dir: Path) -> list[str]:
    return [f"data.root={root / 'videos'}", f"data.annotations={root / 'annotations'}", "data.num_frames=4",
            "data.input_size=24", "data.resize_short=28", "data.batch_size=8", "data.num_workers=0",
            "data.pin_memory=false", "data.max_bad_fraction=1.0", "model.name=tsm_tiny", "model.dropout=0",
            "optim.name=adamw", "optim.lr=0.01", "schedule.epochs=1", "train.tensorboard=false",
            "train.progress=false", f"train.out_dir={out_dir}"]


@pytest.fixture(scope="module")
def recognition_run(corpus, tmp_path_factory, cli):
    """One epoch of tsm_tiny on a UCF101-layout set: two good clips per class plus the whole corpus
    (train and val), ``data.max_bad_fraction=1``: ``(run folder, the train command's result)``."""
    root = tmp_path_factory.mktemp("ucf_corpus")
    classes = ("Archery", "Bowling")
    train, test = [], []
    for label, name in enumerate(classes, 1):
        (root / "videos" / name).mkdir(parents=True)
        for group in (1, 2, 3):
            relative = f"{name}/v_{name}_g{group:02d}_c01.mp4"
            encode(root / "videos" / relative, texture(12)[:, :, ::(1 if label == 1 else -1)])
            if group < 3:
                train.append(f"{relative} {label}")
            else:
                test.append(relative)
    for case, path in corpus.items():
        relative = f"Archery/{case}"
        (root / "videos" / relative).write_bytes(path.read_bytes())
        train.append(f"{relative} 1")
        test.append(relative)
    (root / "annotations").mkdir()
    (root / "annotations" / "classInd.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(classes, 1)))
    (root / "annotations" / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (root / "annotations" / "testlist01.txt").write_text("\n".join(test) + "\n")
    out = root / "run"
    config = root / "config.yaml"
    config.write_text("data:\n  format: ucf101\n")
    with deadline(4 * SECONDS):
        result = cli("train", config, *tiny_overrides(root, out), check=False)
    return out, result


@pytest.fixture(scope="module")
def detector(detection_dataset, feature_config, tmp_path_factory) -> Path:
    """A one-epoch feature-mode detector of the synthetic detection set (its features are recomputed
    from any video by ``vidaction detect``)."""
    from vidaction.engine.experiment import run_training

    out = tmp_path_factory.mktemp("detector")
    run_training(feature_config(detection_dataset, out, epochs=1))
    return out / "last.pt"


@pytest.fixture(scope="module")
def tiny_i3d(tmp_path_factory) -> Path:
    """A random inception_i3d_tiny saved as the pytorch-i3d port saves its weights."""
    from vidaction.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("i3d") / "tiny_i3d.pt"
    torch.save(create_model("inception_i3d_tiny", num_classes=5, num_frames=8).state_dict(), path)
    return path


# ---- the commands ---------------------------------------------------------------------------------

def run(cli, command: str, case: str, *args):
    """``vidaction COMMAND ARGS`` in this process under the alarm; records its outcome and returns it."""
    with deadline(SECONDS):
        result = cli(command, *args, check=False)
    assert "Traceback" not in result.stderr + result.stdout
    said = [line.strip() for line in (result.stderr + result.stdout).splitlines()
            if "error" in line or "failed:" in line or "skipped unreadable" in line]
    reason = said[0].split(f"{case}: ", 1)[-1] if said else ""
    OUTCOMES[f"{case} | {command}"] = f"exit {result.returncode}" + (f": {reason}" if reason else "")
    return result


def assert_one_line_error(result, path: Path) -> None:
    assert result.returncode == 2, result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidaction: error: ") and str(path) in lines[0], result.stderr
    assert "corrupt" in lines[0] or "truncated" in lines[0] or "cannot open" in lines[0] or "not a video" in lines[0] \
        or "no video stream" in lines[0], lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_infer(case, corpus, recognition_run, cli):
    path = media(corpus, case)
    result = run(cli, "infer", case, recognition_run[0] / "last.pt", path, "--json")
    if CASES[case].valid:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["topk"]
    else:
        assert_one_line_error(result, path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_detect(case, corpus, detector, tmp_path, cli):
    path = media(corpus, case)
    result = run(cli, "detect", case, detector, path, "--out", tmp_path / "segments.json")
    if CASES[case].valid:
        assert result.returncode == 0, result.stderr
        assert f"detections of {path.stem}" in result.stdout
        assert set(json.loads((tmp_path / "segments.json").read_text())["results"]) <= {path.stem}
    else:
        assert_one_line_error(result, path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_extract_features(case, corpus, tiny_i3d, tmp_path, cli):
    path = media(corpus, case)
    result = run(cli, "extract-features", case, tiny_i3d, path, "--out", tmp_path, "--size", "32", "--window", "8",
                 "--stride", "4", "--device", "cpu", "--no-progress")
    if CASES[case].valid:
        assert result.returncode == 0, result.stdout + result.stderr
        assert np.load(tmp_path / f"{path.stem}.npy").ndim == 2
    else:
        assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout + result.stderr
        failed = [line for line in result.stdout.splitlines() if line.strip().startswith("failed:")]
        assert len(failed) == 1 and str(path) in failed[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_extract_flow(case, corpus, tmp_path, cli):
    pytest.importorskip("cv2")
    path = media(corpus, case)
    result = run(cli, "extract-flow", case, path, "--out", tmp_path, "--no-progress")
    if CASES[case].valid and case != "one_frame.mp4":
        assert result.returncode == 0, result.stderr
        assert (tmp_path / path.stem / "flow.json").is_file()
    else:
        assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout + result.stderr
        assert result.stderr.strip().splitlines() == [f"vidaction: skipped unreadable video: {path}: "
                                                      + result.stderr.split(f"{path}: ", 1)[1].strip()]
        if case == "one_frame.mp4":
            assert "flow needs at least 2" in result.stderr


def test_training_epoch_skips_counts_and_lists_the_broken_files(corpus, recognition_run):
    out, result = recognition_run
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    history = json.loads((out / "history.json").read_text())
    broken = [name for name in corpus if not CASES[name].valid]
    assert history[0]["bad_samples"] == len(broken)
    skipped = [line for line in result.stderr.splitlines() if "unreadable video(s) of" in line]
    assert skipped, result.stderr[-3000:]
    listed = skipped[0].split(" of ", 1)[1].split(": ", 1)[1].split("; ")
    assert listed and all(Path(entry.split(": ", 1)[0]).name in broken for entry in listed if "more" not in entry)
    assert not any(name in result.stderr for name in corpus if CASES[name].valid)
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["bad_videos"] == len(broken)
    OUTCOMES["(all) | train epoch"] = (f"bad_samples {history[0]['bad_samples']} of {len(broken)} broken, "
                                       f"val bad_videos {metrics['bad_videos']}")


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG header declaring ``width x height`` RGB pixels, with almost no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize("frame", [b"", b"\xff\xd8\xff\xe0" + bytes(40), _png_declaring(60_000, 60_000)],
                         ids=["zero_bytes", "cut_jpeg", "png_declaring_3.6_gigapixels"])
def test_broken_frame_in_a_frame_folder(frame, tmp_path):
    from vidaction.data.errors import VideoDecodeError
    from vidaction.data.frames import FrameFolderReader

    Image.fromarray(texture(1)[0]).save(tmp_path / "00001.jpg")
    (tmp_path / "00002.jpg").write_bytes(frame)
    with deadline(SECONDS), pytest.raises(VideoDecodeError, match=r"00002.jpg: unreadable frame"):
        FrameFolderReader(tmp_path).get_frames([0, 1])
