import os
import sys
from pathlib import Path

# one thread, also for the runner subprocesses some tests start: on a shared 2-core machine two
# OpenMP threads wait on each other at every small op (measured: 20x slower under load)
os.environ.setdefault("OMP_NUM_THREADS", "1")
# float32 on every CPU: a preset's cpu_bf16 "auto" would train in bfloat16 only on CPUs with
# native bf16, so a test's numbers would depend on the CPU model (issue 23). Tests of the bf16
# path itself set cpu_bf16=True explicitly, which this does not touch.
os.environ["NFT_CPU_BF16"] = "0"

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)
