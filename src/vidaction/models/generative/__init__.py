"""GAF's generative attention: segment-level attention (:mod:`.segment_attention`), the frame-level
CVAE (:mod:`.cvae`), the detector's wrapper (:mod:`.gaf`) and the recognition variant
(:mod:`.gaf_classifier`); importing registers the recognition builders ``gaf_classifier`` (any
registered backbone) and its presets ``gaf_i3d`` and ``gaf_tsm_r50``."""

from vidaction.models.generative.cvae import CVAEOutput, FeatureCVAE
from vidaction.models.generative.gaf import GAFOutput, GenerativeAttention, gaf_for_head
from vidaction.models.generative.gaf_classifier import GAFClassifier, GAFClassifierOutput
from vidaction.models.generative.segment_attention import SegmentAttentionHead, SegmentAttentionOutput

__all__ = ["CVAEOutput", "FeatureCVAE", "GAFClassifier", "GAFClassifierOutput", "GAFOutput", "GenerativeAttention",
           "SegmentAttentionHead", "SegmentAttentionOutput", "gaf_for_head"]
