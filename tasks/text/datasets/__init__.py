"""Text datasets, registered in ``core.registry.DATASETS`` under the ``text`` namespace.

Each entry is a ``TextDataset`` (task kind ``mt`` or ``dg``, a loader ``load(root) -> Corpus``,
and the command that prepares it). ``synthetic`` is generated in memory (its sizes are data
options of the adapter).
"""
from core.registry import DATASETS

from . import dialogue, multi30k, synthetic, wmt14
from .corpus import Corpus, Pairs, TextDataset
from .text_files import DatasetNotFoundError

for _dataset in (multi30k.DATASET, wmt14.DATASET, dialogue.OPENSUBTITLES_DATASET,
                 dialogue.CHATTERBOT_DATASET, synthetic.DATASET):
    DATASETS.register(_dataset.name, _dataset, namespace="text")

__all__ = ["Corpus", "DatasetNotFoundError", "Pairs", "TextDataset"]
