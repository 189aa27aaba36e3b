"""GAF's cost over AFSD at THUMOS14's setting (T = 256 frames, 96 x 96 crops, 20 classes).

1. Parameters and MACs (convolutions and matrix products, `torch.utils.flop_counter`) of the full
   detector (Inception-I3D to Mixed_5c + AFSD head) without and with GAF, at inference (GAF's CVAE
   is training-only and not run) and separately for the CVAE's two training passes.
2. CPU time of one training step on the backbone's maps (Mixed_4f 1x832x64x6x6, Mixed_5c
   1x1024x32x3x3, random instances): AFSD's loss, against GAF's two alternating steps (step 1: the
   CVAE; step 2: attention + head on F' + the head's coarse classes on the non-action maps, eq. 14
   + L_R). The maps carry gradients (the backbone trains end to end in frame mode); the I3D part of a
   step is the same in both and left out. Medians of interleaved rounds.
Run: python benchmarks/gaf_cost.py [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from common import environment
from vidaction.losses.cvae import cvae_loss, representation_loss
from vidaction.losses.detection import afsd_loss
from vidaction.losses.gaf import gaf_detection_loss
from vidaction.models import create_model
from vidaction.models.detector import afsd_detector
from vidaction.models.flops import count_macs

CLASSES = 20
WINDOW, CROP = 256, 96


def detectors():
    torch.manual_seed(0)
    plain = afsd_detector(CLASSES, create_model("i3d", num_classes=400), crop=CROP)
    gaf = afsd_detector(CLASSES, create_model("i3d", num_classes=400), crop=CROP, attention="gaf")
    return plain, gaf


def count(model) -> tuple[int, int]:
    mask = torch.ones(1, WINDOW, dtype=torch.bool)
    return count_macs(model, (1, 3, WINDOW, CROP, CROP), extra_inputs=(mask,))


def targets() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.tensor([[20.0, 60.0], [100.0, 180.0], [200.0, 230.0]]), torch.tensor([3, 7, 3]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    plain, gaf = detectors()
    (plain_macs, plain_params), (gaf_macs, gaf_params) = count(plain), count(gaf)
    cvae = sum(p.numel() for p in gaf.attention.cvae_parameters())
    segment = sum(p.numel() for p in gaf.attention.segment_parameters())
    head = sum(p.numel() for p in plain.head.parameters())
    backbone = sum(p.numel() for p in plain.backbone.parameters())
    print(f"environment: {environment()}")
    print(f"\nT = {WINDOW} frames, {CROP}x{CROP}, {CLASSES} classes; MACs of one window at inference\n")
    print("| model | params (M) | of which I3D / head / GAF segment / GAF CVAE (M) | G MACs | vs AFSD |")
    print("|---|---|---|---|---|")
    print(f"| AFSD (I3D + head) | {plain_params / 1e6:.2f} | {backbone / 1e6:.2f} / {head / 1e6:.2f} / - / - | "
          f"{plain_macs / 1e9:.2f} | 1.000 |")
    print(f"| AFSD + GAF | {gaf_params / 1e6:.2f} | {backbone / 1e6:.2f} / {head / 1e6:.2f} / {segment / 1e6:.2f} / "
          f"{cvae / 1e6:.2f} | {gaf_macs / 1e9:.2f} | {gaf_macs / plain_macs:.3f} |")
    print(f"| AFSD + GAF, deployed (no CVAE) | {(gaf_params - cvae) / 1e6:.2f} | | {gaf_macs / 1e9:.2f} | "
          f"{gaf_macs / plain_macs:.3f} |")

    plain_head, attention, gaf_head = plain.head.train(), gaf.attention.train(), gaf.head.train()
    mask = torch.ones(1, WINDOW, dtype=torch.bool)

    def maps():
        return [torch.randn(1, 832, 64, 6, 6, requires_grad=True), torch.randn(1, 1024, 32, 3, 3, requires_grad=True)]

    def afsd_step():
        loss, _ = afsd_loss(plain_head(maps(), mask), targets())
        loss.backward()

    def gaf_step_1():
        out = attention.set_phase("cvae").attend(maps(), mask)
        cvae_loss(out.frame)[0].backward()

    def gaf_step_2():
        out = attention.set_phase("segment").attend(maps(), mask)
        action, background = gaf_head(out.features, mask), gaf_head.coarse_classification(out.nonaction_maps, mask)
        loss, _ = gaf_detection_loss(out, targets(), action, background)
        (loss + 0.5 * representation_loss(out.frame)).backward()

    steps = {"AFSD step": afsd_step, "GAF step 1 (CVAE)": gaf_step_1, "GAF step 2 (attention + detector)": gaf_step_2}
    for fn in steps.values():
        fn()
    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, fn in steps.items():
            tick = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - tick)
    median = {name: statistics.median(values) for name, values in times.items()}
    afsd = median["AFSD step"]
    both = median["GAF step 1 (CVAE)"] + median["GAF step 2 (attention + detector)"]
    print(f"\ntraining step on the maps (with input gradients), CPU, median of {args.rounds} interleaved rounds\n")
    print("| step | seconds | vs AFSD step |")
    print("|---|---|---|")
    for name, seconds in median.items():
        print(f"| {name} | {seconds:.2f} | {seconds / afsd:.2f} |")
    print(f"| GAF iteration (step 1 + step 2) | {both:.2f} | {both / afsd:.2f} |")


if __name__ == "__main__":
    main()
