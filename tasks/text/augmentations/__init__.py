"""NFT's text augmentations (registered under the ``text`` namespace): ``word_deletion``
(the adapter's default) and ``paraphrase``. Both map ``(sources, targets, generator)`` to a new
batch of the same shapes, changing sources only."""
from . import paraphrase, word_deletion  # (registration)

__all__ = ["paraphrase", "word_deletion"]
