"""W3's stage-2 objective (eq. 9): cross-entropy + weight x feature mimicking of a frozen teacher."""

import math

import torch

from vidaction.config import config_from_dict
from vidaction.engine.objectives import MatureFeatureObjective
from vidaction.models import create_model


def test_mimic_term_is_per_element_by_default_and_literal_on_request():
    torch.manual_seed(0)
    student = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3", refine=True)
    teacher = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3", refine=True)
    clip, labels = torch.randn(2, 3, 4, 64, 64), torch.tensor([0, 2])
    terms = {}
    for normalize in (True, False):
        torch.manual_seed(1)
        loss, _, terms[normalize] = MatureFeatureObjective(teacher, 0.5, normalize=normalize).loss(student, clip, labels)
        assert torch.allclose(loss, terms[normalize]["ce"] + 0.5 * terms[normalize]["mimic"])
    values = student.num_features * 2 * 2  # C_l x H_l x W_l of layer4 at 64 px
    assert torch.allclose(terms[False]["mimic"], terms[True]["mimic"] * math.sqrt(values), rtol=1e-4)
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training


def test_recipe_field_defaults_to_the_normalised_term():
    assert config_from_dict({}).recipe.mfr.mimic_normalize is True
    assert config_from_dict({}, ["recipe.name=mfr", "recipe.mimic_normalize=false"]).recipe.mfr.mimic_normalize is False
