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


def test_flow_colour_coding_follows_the_middlebury_wheel(tmp_path):
    import numpy as np

    from vidaction.viz.flow import flow_grid, flow_to_rgb

    flow = np.zeros((2, 3, 3))
    assert np.allclose(flow_to_rgb(flow), 1.0)
    flow[0] = 1.0
    right = flow_to_rgb(flow)
    assert np.allclose(right[0, 0], [1.0, 0.0, 0.0])
    flow[0], flow[1] = -1.0, 0.0
    left = flow_to_rgb(flow)[0, 0]
    assert left[0] < 0.05 and left[1] > 0.7 and left[2] > 0.7
    flow[0], flow[1] = 0.0, -1.0
    up = flow_to_rgb(flow)[0, 0]
    assert up[2] == up.max() and up[1] < 0.05
    flow[0], flow[1] = 0.0, 1.0
    down = flow_to_rgb(flow)[0, 0]
    assert down[0] == 1.0 and down[1] > 0.5 and down[2] < 0.05
    half = flow_to_rgb(flow, max_magnitude=2.0)[0, 0]
    assert np.all(half > flow_to_rgb(flow)[0, 0] - 1e-9) and half.max() <= 1.0
    frames = np.random.default_rng(0).random((4, 16, 16, 3))
    flows = {"level 1": np.random.default_rng(1).normal(size=(3, 2, 8, 8))}
    assert flow_grid(frames, flows, tmp_path / "flow.png").stat().st_size > 1000
