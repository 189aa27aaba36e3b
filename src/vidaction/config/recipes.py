"""How a recognition run is staged: ``recipe.name`` and one section per method's settings.

``recipe: {name: hcml_progressive, hcml: {level_epochs: 80}}`` is the schema's form; the flat form of
the configs written before the sections existed, ``recipe: {name: hcml_progressive, level_epochs: 80}``
(also ``recipe.level_epochs=80`` on the command line), loads the same: the loader moves each flat key
into the section that owns it (:data:`~vidaction.config.common.FLAT_KEYS`). A section of a method
other than ``recipe.name`` must stay at its defaults, which is what the flat configs saved in older
checkpoints list for every method; a value set there is refused with the key and the recipe that reads
it, rather than silently doing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from vidaction.config.common import FLAT_KEYS, ConfigError, one_of, positive


@dataclass
class MFRRecipe:
    """W3's mature feature-guided regularisation (Sec. 3.4), ``recipe.name=mfr``.

    Stage 1 trains a teacher (into ``<out_dir>/teacher``) unless ``teacher`` names a checkpoint;
    stage 2 trains a student of the same architecture (into ``<out_dir>/student``) with cross-entropy
    plus ``mimic_weight`` x the per-frame L2 distance to the frozen teacher's refined features (eq. 9),
    divided by the square root of the values it runs over when ``mimic_normalize`` (the default: a
    root-mean-square difference per element whose size does not depend on the map's; measured 53 x
    cross-entropy at the start of stage 2 for ResNet-50 at 224 px without it, see
    docs/papers/w3.md#mfr).
    """

    teacher: str = ""
    mimic_weight: float = 1.0
    mimic_normalize: bool = True

    def __post_init__(self) -> None:
        if self.mimic_weight < 0:
            raise ConfigError(f"recipe.mimic_weight must be >= 0, got {self.mimic_weight}")


@dataclass
class HCMLRecipe:
    """HCML's settings, read by ``recipe.name`` ``hcml``, ``hcml_progressive`` and ``hcml_pretrain``.

    ``hcml``: HCML's joint training (eq. 5) of a ``motion="pmb"`` backbone with its side branches:
    cross-entropy + ``reconstruction_weight`` x frame reconstruction + ``contrastive_weight`` x each
    level's contrastive loss on ``num_locations`` sampled positions, each level predicting
    ``prediction_steps`` future steps of the level below (0: every future step of that level's
    sequence, Sec. 3.2's ``P^{l-1}_{>t}``); checkpoints hold the side branches,
    :func:`vidaction.engine.experiment.load_trained_model` returns the deployed backbone.
    ``hcml_progressive``: HCML's two phases (Sec. 3): the progressive self-supervised phase, one
    stage per motion level (level 0 by frame reconstruction, then each higher level by its
    contrastive loss with everything that computes the lower levels' motion frozen, training the
    fusion ``g`` of the level below with it), ``level_epochs`` each with ``level_warmup_epochs`` of
    warm-up (BatchNorm synchronised across processes when ``level_sync_bn``), into
    ``<out_dir>/level<i>``; then the joint phase (as ``hcml``) from the last stage's weights into
    ``<out_dir>/joint``. ``hcml_pretrain``: the self-supervised phase alone (appendix D);
    ``<out_dir>/pretrained.pt`` holds the deployed backbone for ``model.pretrained`` of a fine-tuning
    run. Labels are not used by the self-supervised stages. A staged run started again in the same
    ``out_dir`` reuses the stages that finished. ``flow_hidden`` sets the widths of the HCML flow
    estimator's five layers (empty: PWC-Net's halved, 64 64 48 32 16); ``flow_levels`` puts flow
    estimators on further motion levels (Table 1's "preliminary" supervision per level, Fig. 3), each
    reconstruction weighted as level 0's in the joint loss (empty: the first level only).
    """

    reconstruction_weight: float = 15.0
    contrastive_weight: float = 0.25
    num_locations: int = 16
    prediction_steps: int = 0
    level_epochs: int = 10
    level_warmup_epochs: float = 1.0
    level_sync_bn: bool = False
    flow_hidden: list = field(default_factory=list)
    flow_levels: list = field(default_factory=list)

    def __post_init__(self) -> None:
        positive("recipe.num_locations", self.num_locations)
        if self.prediction_steps < 0:
            raise ConfigError(f"recipe.prediction_steps must be >= 0 (0: every future step), got "
                              f"{self.prediction_steps}")
        positive("recipe.level_epochs", self.level_epochs)
        if not 0 <= self.level_warmup_epochs <= self.level_epochs:
            raise ConfigError(f"recipe.level_warmup_epochs must lie in [0, level_epochs={self.level_epochs}], "
                              f"got {self.level_warmup_epochs}")
        if self.reconstruction_weight < 0 or self.contrastive_weight < 0:
            raise ConfigError("recipe.reconstruction_weight and recipe.contrastive_weight must be >= 0")
        if self.flow_hidden and (len(self.flow_hidden) != 5 or min(self.flow_hidden) < 1):
            raise ConfigError(f"recipe.flow_hidden needs five positive widths (the flow estimator's layers), got "
                              f"{self.flow_hidden}")


@dataclass
class GAFRecipe:
    """GAF's recognition loss (Table II) for a ``gaf_*`` model, ``recipe.name=gaf``: cross-entropy of
    the action-instance feature's class plus ``nonaction_weight`` x that of the non-action feature as
    background (eq. 12)."""

    nonaction_weight: float = 1.0


# The recipe names that read each section of RecipeConfig.
SECTION_USERS = {"mfr": ("mfr",), "hcml": ("hcml", "hcml_progressive", "hcml_pretrain"), "gaf": ("gaf",)}
RECIPES = ("standard", *(name for users in SECTION_USERS.values() for name in users))


@dataclass
class RecipeConfig:
    """How training is staged: ``name`` picks the recipe, the section of that method its settings.

    ``standard``: one run with cross-entropy. ``mfr`` (:class:`MFRRecipe`): W3's two stages.
    ``hcml``, ``hcml_progressive``, ``hcml_pretrain`` (:class:`HCMLRecipe`): HCML's joint training,
    its progressive phase then the joint one, the progressive phase alone. ``gaf``
    (:class:`GAFRecipe`): GAF's recognition loss.
    """

    name: str = "standard"
    mfr: MFRRecipe = field(default_factory=MFRRecipe, metadata=FLAT_KEYS)
    hcml: HCMLRecipe = field(default_factory=HCMLRecipe, metadata=FLAT_KEYS)
    gaf: GAFRecipe = field(default_factory=GAFRecipe, metadata=FLAT_KEYS)

    def __post_init__(self) -> None:
        one_of("recipe.name", self.name, RECIPES)
        for section, users in SECTION_USERS.items():
            settings = getattr(self, section)
            defaults = type(settings)()
            changed = [f.name for f in fields(settings) if getattr(settings, f.name) != getattr(defaults, f.name)]
            if changed and self.name not in users:
                key = changed[0]
                raise ConfigError(
                    f"recipe.{key}={getattr(settings, key)!r} (recipe.{section}.{key}) belongs to recipe.name="
                    f"{' / '.join(users)}, not {self.name}: set recipe.name={users[0]} or leave recipe.{key} at "
                    f"its default {getattr(defaults, key)!r}")
