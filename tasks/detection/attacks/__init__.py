"""Attacks of the detection task (one file each); importing registers them: the clean-image
backdoor (task detection) and BadDet's four attacks (task detection_boxes)."""
from . import baddet_gma, baddet_oda, baddet_oga, baddet_rma, clean_image  # noqa: F401
