"""Published weights by name, served by a local HTTP server on the loopback address: a good file is
downloaded, verified and reused offline; a wrong checksum, a 404 and a refused connection each give one
error naming the URL and the manual path; an interrupted transfer is resumed with a Range request."""

import hashlib
import io
import socket
from http.server import BaseHTTPRequestHandler

import pytest
import torch

from tests.processes import http_server
from vidaction.config import config_from_dict
from vidaction.engine.tasks.recognition import recognition_parts
from vidaction.models import create_model, hub, load_pretrained
from vidaction.models.hub import (
    PublishedWeights,
    WeightsDownloadError,
    WeightsError,
    fetch_weights,
    get_weights,
)


class RangeHandler(BaseHTTPRequestHandler):
    """Serves ``server.files`` by path, honours ``Range: bytes=N-``, and sends only the first half of
    the body (then closes) while ``server.cut`` is set."""

    def do_GET(self):
        self.server.ranges.append(self.headers.get("Range"))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        byte_range = self.headers.get("Range")
        start = int(byte_range.removeprefix("bytes=").split("-")[0]) if byte_range else 0
        payload = body[start:]
        self.send_response(206 if byte_range else 200)
        if byte_range:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.server.cut:
            self.server.cut = False
            self.close_connection = True
            payload = payload[:len(payload) // 2]
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    with http_server(RangeHandler, files={}, ranges=[], cut=False) as httpd:
        yield httpd


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def weights_bytes(seed=0, model="tsm_tiny", **options):
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(create_model(model, num_classes=1000, num_frames=4, **options).state_dict(), buffer)
    return buffer.getvalue()


def publish(monkeypatch, server, body, sha256="full", name="tiny.test", fits=("tsm_tiny",)):
    """Serve ``body`` and register it as ``name``; ``sha256``: ``"full"``, ``"prefix"`` or a digest."""
    digest = hashlib.sha256(body).hexdigest()
    sha256 = {"full": digest, "prefix": digest[:8]}.get(sha256, sha256)
    file = f"tiny-{digest[:8]}.pth"
    server.files[f"/{file}"] = body
    entry = PublishedWeights(name, f"{server.url}/{file}", sha256, len(body), "test server", "MIT", fits, "torchvision")
    monkeypatch.setitem(hub.WEIGHTS, name, entry)
    return entry


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_good_file_downloads_verifies_and_is_reused_without_network(server, torch_home, monkeypatch):
    body = weights_bytes()
    publish(monkeypatch, server, body, sha256="prefix")
    path = fetch_weights("tiny.test", progress=False)
    assert path.parent == torch_home and path.read_bytes() == body
    assert not list(torch_home.glob("*.part"))
    server.shutdown()
    assert fetch_weights("tiny.test", progress=False) == path
    assert server.ranges == [None]


def test_wrong_checksum_is_an_error_and_leaves_nothing_in_the_cache(server, torch_home, monkeypatch):
    entry = publish(monkeypatch, server, weights_bytes(), sha256="0" * 64)
    with pytest.raises(WeightsDownloadError, match="SHA-256") as error:
        fetch_weights("tiny.test", progress=False)
    assert entry.url in str(error.value) and str(torch_home / entry.filename) in str(error.value)
    assert list(torch_home.iterdir()) == []


@pytest.mark.parametrize("where", ["404", "refused"])
def test_unreachable_file_names_the_url_and_the_manual_path(where, server, torch_home, monkeypatch):
    entry = publish(monkeypatch, server, weights_bytes())
    if where == "404":
        server.files.clear()
    else:
        entry = PublishedWeights(**{**entry.__dict__, "url": f"http://127.0.0.1:{closed_port()}/{entry.filename}"})
        monkeypatch.setitem(hub.WEIGHTS, entry.name, entry)
    with pytest.raises(WeightsDownloadError) as error:
        fetch_weights("tiny.test", progress=False)
    message = str(error.value)
    assert message.startswith(f"cannot download tiny.test from {entry.url} (")
    assert message.endswith(f"place it at {torch_home / entry.filename}")
    assert ("Not Found" if where == "404" else "refused") in message


def test_interrupted_transfer_is_resumed_with_a_range_request(server, torch_home, monkeypatch):
    body = weights_bytes()
    entry = publish(monkeypatch, server, body)
    server.cut = True
    with pytest.raises(WeightsDownloadError, match="interrupted"):
        fetch_weights("tiny.test", progress=False)
    part = torch_home / f"{entry.filename}.part"
    assert part.stat().st_size == len(body) // 2
    path = fetch_weights("tiny.test", progress=False)
    assert server.ranges == [None, f"bytes={len(body) // 2}-"]
    assert path.read_bytes() == body and not part.exists()


def test_a_manually_placed_file_is_checked_and_used(server, torch_home, monkeypatch):
    body = weights_bytes()
    entry = publish(monkeypatch, server, body)
    server.shutdown()
    torch_home.mkdir(parents=True)
    (torch_home / entry.filename).write_bytes(b"not the weights")
    with pytest.raises(WeightsDownloadError, match="delete it to download again"):
        fetch_weights("tiny.test", progress=False)
    (torch_home / entry.filename).write_bytes(body)
    assert fetch_weights("tiny.test", progress=False) == torch_home / entry.filename
    assert server.ranges == []


def test_names_resolve_and_unknown_names_are_explained():
    assert get_weights("imagenet", "tsm_r50").name == "resnet50.imagenet"
    assert get_weights("imagenet", "i3d").name == "i3d.rgb_imagenet"
    assert get_weights("resnet50.imagenet").sha256 == "0676ba61"
    with pytest.raises(WeightsError, match="unknown weights"):
        get_weights("resnet51.imagenet")
    with pytest.raises(WeightsError, match="no published ImageNet weights for model 'tsm_tiny'"):
        get_weights("imagenet", "tsm_tiny")
    for entry in hub.WEIGHTS.values():
        assert entry.sha256 is None or len(entry.sha256) in (8, 64), entry.name
        assert entry.url.startswith("https://") and entry.licence and entry.source


def test_load_pretrained_takes_a_name(server, torch_home, monkeypatch):
    publish(monkeypatch, server, weights_bytes(seed=1))
    model = create_model("tsm_tiny", num_classes=1000, num_frames=4)
    report = load_pretrained(model, "tiny.test", strict=True)
    torch.manual_seed(1)
    expected = create_model("tsm_tiny", num_classes=1000, num_frames=4).state_dict()
    assert report.source_format == "torchvision"
    assert all(torch.equal(value, expected[key]) for key, value in model.state_dict().items())


def test_2d_weights_by_name_are_inflated_into_a_3d_model(server, torch_home, monkeypatch):
    entry = publish(monkeypatch, server, weights_bytes(model="tsn_r50", base_width=8), fits=("i3d_r50",))
    monkeypatch.setitem(hub.WEIGHTS, entry.name, PublishedWeights(**{**entry.__dict__, "inflate": True}))
    model = create_model("i3d_r50", num_classes=1000, num_frames=8, base_width=8)
    assert load_pretrained(model, "tiny.test", strict=True).clean


def test_model_pretrained_name_end_to_end(server, torch_home, monkeypatch, motion_dataset, tmp_path):
    publish(monkeypatch, server, weights_bytes(seed=2))
    cfg = config_from_dict({
        "data": {"format": "ucf101", "root": str(motion_dataset / "videos"),
                 "annotations": str(motion_dataset / "annotations"), "num_frames": 4, "input_size": 32,
                 "resize_short": 36, "batch_size": 8, "num_workers": 0, "pin_memory": False},
        "model": {"name": "tsm_tiny", "dropout": 0.0, "pretrained": "tiny.test"},
        "train": {"out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })
    lines = []
    parts = recognition_parts(cfg, log=lines.append)
    assert any(line.startswith("weights: tiny.test: torchvision weights: ") for line in lines)
    torch.manual_seed(2)
    expected = create_model("tsm_tiny", num_classes=1000, num_frames=4).state_dict()
    assert torch.equal(parts.model.state_dict()["conv1.weight"], expected["conv1.weight"])
