"""The torchcodec backend (:mod:`vidaction.data.video_torchcodec`): the exactness checks of
``test_video_exact.py`` read through ``TorchcodecReader`` (skipped where torchcodec cannot be
imported), and the one error ``data.decoder=torchcodec`` gives there."""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

import pytest
import torch

from tests.data.test_video_exact import (FILES, LONG, check_cut_at_packet_boundary, check_cut_inside_a_packet,
                                         check_overstated_avi_header, check_random_index_sets, check_sparse_reads,
                                         media)  # noqa: F401 (media: the files of test_video_exact.py, a fixture)
from tests.media import encode, gray_ramp
from vidaction.config import ConfigError, DataConfig, DetectionDataConfig
from vidaction.data.build import build_dataset_for_records, load_test_clip
from vidaction.data.records import VideoRecord
from vidaction.data.video import VideoReader
from vidaction.data.video_torchcodec import TorchcodecReader, TorchcodecUnavailable, require_torchcodec
from vidaction.engine.feature_extraction import FeatureExtractor
from vidaction.engine.tasks.detection import build_source
from vidaction.models import create_model


def _unavailable() -> str:
    """Why torchcodec cannot be used here, empty when it can."""
    try:
        require_torchcodec()
    except TorchcodecUnavailable as exc:
        return str(exc)
    return ""


needs_torchcodec = pytest.mark.skipif(bool(_unavailable()), reason=_unavailable().split(";")[0])

# Files torchcodec itself decodes (the others go to PyAV: decode order, open GOPs, torchcodec errors).
TORCHCODEC_READS = ("h264_bframes.mp4", "vp8.webm", "vp9.webm", "mjpeg.avi", "variable_rate.mp4", "pts_equal_dts.mkv")


@needs_torchcodec
@pytest.mark.parametrize("name", list(FILES))
def test_random_index_sets_equal_decoding_everything(media, name):
    reads = check_random_index_sets(media[name], sorted(FILES).index(name), TorchcodecReader)
    if name in TORCHCODEC_READS:
        assert not any(said for _, said in reads)


@needs_torchcodec
def test_truncated_and_overstated_files(tmp_path):
    for check in (check_cut_at_packet_boundary, check_cut_inside_a_packet, check_overstated_avi_header):
        folder = tmp_path / check.__name__
        folder.mkdir()
        check(folder, TorchcodecReader)


@needs_torchcodec
@pytest.mark.parametrize("kind", list(LONG))
def test_sparse_reads(tmp_path, kind):
    check_sparse_reads(LONG[kind](tmp_path), TorchcodecReader)


@needs_torchcodec
def test_pipeline_gives_the_same_clips_with_either_decoder(tmp_path):
    path = str(encode(tmp_path / "ramp.mp4", gray_ramp(24), options={"g": "6", "bf": "2"}))
    clips = [load_test_clip(DataConfig(decoder=decoder, num_frames=4, input_size=32, resize_short=32), path)
             for decoder in ("pyav", "torchcodec")]
    assert torch.equal(*clips)


class _BrokenTorchcodec(MetaPathFinder):
    """torchcodec as it fails beside a torch build its wheel does not match."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torchcodec":
            raise OSError("libtorchcodec_core7.so: undefined symbol: _ZN3c1013MessageLogger")
        return None


def test_torchcodec_that_cannot_load_is_one_config_error(monkeypatch):
    for name in [m for m in sys.modules if m.partition(".")[0] == "torchcodec"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BrokenTorchcodec(), *sys.meta_path])
    with pytest.raises(ConfigError, match=r"^data\.decoder=torchcodec: torchcodec cannot be imported \(OSError: "
                                          r"libtorchcodec_core7\.so.*\); install it with pip install "
                                          r"'vidaction\[torchcodec\]': it needs FFmpeg 4-7 shared libraries"):
        build_dataset_for_records(DataConfig(decoder="torchcodec"), [VideoRecord("a.mp4", 0)], train=False)
    with pytest.raises(ConfigError, match="data.decoder"):
        DataConfig(decoder="ffmpeg")
    # Detection's frame input and feature extraction take the same key, with the same error.
    with pytest.raises(ConfigError, match=r"^data\.decoder=torchcodec: torchcodec cannot be imported"):
        build_source(DetectionDataConfig(decoder="torchcodec"))
    assert build_source(DetectionDataConfig()).video_reader is VideoReader
    with pytest.raises(ConfigError, match=r"^data\.decoder=torchcodec: torchcodec cannot be imported"):
        FeatureExtractor(create_model("inception_i3d_tiny", num_classes=2, num_frames=8), decoder="torchcodec")
