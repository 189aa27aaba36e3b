"""SyncBatchNorm conversion keeps the modules a staged recipe trains."""

from torch import nn

from vidaction.engine.runtime import convert_sync_batchnorm


def test_trainable_batchnorm_is_mapped_to_its_converted_module():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    trainable = [model[1], model[2]]
    converted, mapped = convert_sync_batchnorm(model, trainable)
    assert isinstance(converted[1], nn.SyncBatchNorm) and isinstance(converted[2][1], nn.SyncBatchNorm)
    assert mapped[0] is converted[1] and mapped[1] is converted[2]
    assert all(any(m is module for m in converted.modules()) for module in mapped)
    assert convert_sync_batchnorm(nn.Sequential(nn.BatchNorm1d(2)), None)[1] is None
