"""NFT core: modality-agnostic masks, schedules, purify loop, defenses, registry and records.

``import core`` pulls in torch and the light dependencies only; tasks and optional packages are
imported when a registry entry is first used.
"""
from .adapter import CleanSetError, Splits, TaskAdapter
from .attack import Attack, AttackConfig, PoisonResult, hash_indices
from .augment import Augmentation, Compose, Identity, MixUp, soft_cross_entropy
from .checkpoint import UnsafeCheckpointError, load_state_dict, save_model, save_state_dict
from .classification import ClassificationAdapter
from .config import ConfigError, from_dict
from .data import TensorData
from .masks import NoMaskableLayerError, fold_masks, inject_masks
from .purify import NFTConfig, NonFiniteLossError, PurifyResult, nft_purify
from .registry import (ATTACKS, AUGMENTATIONS, DATASETS, DEFENSES, MODELS, TASKS, Registry,
                       UnknownNameError)
from .schedules import MuSchedule, clamp_masks
from . import defenses  # noqa: F401  (registers the defenses lazily)

__version__ = "0.1.0"
