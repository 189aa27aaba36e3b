"""A toy classifier and dataset honouring the batch contract, for engine tests."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vidaction.data.dataset import EpochSampler, collate_clips


class ToyClips(Dataset):
    """Class = sign of the mean of channel 0; item ``bad`` indices decode as failures."""

    def __init__(self, n=48, num_classes=2, bad=(), seed=0, nan_at=None):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, num_classes, (n,), generator=g)
        self.clips = torch.randn(n, 3, 2, 4, 4, generator=g) * 0.5
        self.clips[:, 0] += (self.labels.float() * 2 - 1)[:, None, None, None]
        self.bad = set(bad)
        self.nan_at = nan_at

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        index = index % len(self.labels)
        if index in self.bad:
            return {"clip": None, "label": int(self.labels[index]), "index": index, "error": f"video{index}.mp4: corrupt"}
        clip = self.clips[index].clone()
        if self.nan_at == index:
            clip[:] = float("nan")
        return {"clip": clip, "label": int(self.labels[index]), "index": index}


class ToyNet(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 1)
        self.bn = nn.BatchNorm3d(4)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3, 4)))


def loader(dataset, train, batch_size=8, sampler=None):
    if sampler is None:
        base = torch.utils.data.RandomSampler(dataset) if train else torch.utils.data.SequentialSampler(dataset)
        sampler = EpochSampler(base, len(dataset))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_clips, drop_last=train)
