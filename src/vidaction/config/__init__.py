"""Typed experiment configuration: dataclasses loaded from YAML with dotted overrides.

One dataclass per concern, each component receiving only its own section: :mod:`.common` (optimiser,
schedule, run; :class:`ConfigError`), :mod:`.recognition` (data, model, the recognition tree),
:mod:`.recipes` (``recipe.name`` and one section per method: MFR, HCML, GAF's recognition loss),
:mod:`.detection` (the detection tree: data, detector, loss, test, GAF's training) and :mod:`.loading`
(YAML with ``_base_``, ``key=value`` overrides, unknown keys refused with the closest one, saving).
"""

from vidaction.config.common import ConfigError, OptimConfig, ScheduleConfig, TrainConfig
from vidaction.config.detection import (DetectionDataConfig, DetectionExperimentConfig, DetectionLossConfig,
                                        DetectionTestConfig, DetectorConfig, GAFConfig)
from vidaction.config.loading import (TASKS, config_from_dict, config_from_saved, config_to_dict, load_config,
                                      parse_override, save_config)
from vidaction.config.recipes import RECIPES, GAFRecipe, HCMLRecipe, MFRRecipe, RecipeConfig
from vidaction.config.recognition import (EVAL_SUBSETS, IMAGENET_MEAN, IMAGENET_STD, DataConfig, ExperimentConfig,
                                          ModelConfig)

__all__ = [
    "EVAL_SUBSETS", "IMAGENET_MEAN", "IMAGENET_STD", "RECIPES", "TASKS", "ConfigError", "DataConfig",
    "DetectionDataConfig", "DetectionExperimentConfig", "DetectionLossConfig", "DetectionTestConfig",
    "DetectorConfig", "ExperimentConfig", "GAFConfig", "GAFRecipe", "HCMLRecipe", "MFRRecipe", "ModelConfig",
    "OptimConfig", "RecipeConfig", "ScheduleConfig", "TrainConfig", "config_from_dict", "config_from_saved",
    "config_to_dict",
    "load_config", "parse_override", "save_config",
]
