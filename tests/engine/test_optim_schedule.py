"""Optimiser parameter groups, the per-iteration schedule and partial BN."""

import math

import pytest
import torch
from torch import nn

from vidaction.config import OptimConfig, ScheduleConfig
from vidaction.engine.optim import build_optimizer, build_scheduler
from vidaction.engine.partial_bn import freeze_partial_bn


def tiny():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4),
                         nn.Flatten(), nn.LazyLinear(2))


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_optimizer_kind_and_no_decay_on_1d_params(name, cls):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = build_optimizer(model, OptimConfig(name=name, lr=0.1, weight_decay=1e-3))
    assert isinstance(opt, cls)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 1e-3 and [p.shape for p in decay["params"]] == [(4, 3, 3, 3)]
    assert no_decay["weight_decay"] == 0 and len(no_decay["params"]) == 3


def lrs(schedule, steps_per_epoch, steps, lr=1.0):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = build_scheduler(opt, schedule, steps_per_epoch)
    values = []
    for _ in range(steps):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return values


def test_warmup_then_cosine():
    values = lrs(ScheduleConfig(epochs=10, warmup_epochs=2, warmup_start_factor=0.1, min_lr=0.0), 10, 100)
    assert values[0] == pytest.approx(0.1)
    assert values[10] == pytest.approx(0.1 + 0.9 * 10 / 20)
    assert values[20] == pytest.approx(1.0)
    assert values[60] == pytest.approx(0.5 * (1 + math.cos(math.pi * 40 / 80)))
    assert values[99] < 0.001


def test_step_policy_and_state_round_trip():
    cfg = ScheduleConfig(epochs=6, policy="step", milestones=[2, 4], gamma=0.1)
    values = lrs(cfg, 5, 30)
    assert values[9] == pytest.approx(1.0) and values[10] == pytest.approx(0.1) and values[20] == pytest.approx(0.01)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = build_scheduler(opt, cfg, 5)
    for _ in range(12):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched2 = build_scheduler(opt2, cfg, 5)
    sched2.load_state_dict(state)
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_partial_bn_freezes_all_but_first():
    model = tiny()
    model(torch.randn(2, 3, 8, 8))
    model.train()
    assert freeze_partial_bn(model) == 1
    first, second = model[1], model[3]
    assert first.training and first.weight.requires_grad
    assert not second.training and not second.weight.requires_grad
    before = second.running_mean.clone()
    model(torch.randn(2, 3, 8, 8) * 5)
    assert torch.equal(second.running_mean, before)
