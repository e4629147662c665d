"""Purify a model you hold: the ``nft-suite purify`` command (``purify_cli``) and its Python API
(``api``: ``purify``, ``compare``), with the model loaders (``models``), image-folder data
(``data``) and writers that keep the input's format (``output``)."""
from .api import PractitionerInputError, compare, purify  # noqa: F401  (the Python API)
