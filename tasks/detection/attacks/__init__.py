"""Attacks of the detection task (one file each); importing registers them."""
from . import clean_image  # noqa: F401
