"""Objectives: the loss of a batch and the optimisers that minimise it (:mod:`.base`), for recognition
(:mod:`.recognition`), HCML (:mod:`.hcml`), detection (:mod:`.detection`) and GAF's alternating
detection training (:mod:`.gaf`)."""

from vidaction.engine.objectives.base import Objective
from vidaction.engine.objectives.detection import DetectionObjective, add_contrastive_term
from vidaction.engine.objectives.gaf import GAFObjective
from vidaction.engine.objectives.hcml import HCMLObjective, HCMLStageObjective
from vidaction.engine.objectives.recognition import (CrossEntropyObjective, GAFRecognitionObjective,
                                                     MatureFeatureObjective, classification_loss,
                                                     correct_predictions)

__all__ = ["CrossEntropyObjective", "DetectionObjective", "GAFObjective", "GAFRecognitionObjective", "HCMLObjective",
           "HCMLStageObjective", "MatureFeatureObjective", "Objective", "add_contrastive_term", "classification_loss",
           "correct_predictions"]
