"""Two CPU processes on the gloo backend, launched like torchrun: identical weights, rank-0 files."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r'''
import sys, torch
from torch.utils.data import DistributedSampler
from tests.engine.toy import ToyClips, ToyNet, loader
from vidaction.config import OptimConfig, ScheduleConfig, TrainConfig
from vidaction.data.dataset import EpochSampler
from vidaction.engine import distributed
from vidaction.engine.trainer import Trainer

distributed.init_distributed()
out = sys.argv[1]
data, val = ToyClips(n=32), ToyClips(n=16, seed=1)
torch.manual_seed(0)
train_loader = loader(data, True, sampler=EpochSampler(DistributedSampler(data, shuffle=True, drop_last=True), len(data)))
val_loader = loader(val, False, sampler=EpochSampler(DistributedSampler(val, shuffle=False), len(val)))
trainer = Trainer(ToyNet(), OptimConfig(lr=0.1), ScheduleConfig(epochs=2), TrainConfig(out_dir=out, progress=False,
                  tensorboard=False), train_loader, val_loader, ["neg", "pos"])
metrics = trainer.fit()
torch.save(trainer.model.state_dict(), f"{out}/rank{distributed.rank()}.weights")
print("videos", metrics["num_videos"])
distributed.cleanup()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_training(tmp_path):
    import torch

    root = Path(__file__).parents[2]
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT)
    port = free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "PYTHONPATH": str(root),
               "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / "run")], env=env, cwd=root,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "videos 16" in out
    a = torch.load(tmp_path / "run" / "rank0.weights")
    b = torch.load(tmp_path / "run" / "rank1.weights")
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "epoch"' in line for line in lines) == 2
