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

import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)


@pytest.hookimpl(trylast=True)          # after -k / -m have deselected what they deselect
def pytest_collection_modifyitems(session, config, items):
    """Start the AVX2-capped run of tests/test_other_cpu.py now, beside this one, when its test
    is part of this session (a plain ``python -m pytest``), so the two use both cores."""
    from test_other_cpu import CAPPED_TEST, already_capped, start_capped_run

    if not already_capped() and any(item.nodeid.endswith(CAPPED_TEST) for item in items):
        config.capped_run = start_capped_run()


def pytest_unconfigure(config):
    """An interrupted or failed-fast session does not leave the capped run behind."""
    started = getattr(config, "capped_run", None)
    if started is not None and started[0].poll() is None:
        started[0].terminate()
