"""Feature extractors; importing this package registers their builders."""

from vidaction.models.backbones import i3d, mobilenet_v2_tsm, r2plus1d, resnet3d, resnet_tsm  # noqa: F401
