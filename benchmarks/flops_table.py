"""Parameters and MACs of the registered models at 8x224x224, next to published numbers.

Run: python benchmarks/flops_table.py
"""

from __future__ import annotations

import argparse

from vidaction.models import create_model, list_models
from vidaction.models.flops import count_macs

# TSM paper (Lin et al., ICCV 2019), Table 1/2: TSN and TSM ResNet-50, 8 frames, 224x224, 400 classes.
PUBLISHED = {"tsm_r50": (33.0, 24.3), "tsn_r50": (33.0, 24.3)}


WRAPPERS = ("afsd", "hcml", "gaf_classifier")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=400)
    args = parser.parse_args()
    print("| model | input | params (M) | MACs (G) | published MACs (G) / params (M) | MACs vs published |")
    print("|---|---|---|---|---|---|")
    for name in list_models():
        # The detector reads windows, not clips; the HCML and GAF wrappers' networks are the rows of
        # their backbones (deployed HCML) and presets (gaf_i3d, gaf_tsm_r50).
        if "tiny" in name or name in WRAPPERS:
            continue
        model = create_model(name, num_classes=args.num_classes, num_frames=args.frames)
        macs, params = count_macs(model, (1, 3, args.frames, args.size, args.size))
        published = PUBLISHED.get(name)
        ref = f"{published[0]} / {published[1]}" if published else "-"
        ratio = f"{100 * (macs / 1e9 / published[0] - 1):+.1f} %" if published else "-"
        print(f"| {name} | {args.frames}x{args.size}x{args.size} | {params / 1e6:.2f} | {macs / 1e9:.2f} | {ref} | {ratio} |")


if __name__ == "__main__":
    main()
