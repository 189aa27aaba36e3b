"""GAF's generative attention (segment-level attention, frame-level CVAE); importing registers
the recognition builders ``gaf_i3d`` and ``gaf_tsm_r50``."""

from vidaction.models.generative.gaf import (
    CVAEOutput,
    FeatureCVAE,
    GAFClassifier,
    GAFClassifierOutput,
    GAFOutput,
    GenerativeAttention,
    SegmentAttentionHead,
    SegmentAttentionOutput,
    gaf_for_head,
)

__all__ = ["CVAEOutput", "FeatureCVAE", "GAFClassifier", "GAFClassifierOutput", "GAFOutput", "GenerativeAttention",
           "SegmentAttentionHead", "SegmentAttentionOutput", "gaf_for_head"]
