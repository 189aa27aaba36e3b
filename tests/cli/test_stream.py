"""``vidaction stream``: a generated file (every frame, the scores of the online recognizer, an annotated
video), the same video served over HTTP on the loopback address (paced as a live stream, reopened after
a refused first request), a source that never answers and a bidirectional-shift checkpoint (one clear
error each), and frames dropped rather than queued when the consumer is slower than a live source."""

import functools
import json
import socket
import time
from http.server import SimpleHTTPRequestHandler

import av
import numpy as np
import pytest
import torch

from tests.media import decode_all, encode
from tests.processes import http_server
from vidaction.config import DataConfig, ExperimentConfig, ModelConfig, config_to_dict
from vidaction.engine.tasks.recognition import load_trained_model
from vidaction.inference import FrameSource, OnlineRecognizer
from vidaction.models import create_model

FRAMES, CLASSES = 12, ["left", "right", "still"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Tiny TSM checkpoints, online-shift and bidirectional, and a 12-frame 48x64 MPEG-TS video (25 fps)
    of a moving bar."""
    folder = tmp_path_factory.mktemp("stream")
    cfg = ExperimentConfig(data=DataConfig(num_frames=4, input_size=32, resize_short=32),
                           model=ModelConfig(name="tsm_tiny", dropout=0.0, options={"shift_mode": "online"}))
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=len(CLASSES), num_frames=4, shift_mode="online", input_size=32)
    torch.nn.init.normal_(model.fc.weight, std=0.5)
    pretrained_cfg = {"mean": list(cfg.data.mean), "std": list(cfg.data.std), "num_frames": 4, "input_size": 32,
                      "resize_short": 32, "class_names": CLASSES}
    torch.save({"format": "vidaction", "config": config_to_dict(cfg), "model": model.state_dict(), "arch": model.arch,
                "class_names": CLASSES, "pretrained_cfg": pretrained_cfg}, folder / "online.pt")
    offline = create_model("tsm_tiny", num_classes=len(CLASSES), num_frames=4, input_size=32)
    torch.save({"format": "vidaction", "config": config_to_dict(cfg), "model": offline.state_dict(),
                "arch": offline.arch, "class_names": CLASSES, "pretrained_cfg": pretrained_cfg}, folder / "offline.pt")
    frames = np.zeros((FRAMES, 48, 64, 3), dtype=np.uint8)
    for i in range(FRAMES):
        frames[i, :, 4 * i:4 * i + 12] = (200, 80, 40)
    encode(folder / "bar.ts", frames, rate=25)
    return folder


@pytest.fixture(scope="module")
def server(media):
    """Serves ``media`` on 127.0.0.1; answers the next ``refuse`` requests with 503."""

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.server.refuse:
                self.server.refuse -= 1
                self.send_error(503)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    with http_server(functools.partial(Handler, directory=str(media)), refuse=0) as httpd:
        yield httpd


def json_lines(stdout):
    records = [json.loads(line) for line in stdout.strip().splitlines()]
    return records[:-1], records[-1]["summary"]


def test_a_file_streams_every_frame_with_the_online_scores_and_an_annotated_video(media, cli, tmp_path):
    out = tmp_path / "annotated.mp4"
    frames, summary = json_lines(cli("stream", media / "online.pt", media / "bar.ts", "--json", "--topk", "2",
                                     "--out", out).stdout)
    assert [f["frame"] for f in frames] == list(range(FRAMES)) and summary["dropped"] == 0
    assert summary["processed"] == FRAMES and summary["fps"] > 0 and all(f["latency_ms"] > 0 for f in frames)
    model, _, _ = load_trained_model(media / "online.pt")
    recognizer = OnlineRecognizer(model, smooth=4)
    for record, image in zip(frames, decode_all(media / "bar.ts")):
        probabilities = recognizer(image).softmax(0)
        best = int(probabilities.argmax())
        assert record["topk"][0]["label"] == CLASSES[best]
        assert record["topk"][0]["score"] == pytest.approx(float(probabilities[best]), abs=1e-6)
    annotated = decode_all(out)
    assert annotated.shape == (FRAMES, 48 + 36, 64, 3) and annotated[:, 48:].mean() > 128  # the band
    assert np.abs(annotated[:, :44].astype(int) - decode_all(media / "bar.ts")[:, :44]).mean() < 8


def test_a_loopback_http_stream_is_reopened_after_a_refusal_and_paced(media, server, cli):
    server.refuse = 1
    start = time.perf_counter()
    proc = cli("stream", media / "online.pt", f"{server.url}/bar.ts", "--reconnect", "2", "--retry-delay", "0.05")
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith(f"{len(lines) - 1} frames processed") and ", 1 reconnections" in lines[-1]
    assert len(lines) - 1 + int(lines[-1].split(", ")[1].split()[0]) == FRAMES  # processed + dropped
    assert lines[0].startswith("frame      0") and " fps " in lines[0] and "left" in lines[0]
    assert time.perf_counter() - start >= (FRAMES - 1) / 25 * 0.9  # played at the stream's rate


def test_a_source_that_cannot_be_reached_or_an_offline_checkpoint_ends_with_one_clear_error(media, cli):
    proc = cli("stream", media / "offline.pt", media / "bar.ts", check=False)
    assert proc.returncode == 2 and "shift is 'bidirectional'" in proc.stderr and not proc.stdout
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/bar.ts"
    proc = cli("stream", media / "online.pt", url, "--reconnect", "1", "--retry-delay", "0.01", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith(f"vidaction: error: {url}: ")
    assert "gave up after 1 reconnection tries" in proc.stderr and "Traceback" not in proc.stderr


def test_a_slow_consumer_of_a_live_source_drops_frames_instead_of_lagging(media):
    with FrameSource(str(media / "bar.ts"), realtime=True) as source:
        taken = []
        for frame in source:
            taken.append(frame.index)
            time.sleep(0.1)
    assert source.fps == 25 and source.dropped > 0 and len(taken) + source.dropped == FRAMES
    assert taken == sorted(taken) and taken[-1] == FRAMES - 1
    with av.open(str(media / "bar.ts")) as container:
        assert container.streams.video[0].frames in (0, FRAMES)
