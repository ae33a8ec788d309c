"""The analysis on a results file written by starbench itself:
`mpiexec -n 2 starbench run --config configs/smoke.toml ...` (tiny model, CPU)."""
import os
import shutil
import subprocess
import tomllib

import numpy as np
import pytest

from analysis.merge import merge
from analysis.report import write_report
from analysis.results import load_arrays, load_runs
from analysis import tables

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("STARBENCH_BIN", os.path.join(REPO, "build", "starbench"))
if not os.path.isabs(BINARY):
    BINARY = os.path.join(REPO, BINARY)
SMOKE = os.path.join(REPO, "configs", "smoke.toml")
BLOCKS = [0, 16]  # on 2 ranks: context / 2 (exact: the anchor covers the rest), and 16-token blocks

pytestmark = pytest.mark.skipif(not os.access(BINARY, os.X_OK),
                                reason=f"no starbench binary at {BINARY} (build target 'starbench' or set STARBENCH_BIN)")


def starbench(output: str, *flags: str) -> subprocess.CompletedProcess:
    mpiexec = os.environ.get("STARBENCH_MPIEXEC") or shutil.which("mpiexec")
    assert mpiexec, "mpiexec not found"
    command = [mpiexec, "--oversubscribe"]
    if os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += ["-n", "2", BINARY, "run", "--config", SMOKE, "--output", output, *flags]
    env = dict(os.environ, OMP_NUM_THREADS="1", STARBENCH_COLLECTIVE_TIMEOUT_S="120")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, f"{' '.join(command)}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("e2e") / "tmp.h5")
    starbench(path, "--block-size", ",".join(map(str, BLOCKS)))
    return path


def test_file_holds_the_configured_sweep(results):
    with open(SMOKE, "rb") as handle:
        config = tomllib.load(handle)
    runs = load_runs(results)
    # Lengths and methods come from configs/smoke.toml, blocks from the command line: this
    # fails if the config file is ignored (CLI11 2.1 reads config files on the main app only).
    assert sorted(set(runs.seq_len)) == config["seq-len"]
    assert set(runs.method) == set(config["method"])
    assert (runs.backend == "cpu").all() and (runs.kind == "timing").all()
    for seq_len in config["seq-len"]:
        star = runs[(runs.method == "star") & (runs.seq_len == seq_len)]
        assert sorted(star.block_size) == sorted({seq_len // 2, 16})
    assert len(runs) == len(config["seq-len"]) * 4  # global, ring, star x 2 blocks
    assert (runs[runs.method != "global"].world_size == 2).all()
    assert (runs.repeats == config["repeats"]).all()


def test_summary_numbers_follow_the_raw_arrays(results):
    runs = load_runs(results)
    for _, run in runs.iterrows():
        arrays = load_arrays(run.file, run.run_id)
        assert arrays.context_ms.shape == (run.repeats, run.world_size)
        assert run.context_ms == pytest.approx(np.median(arrays.context_ms.max(axis=1)))
        assert run.peak_mem_bytes == pytest.approx(arrays.peak_bytes.max())
        assert run.context_ms > 0


def test_ring_is_exact_and_star_is_measured(results):
    fidelity = tables.fidelity(load_runs(results))
    ring = fidelity[fidelity.method == "ring"]
    assert len(ring) == 2
    assert (ring.top1_vs_global == 1.0).all() and (ring.kl_vs_global < 1e-4).all()
    star = fidelity[fidelity.method == "star"]
    assert len(star) == 4 and star.top1_vs_global.between(0, 1).all()


def test_report_on_starbench_output(results, tmp_path):
    made = write_report([results], str(tmp_path / "report"))
    # ring + star + two block sizes: every figure but duo's (no duo runs) has data
    # Measured runs only: no duo, no simulated twins, no simulated surface.
    absent = {"duo", "validation", "surface"}
    assert all(path for name, path in made.items() if name not in absent), made
    assert all(made[name] is None for name in absent), made
    speedup = tables.speedup(load_runs(results))
    assert sorted(set(speedup.seq_len)) == [64, 128]
    # one line per star block size measured (both fixed), all against the zigzag ring
    assert sorted(set(speedup.block_rule)) == ["16", "C/ranks"]  # BLOCKS: 0 = context / ranks, 16
    assert (speedup.ring_layout == "zigzag").all()
    text = open(tmp_path / "report" / "report.md", encoding="utf-8").read()
    assert "speedup_vs_length.png" in text


def test_rerun_resumes_and_merge_dedupes(results, tmp_path):
    copy = str(tmp_path / "copy.h5")
    shutil.copyfile(results, copy)
    starbench(copy, "--block-size", ",".join(map(str, BLOCKS)))  # every run already there: nothing added
    assert len(load_runs(copy)) == len(load_runs(results))
    merged = str(tmp_path / "merged.h5")
    summary = merge(merged, [results, copy])
    assert summary.copied == len(load_runs(results)) and summary.duplicates == summary.copied


def test_starbench_appends_to_a_merged_file(results, tmp_path):
    """A merged file is a results store for starbench too: it resumes from it and appends to it."""
    merged = str(tmp_path / "merged.h5")
    merge(merged, [results])
    before = load_runs(merged)
    starbench(merged, "--seq-len", "64,96,128", "--block-size", ",".join(map(str, BLOCKS)))
    after = load_runs(merged)
    added = after[~after.run_id.isin(before.run_id)]
    assert sorted(added.seq_len.unique()) == [96] and len(added) == 4  # only the new length ran
    assert after.run_id.is_unique
    import h5py
    with h5py.File(merged) as handle:
        assert handle["index"].shape == (len(after),)  # starbench rebuilt the index over merged runs too
