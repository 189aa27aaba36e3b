"""HCML's hierarchical contrastive motion loss (Yang et al., ECCV 2020, Sec. 3.2 eq. 2, appendix A.2).

``L^l = -sum_i log( exp(sim(P^_i, P_i) / tau) / sum_{j in S} exp(sim(P^_i, P_j) / tau) )`` with ``sim``
the cosine similarity and ``tau = 0.07`` (Sec. 4.1).

Sampling (A.2), for a batch of B videos with ground truth ``targets: (B, C, T, H, W)``, the lower
level's whole sequence of T steps (:class:`~vidaction.models.motion.predictor.MotionPredictor`):

- Locations. For each video, N distinct spatial positions are drawn uniformly without replacement
  (:func:`sample_locations`), independently per video; the same N positions are used at every time
  step and for both the predictions and the ground truth of that video.
- Predictions. ``predictions: (B, S, C, T_q, H, W)`` come from ``T_q = ceil(T / r)`` start times, the
  start ``t`` at the ground truth's step ``r t`` (``r = temporal_stride``, the upper level's
  temporal stride over the lower one). Every step ``delta = 1 .. S`` from every start with
  ``r t + delta < T`` (only those have a ground truth) is a prediction, at every sampled position:
  ``B * N * #{(delta, t): r t + delta < T}`` of them, ordered ``(b, delta, t, n)``. The prediction at
  ``(b, delta, t, n)`` is ``predictions[b, delta - 1, :, t]`` at position ``n``.
- Candidates. Every prediction is scored against the same set: all ``B * N * T`` sampled ground
  truth features, every time step included (also those that are no prediction's positive). Its
  positive is ``targets[b, :, r t + delta]`` at its own position ``n``; of the others, those of its
  video at the other ``N - 1`` positions are the ``(N - 1) T`` spatial negatives, those at its own
  position and another time the ``T - 1`` temporal negatives, and all of the other videos the
  ``(B - 1) N T`` easy negatives, Sec. 3.2's counts with T "the sequence length of ground-truth
  features": ``1 + (N - 1) T + (T - 1) + (B - 1) N T = B N T``.

Reduction: eq. 2 sums over the predictions; here the sum is divided by their number, so the
loss's scale (and the weight ``gamma^l`` of eq. 5) does not depend on B, N, T or S.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_locations(batch_size: int, height: int, width: int, num_locations: int,
                     generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
    """N distinct flat positions ``h * W + w`` per video, uniformly without replacement (A.2).

    Drawn on the generator's device (the default CPU generator when ``generator`` is None) and
    returned on ``device``: ``(batch_size, num_locations)`` int64.
    """
    positions = height * width
    if not 1 <= num_locations <= positions:
        raise ValueError(f"num_locations must be in 1 .. H*W = {height}*{width} = {positions}, got {num_locations}")
    scores = torch.rand(batch_size, positions, generator=generator,
                        device=generator.device if generator is not None else "cpu")
    return scores.argsort(dim=1)[:, :num_locations].to(device)


def hierarchical_contrastive_loss(predictions: Tensor, targets: Tensor, num_locations: int,
                                  temperature: float = 0.07, generator: torch.Generator | None = None,
                                  temporal_stride: int = 1) -> tuple[Tensor, dict[str, Tensor]]:
    """Eq. 2 on N sampled locations per video, all predictions scored in one (P x K) similarity matrix.

    Args:
        predictions: ``(B, S, C, T_q, H, W)``; ``[:, delta - 1, :, t]`` predicts
            ``targets[:, :, temporal_stride * t + delta]``
            (:class:`vidaction.models.motion.predictor.MotionPredictor`'s layout).
        targets: ground truth ``(B, C, T, H, W)``, ``T_q = ceil(T / temporal_stride)``.
        num_locations: N, spatial positions sampled per video.
        temperature: tau.
        generator: draws the locations, for reproducibility.
        temporal_stride: r, the ground truth's steps per start time.

    Returns:
        The mean loss over the ``P`` predictions, and per prediction (order ``(b, delta, t, n)``), as
        ``(P,)`` int64 tensors counted from the candidate set, the number of ``"positives"`` (1),
        ``"spatial"``, ``"temporal"`` and ``"easy"`` negatives.
    """
    if predictions.dim() != 6 or targets.dim() != 5:
        raise ValueError(f"expected predictions (B, S, C, T, H, W) and targets (B, C, T, H, W), got "
                         f"{tuple(predictions.shape)} and {tuple(targets.shape)}")
    if temporal_stride < 1:
        raise ValueError(f"temporal_stride must be positive, got {temporal_stride}")
    batch, steps, channels, starts, height, width = predictions.shape
    frames = targets.shape[2]
    if (predictions.shape[0] != targets.shape[0] or predictions.shape[2] != targets.shape[1]
            or predictions.shape[4:] != targets.shape[3:] or -(-frames // temporal_stride) != starts):
        raise ValueError(f"predictions {tuple(predictions.shape)} do not match targets {tuple(targets.shape)}: "
                         f"need the same B, C, H and W, and ceil(T / {temporal_stride}) start times")
    if steps >= frames:
        raise ValueError(f"predictions {tuple(predictions.shape)} have {steps} steps but targets "
                         f"{tuple(targets.shape)} only {frames} time steps: step {steps} never has a ground truth")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    locations = sample_locations(batch, height, width, num_locations, generator, targets.device)

    keys = targets.flatten(3).gather(3, locations[:, None, None].expand(-1, channels, frames, -1))
    keys = F.normalize(keys.permute(0, 2, 3, 1).reshape(-1, channels), dim=1)  # (B*T*N, C), order (b, tau, n)
    queries = predictions.flatten(4).gather(4, locations[:, None, None, None].expand(-1, steps, channels, starts, -1))
    delta = torch.arange(1, steps + 1, device=targets.device)
    start = torch.arange(starts, device=targets.device) * temporal_stride
    target_times = start[None] + delta[:, None]  # (S, T_q)
    valid = target_times < frames
    queries = F.normalize(queries.permute(0, 1, 3, 4, 2)[:, valid].reshape(-1, channels), dim=1)  # order (b, v, n)

    target_time = target_times[valid]
    shape = (batch, target_time.numel(), num_locations)
    query_video = torch.arange(batch, device=targets.device)[:, None, None].expand(shape).reshape(-1)
    query_time = target_time[None, :, None].expand(shape).reshape(-1)
    query_slot = torch.arange(num_locations, device=targets.device)[None, None].expand(shape).reshape(-1)
    labels = (query_video * frames + query_time) * num_locations + query_slot

    logits = queries @ keys.T / temperature
    loss = F.cross_entropy(logits, labels)

    key_index = torch.arange(keys.shape[0], device=targets.device)
    key_video = key_index // (frames * num_locations)
    key_time = key_index // num_locations % frames
    key_slot = key_index % num_locations
    same_video = query_video[:, None] == key_video[None]
    same_slot = same_video & (query_slot[:, None] == key_slot[None])
    same_time = query_time[:, None] == key_time[None]
    counts = {
        "positives": (same_slot & same_time).sum(1),
        "spatial": (same_video & ~same_slot).sum(1),
        "temporal": (same_slot & ~same_time).sum(1),
        "easy": (~same_video).sum(1),
    }
    return loss, counts
