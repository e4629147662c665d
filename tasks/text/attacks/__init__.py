"""Seq2seq backdoor attacks, one file each, registered under the ``text`` namespace."""
from . import synonym, trigger_word  # (registration)

__all__ = ["synonym", "trigger_word"]
