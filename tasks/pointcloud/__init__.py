"""The point-cloud classification task: ModelNet10/40 and synthetic primitives, PointNet++
(SSG/MSG, plain PyTorch) and PointNet, the attacks PointBA-I, PointBA-O, PointCBA and 3DPC-BA,
and NFT's point-set augmentations (rotation about the up axis, point dropout, a subset mix)."""
from . import attacks, augmentations, models  # noqa: F401  (registration)
