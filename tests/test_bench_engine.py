"""The engine-overhead benchmark, run once at its smallest size so that it cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.engine import ENGINE_GROUP, require_engine
from tests.support.process import ROOT


@pytest.mark.timeout(600)
@pytest.mark.xdist_group(ENGINE_GROUP)
def test_engine_overhead_benchmark_runs() -> None:
    require_engine()
    run = subprocess.run(
        [sys.executable, "-m", "bench.engine_overhead", "--pairs", "1", "--no-target"],
        cwd=ROOT, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "through canvas-live vs straight to the engine" in run.stdout and "ratio" in run.stdout
