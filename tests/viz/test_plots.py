"""Pictures are written, readable and show what they claim."""

import numpy as np
from PIL import Image

from vidaction.viz.confusion import plot_confusion_matrix
from vidaction.viz.curves import plot_curves
from vidaction.viz.tables import format_table


def test_curves_and_confusion_pngs(tmp_path):
    history = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": 0.1 * e, "val_loss": 2.2 / e, "val_top1": 0.09 * e}
               for e in range(1, 5)]
    curves = plot_curves({"tsn": history, "tsm": history[:2]}, tmp_path / "a" / "curves.png")
    cm = plot_confusion_matrix(np.array([[5, 1], [0, 6]]), ["left", "right"], tmp_path / "cm.png")
    for path in (curves, cm):
        image = np.asarray(Image.open(path).convert("L"))
        assert image.shape[0] > 200 and image.std() > 10


def test_table_is_aligned_markdown():
    text = format_table(["model", "top-1"], [["tsn_r18", "33.3"], ["tsm", "56.2"]])
    lines = text.splitlines()
    assert lines[0].startswith("| model") and set(lines[1]) <= {"|", "-"}
    assert len({len(line) for line in lines}) == 1


def test_attention_overlay_maps_frames_to_coarser_mask_steps(tmp_path):
    import numpy as np
    import torch

    from vidaction.viz.attention import overlay_grid

    frames = np.random.default_rng(0).random((8, 32, 32, 3))
    masks = {"layer1": torch.rand(1, 1, 8, 8, 8), "layer3": torch.rand(1, 1, 2, 4, 4)}
    path = overlay_grid(frames, masks, tmp_path / "masks.png", title="i3d")
    assert path.is_file() and path.stat().st_size > 1000
