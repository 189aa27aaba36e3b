"""``vidaction weights list | download NAME | verify FILE [--name NAME]``, without the network: a
download from a closed loopback port is one error line naming the URL and the manual path."""

import hashlib
import socket

import pytest

from vidaction.models import hub
from vidaction.models.hub import PublishedWeights


@pytest.fixture
def tiny_entry(tmp_path, monkeypatch):
    """``tiny.test``, published on a closed loopback port, and its bytes in ``tmp_path / "tiny.pth"``."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    body = b"tiny weights"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    digest = hashlib.sha256(body).hexdigest()
    entry = PublishedWeights("tiny.test", f"http://127.0.0.1:{port}/tiny-{digest[:8]}.pth", digest[:8], len(body),
                             "test", "MIT", ("tsm_tiny",), "torchvision")
    monkeypatch.setitem(hub.WEIGHTS, entry.name, entry)
    (tmp_path / "tiny.pth").write_bytes(body)
    return entry


def test_list_shows_every_entry_with_its_url_and_checksum(cli, tiny_entry, tmp_path):
    out = cli("weights", "list").stdout
    for entry in hub.WEIGHTS.values():
        line = next(line for line in out.splitlines() if line.startswith(entry.name + " "))
        assert entry.url in line and entry.hash_status in line and " no " in line
    assert out.splitlines()[-1] == f"cache: {tmp_path / 'torch' / 'hub' / 'checkpoints'}"
    assert "sha256 prefix 0676ba61" in out and "tsm_r50.kinetics400_8f " in out and "i3d.rgb_imagenet " in out


def test_verify_checks_a_file_against_a_name(cli, tiny_entry, tmp_path):
    ok = cli("weights", "verify", tmp_path / "tiny.pth", "--name", "tiny.test")
    assert "ok: tiny.test (sha256 prefix" in ok.stdout
    assert "registered as: tiny.test" in cli("weights", "verify", tmp_path / "tiny.pth").stdout
    (tmp_path / "other.pth").write_bytes(b"other weights")
    wrong = cli("weights", "verify", tmp_path / "other.pth", "--name", "tiny.test", check=False)
    assert wrong.returncode == 1 and "MISMATCH" in wrong.stdout


def test_download_failure_is_one_error_line(cli, tiny_entry, tmp_path):
    result = cli("weights", "download", "tiny.test", "--quiet", check=False)
    manual = tmp_path / "torch" / "hub" / "checkpoints" / tiny_entry.filename
    assert result.returncode == 2
    assert result.stderr.startswith(f"vidaction: error: cannot download tiny.test from {tiny_entry.url} (")
    assert result.stderr.rstrip().endswith(f"place it at {manual}") and result.stderr.count("\n") == 1
    unknown = cli("weights", "download", "nope", check=False)
    assert unknown.returncode == 2 and "unknown weights 'nope'" in unknown.stderr


def test_download_reuses_a_manually_placed_file(cli, tiny_entry, tmp_path):
    manual = tmp_path / "torch" / "hub" / "checkpoints" / tiny_entry.filename
    manual.parent.mkdir(parents=True)
    manual.write_bytes((tmp_path / "tiny.pth").read_bytes())
    assert cli("weights", "download", "tiny.test").stdout.strip() == str(manual)
