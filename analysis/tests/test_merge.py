import os

import h5py
import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.merge import merge
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
