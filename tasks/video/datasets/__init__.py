"""Video datasets, registered in ``core.registry.DATASETS`` under ``video``.

=================  ==================================================  =======================
name               layout under ``<data root>/<name>/``                prepared by
=================  ==================================================  =======================
``ucf101``         ``UCF-101/<Class>/*.avi`` + ``ucfTrainTestlist/``   ``data_scripts/ucf101.py``
``hmdb51``         ``videos/<class>/*.avi`` + ``testTrainMulti_7030_``  ``data_scripts/hmdb51.py``
                   ``splits/``
``moving_objects`` UCF-101 layout (composed offline action set)        ``data_scripts/
                                                                       synthetic_actions.py``
``synthetic``      in memory (tests, smoke preset)                      nothing
=================  ==================================================  =======================

Each registered entry is ``load(root, settings, split) -> RawVideos`` (uint8 clips).
"""
from __future__ import annotations

from pathlib import Path

from core.registry import DATASETS

from . import hmdb51, synthetic, ucf101
from .loading import DecodeSettings
from .missing import MissingSplitError
from .raw_videos import RawVideos

MOVING_OBJECTS = "moving_objects"


def _ucf101(root: Path, settings: DecodeSettings, split: int = 1, **_: int) -> RawVideos:
    return ucf101.load(root, settings, split)


def _hmdb51(root: Path, settings: DecodeSettings, split: int = 1, **_: int) -> RawVideos:
    return hmdb51.load(root, settings, split)


def _moving_objects(root: Path, settings: DecodeSettings, split: int = 1, **_: int) -> RawVideos:
    return ucf101.load(root, settings, split, folder_name=MOVING_OBJECTS,
                       script="synthetic_actions")


def _synthetic(root: Path, settings: DecodeSettings, split: int = 1, num_classes: int = 4,
               **_: int) -> RawVideos:
    return synthetic.load(settings, num_classes=num_classes)


DATASETS.register("ucf101", _ucf101, namespace="video")
DATASETS.register("hmdb51", _hmdb51, namespace="video")
DATASETS.register(MOVING_OBJECTS, _moving_objects, namespace="video")
DATASETS.register("synthetic", _synthetic, namespace="video")

__all__ = ["DecodeSettings", "MissingSplitError", "RawVideos"]
