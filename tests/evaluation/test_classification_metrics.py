"""Top-k, mean class accuracy and the confusion matrix against hand-computed cases."""

import math

import numpy as np
import torch

from vidaction.evaluation.classification import confusion_matrix, mean_class_accuracy, topk_accuracy


def test_topk_and_mean_class_accuracy():
    scores = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.3, 0.6, 0.1], [0.5, 0.4, 0.1]])
    labels = torch.tensor([0, 1, 1, 1])
    top1, top2 = topk_accuracy(scores, labels, ks=(1, 2))
    assert top1 == 0.5 and top2 == 1.0
    assert mean_class_accuracy(scores, labels, 3) == (1.0 + 1 / 3) / 2


def test_confusion_matrix_rows_are_truth():
    cm = confusion_matrix(torch.tensor([0, 2, 1, 0]), torch.tensor([0, 1, 1, 1]), 3)
    assert np.array_equal(cm, [[1, 0, 0], [1, 1, 1], [0, 0, 0]])


def test_empty_input_is_nan():
    assert math.isnan(topk_accuracy(torch.empty(0, 3), torch.empty(0, dtype=torch.long))[0])
