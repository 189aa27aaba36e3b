"""Frame-reconstruction loss for HCML's preliminary motion cues (Sec. 3.3, eqs. 3-4).

``L_reconstruct = L_photometric + zeta * L_smoothness`` with the generalised Charbonnier penalty
``rho(z) = (z^2 + eps^2)^alpha``, ``alpha = 0.45``, ``eps = 1e-3`` (Sun et al., IJCV 2014), on the
backward-warped frames of :func:`vidaction.models.motion.flow.reconstruct_frames`. ``eps`` is
relative to the intensity scale of the frames it is given.

Eq. 3 is averaged over the valid (pixel, channel) entries rather than ``H W T``; eq. 4's four terms
are each averaged over pixels and summed. The paper gives no ``zeta``; :data:`DEFAULT_ZETA` is this
library's choice. Decisions: docs/papers/hcml.md#frame-reconstruction-loss.
"""

from __future__ import annotations

from torch import Tensor

from vidaction.models.motion.flow import reconstruct_frames

# Not in the paper (docs/papers/hcml.md#frame-reconstruction-loss).
DEFAULT_ZETA = 0.1


def charbonnier(x: Tensor, alpha: float = 0.45, eps: float = 1e-3) -> Tensor:
    """Generalised Charbonnier penalty ``(x^2 + eps^2)^alpha``, elementwise."""
    return (x * x + eps * eps) ** alpha


def photometric_loss(target: Tensor, reconstructed: Tensor, valid: Tensor, alpha: float = 0.45,
                     eps: float = 1e-3) -> Tensor:
    """Eq. 3: mean Charbonnier penalty of ``target - reconstructed`` over valid pixels and channels.

    ``target, reconstructed: (B, C, H, W)`` or ``(N, C, T, H, W)``; ``valid`` of the same shape
    with one channel, 1 where the warp sampled inside the frame. Returns 0 when nothing is valid.
    """
    if target.shape != reconstructed.shape:
        raise ValueError(f"target {tuple(target.shape)} and reconstruction {tuple(reconstructed.shape)} "
                         "differ in shape")
    mask = valid.expand_as(target)
    return (charbonnier(target - reconstructed, alpha, eps) * mask).sum() / mask.sum().clamp(min=1)


def smoothness_loss(flow: Tensor, alpha: float = 0.45, eps: float = 1e-3) -> Tensor:
    """Eq. 4: Charbonnier penalty of first-order flow differences in x and y, for both components.

    ``flow: (B, 2, H, W)`` or ``(N, 2, T, H, W)``. The penalties of ``grad_x U``, ``grad_y U``,
    ``grad_x V`` and ``grad_y V`` are each averaged over positions and summed.
    """
    grad_x = flow[..., :, 1:] - flow[..., :, :-1]
    grad_y = flow[..., 1:, :] - flow[..., :-1, :]
    return charbonnier(grad_x, alpha, eps).sum(1).mean() + charbonnier(grad_y, alpha, eps).sum(1).mean()


def reconstruction_loss(frames: Tensor, flow: Tensor, zeta: float = DEFAULT_ZETA, alpha: float = 0.45,
                        eps: float = 1e-3) -> Tensor:
    """``L_reconstruct = L_photometric + zeta * L_smoothness`` (Sec. 3.3).

    ``frames: (N, C, T, H, W)``; ``flow: (N, 2, T-1, h, w)`` backward flow of pairs ``(t, t+1)``
    in pixels of its own ``(h, w)`` map. Frames ``0 .. T-2`` are the targets of eq. 3, rebuilt from
    their successors with the flow upsampled to ``(H, W)``; eq. 4 is taken on the flow as estimated.
    """
    reconstructed, valid = reconstruct_frames(frames, flow)
    return (photometric_loss(frames[:, :, :-1], reconstructed, valid, alpha, eps)
            + zeta * smoothness_loss(flow, alpha, eps))
