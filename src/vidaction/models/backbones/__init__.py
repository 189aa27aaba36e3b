"""Feature extractors; importing this package registers their builders."""

from vidaction.models.backbones import resnet3d, resnet_tsm  # noqa: F401
