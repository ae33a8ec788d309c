import os
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from analysis.tests import synthetic  # noqa: E402


@pytest.fixture
def repo() -> str:
    return REPO


@pytest.fixture
def sweep_file(tmp_path) -> str:
    """Global, ring and star at 1K/2K/4K on 4 ranks, two extra block sizes at 4K, one unfinished run."""
    path = str(tmp_path / "sweep.h5")
    synthetic.write_results(path, synthetic.sweep(world_size=4, blocks_at=4096),
                            incomplete=[synthetic.timing_run("ring", 8192, 4, 1.0)])
    return path
