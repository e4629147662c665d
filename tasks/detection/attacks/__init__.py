"""Attacks of the detection task (one file each); importing registers them: the clean-image
backdoor (multilabel kind) and BadDet's four attacks (boxes kind)."""
from . import baddet_gma, baddet_oda, baddet_oga, baddet_rma, clean_image  # noqa: F401
