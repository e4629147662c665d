"""The suite once more as an older CPU runs it (issue 23): oneDNN and ATen capped at AVX2.

A machine with native bf16/AMX would otherwise never run the path a CPU without them takes
(float32 under ``cpu_bf16: auto``, AVX2 float32 kernels), and the other way round on an older
machine the cap changes nothing. So the README's one test command checks both: when this test is
collected, ``tests/conftest.py`` starts the suite again in a subprocess with
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`` at the start of the session (it runs on the
second core beside the outer run: every test runs one thread), and this test waits for it. The
capped run covers every test that trains or compares numbers. Left out, to keep CI well under its
30 minutes: the tests that check that a code path runs or an input is refused, whatever the
numbers (the registry contracts, the paper-scale ``reproduce --smoke`` tables, the damaged-input
corpus, the layout rules); they run once, in the outer run.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPPED = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
#: test files that check paths and refusals, not numbers (the module docstring); this file too
PATHS_NOT_NUMBERS = ("test_other_cpu.py", "test_contracts.py", "test_registering_new_parts.py",
                     "test_reproduce.py", "test_bad_inputs.py", "test_layout.py")
CAPPED_TEST = "test_other_cpu.py::test_the_numeric_tests_pass_with_onednn_and_aten_capped_at_avx2"


def already_capped() -> bool:
    return bool(os.environ.get("ONEDNN_MAX_CPU_ISA"))


def start_capped_run() -> tuple[subprocess.Popen, Path]:
    """Start the capped run; its output goes to a file (a pipe could fill and block it)."""
    log = Path(tempfile.mkstemp(prefix="nft-capped-run-", suffix=".log")[1])
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               *(f"--ignore=tests/{name}" for name in PATHS_NOT_NUMBERS)]
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **CAPPED},
                                   stdout=handle, stderr=subprocess.STDOUT)
    return process, log


@pytest.mark.skipif(already_capped(),
                    reason="this run is already capped (it is the inner run, or the user's own)")
def test_the_numeric_tests_pass_with_onednn_and_aten_capped_at_avx2(request):
    started = getattr(request.config, "capped_run", None)
    process, log = started if started is not None else start_capped_run()
    code = process.wait()
    tail = log.read_text()[-6000:]
    assert code == 0, f"the suite fails with {CAPPED}:\n{tail}"
    print(tail.strip().splitlines()[-1])
    log.unlink()


def test_the_cap_reaches_the_kernels_of_a_subprocess():
    """ATen's dispatch really drops to AVX2 under the cap (else the test above proves nothing)."""
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    capped = subprocess.run([sys.executable, "-c", code], env={**os.environ, **CAPPED},
                            capture_output=True, text=True, check=True).stdout.strip()
    assert capped in ("AVX2", "DEFAULT", "NO AVX")   # never above AVX2
