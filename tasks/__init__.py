"""Task adapters, one sub-package per modality, registered lazily so nothing heavy loads early.

Importing a task's package registers its datasets, models, attacks and augmentations in the
core registries (under the task's namespace).
"""
from core.registry import TASKS

TASKS.register_lazy("synthetic", "tasks.synthetic.adapter:SyntheticTask")
TASKS.register_lazy("image", "tasks.image.adapter:ImageTask")
TASKS.register_lazy("text", "tasks.text.adapter:TextTask")
TASKS.register_lazy("detection", "tasks.detection.adapter:DetectionTask")
TASKS.register_lazy("detection_boxes", "tasks.detection.box_adapter:BoxDetectionTask")
TASKS.register_lazy("pointcloud", "tasks.pointcloud.adapter:PointCloudTask")
TASKS.register_lazy("video", "tasks.video.adapter:VideoTask")
