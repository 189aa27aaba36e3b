"""MACs of TSM-R50 with each attention next to W3's Table 6 (224x224, 174 classes).

Run: python benchmarks/attention_macs.py
"""

from __future__ import annotations

from vidaction.models import create_model
from vidaction.models.flops import count_macs

# W3 paper, Table 6 (16 frames) and Table 1 (8 frames): GFLOPs as MACs.
ROWS = [
    ("TSM-R50", 16, {}, 65.0),
    ("+ CBAM (r = 16, every block)", 16, {"attention": "cbam"}, 66.5),
    ("+ NL (5 blocks, TSM-NL placement)", 16, {"attention": "nonlocal"}, 115.0),
    ("+ W3 (r = 16, depthwise temporal CNN, AFR)", 16, {"attention": "w3", "refine": True}, 67.1),
    ("TSM-R50", 8, {}, 33.0),
    ("+ W3 (AFR)", 8, {"attention": "w3", "refine": True}, 33.5),
]


def main() -> None:
    print("| model | frames | ours (G MACs) | paper (G) | difference | params (M) |")
    print("|---|---|---|---|---|---|")
    for label, frames, options, paper in ROWS:
        model = create_model("tsm_r50", num_classes=174, num_frames=frames, **options)
        macs, params = count_macs(model, (1, 3, frames, 224, 224))
        print(f"| {label} | {frames} | {macs / 1e9:.2f} | {paper} | {100 * (macs / 1e9 / paper - 1):+.1f} % | "
              f"{params / 1e6:.2f} |")


if __name__ == "__main__":
    main()
