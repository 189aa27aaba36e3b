"""Plug-in attention blocks: W3 (what-where-when), and the CBAM / non-local baselines."""

from vidaction.models.attention.cbam import CBAM
from vidaction.models.attention.factory import create_attention
from vidaction.models.attention.nonlocal_block import NonLocalBlock
from vidaction.models.attention.w3 import ChannelTemporalAttention, SpatioTemporalAttention, W3Attention, W3Masks

__all__ = ["CBAM", "ChannelTemporalAttention", "NonLocalBlock", "SpatioTemporalAttention", "W3Attention", "W3Masks",
           "create_attention"]
