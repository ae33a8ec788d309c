import os

import h5py
import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.merge import merge, merge_key
from analysis.results import ResultsError, load_arrays, load_runs
from analysis.tests import synthetic


def _array_job(tmp_path, name, block):
    """What a block-size array task leaves: the copied global baseline plus its own star run."""
    path = str(tmp_path / name)
    synthetic.write_results(path, [synthetic.timing_run("global", 4096, 4, 100.0),
                                   synthetic.timing_run("star", 4096, 4, block / 100, block_size=block,
                                                        anchor_size=block)])
    return path


def test_merge_keeps_each_run_once(tmp_path):
    inputs = [_array_job(tmp_path, f"task{i}.h5", block) for i, block in enumerate([256, 512, 1024])]
    before = [os.path.getmtime(p) for p in inputs]
    out = str(tmp_path / "merged.h5")
    summary = merge(out, inputs)
    assert (summary.copied, summary.duplicates) == (4, 2)  # the global baseline once, three star runs
    runs = load_runs(out)
    assert sorted(runs.method.tolist()) == ["global", "star", "star", "star"]
    assert sorted(runs.block_size[runs.method == "star"]) == [256, 512, 1024]
    assert runs.run_id.tolist() == [f"run_{i:06d}" for i in range(1, 5)]
    assert [os.path.getmtime(p) for p in inputs] == before
    # Arrays travel with their run.
    star = runs[(runs.method == "star") & (runs.block_size == 512)].iloc[0]
    assert load_arrays(star.file, star.run_id).context_ms.shape == (3, 4)
    with h5py.File(out) as handle:
        assert handle.attrs["starbench_schema"] == "starbench-results/1"
        assert handle["runs"][star.run_id].attrs["merged_from"] == "task1.h5:run_000002"


def test_index_is_rebuilt_and_pandas_readable(tmp_path, sweep_file):
    out = str(tmp_path / "merged.h5")
    merge(out, [sweep_file])
    with h5py.File(out) as handle:
        index = pd.DataFrame(handle["index"][()])
    assert len(index) == 11  # complete runs only
    assert [r.decode() for r in index.run_id] == [f"run_{i:06d}" for i in range(1, 12)]
    assert index.seq_len.dtype == np.int64 and index.context_ms.dtype == np.float64
    runs = load_runs(out).set_index("run_id")
    for row in index.itertuples():
        assert row.method.decode() == runs.loc[row.run_id.decode(), "method"]
        assert row.context_ms == pytest.approx(runs.loc[row.run_id.decode(), "context_ms"])
    # A key only some runs have: NaN where it is missing (global has no fidelity).
    assert index.kl_vs_global.isna().sum() == 3


def test_merge_into_existing_output_appends(tmp_path, sweep_file):
    out = str(tmp_path / "merged.h5")
    merge(out, [sweep_file])
    again = merge(out, [sweep_file])
    assert (again.copied, again.duplicates) == (0, 11)
    extra = str(tmp_path / "extra.h5")
    synthetic.write_results(extra, [synthetic.timing_run("ring", 8192, 4, 9.0)])
    assert merge(out, [extra]).copied == 1
    runs = load_runs(out)
    assert len(runs) == 12 and runs.run_id.iloc[-1] == "run_000012"


def test_merge_refuses_bad_inputs(tmp_path, sweep_file):
    with pytest.raises(ResultsError, match="both an input and the output"):
        merge(sweep_file, [sweep_file])
    bogus = tmp_path / "bogus.h5"
    bogus.write_text("nope")
    out = str(tmp_path / "out.h5")
    with pytest.raises(ResultsError, match="bogus.h5: not an HDF5 file"):
        merge(out, [sweep_file, str(bogus)])
    assert not os.path.exists(out)  # nothing written when an input is bad
    assert not [p for p in os.listdir(tmp_path) if ".tmp." in p]


def test_merge_command(tmp_path, sweep_file, capsys):
    out = str(tmp_path / "cli.h5")
    assert main(["merge", out, sweep_file]) == 0
    assert "11 run(s) added" in capsys.readouterr().out
    assert main(["merge", out, str(tmp_path / "missing.h5")]) == 1
    assert "missing.h5: no such file" in capsys.readouterr().err


def _on(run: dict, **text) -> dict:
    run["text"].update(text)
    return run


def test_merge_keeps_the_same_run_measured_on_other_hardware(tmp_path):
    """params_key written before starbench recorded hardware is the same for an H100 and an H200 run,
    or for one node of 8 ranks and two of 4: the device and node_layout attributes tell them apart."""
    def one(name, **text):
        path = str(tmp_path / name)
        synthetic.write_results(path, [_on(synthetic.timing_run("ring", 65536, 8, 50.0), **text)])
        return path

    h100 = one("h100.h5", device="NVIDIA H100 80GB HBM3", node_layout="1x8")
    h200 = one("h200.h5", device="NVIDIA H200", node_layout="1x8")
    h200_2x4 = one("h200_2x4.h5", device="NVIDIA H200", node_layout="2x4")
    h200_again = one("h200_again.h5", device="NVIDIA H200", node_layout="1x8")
    out = str(tmp_path / "merged.h5")
    summary = merge(out, [h100, h200, h200_2x4, h200_again])
    assert (summary.copied, summary.duplicates) == (3, 1)
    runs = load_runs(out)
    assert sorted(zip(runs.device, runs.node_layout)) == [
        ("NVIDIA H100 80GB HBM3", "1x8"), ("NVIDIA H200", "1x8"), ("NVIDIA H200", "2x4")]


def test_merge_key_of_runs_with_and_without_hardware(tmp_path):
    path = str(tmp_path / "runs.h5")
    new_style = synthetic.timing_run("star", 4096, 4, 5.0)
    new_style["text"]["params_key"] += ";device=NVIDIA H200;node_layout=1x4"
    old_style = _on(synthetic.timing_run("star", 8192, 4, 5.0), device="NVIDIA H200")
    synthetic.write_results(path, [new_style, old_style])
    with h5py.File(path) as handle:
        keys = [merge_key(handle["runs"][name]) for name in sorted(handle["runs"])]
    assert keys[0] == new_style["text"]["params_key"]  # already says where it ran
    assert keys[1] == old_style["text"]["params_key"] + ";device=NVIDIA H200;node_layout="  # layout unknown


def test_merge_writes_through_a_symlinked_output(tmp_path, sweep_file):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "all.h5"
    link = tmp_path / "all.h5"
    link.symlink_to(target)  # dangling: the merge creates the target
    merge(str(link), [sweep_file])
    assert link.is_symlink() and target.is_file()
    assert len(load_runs(str(link))) == 11
