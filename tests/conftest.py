import os
import sys
from pathlib import Path

# one thread, also for the runner subprocesses some tests start: on a shared 2-core machine two
# OpenMP threads wait on each other at every small op (measured: 20x slower under load)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)
