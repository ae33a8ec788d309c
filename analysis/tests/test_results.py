import h5py
import numpy as np
import pytest

from analysis.results import ResultsError, load_arrays, load_runs, open_store


def test_loads_complete_runs_only(sweep_file):
    runs = load_runs(sweep_file)
    assert len(runs) == 11  # 3 lengths x 3 methods + 2 block sizes; the unfinished 8K ring run is left out
    assert 8192 not in set(runs.seq_len)
    assert set(runs.method) == {"global", "ring", "star"}
    assert runs.run_id.is_unique
    assert (runs.file == sweep_file).all()


def test_decodes_fixed_length_strings(tmp_path):
    path = str(tmp_path / "fixed.h5")
    with h5py.File(path, "w") as handle:
        handle.attrs["starbench_schema"] = np.bytes_(b"starbench-results/1")
        group = handle.create_group("runs/run_000001")
        group.attrs["method"] = np.bytes_(b"ring")
        group.attrs["seq_len"] = np.int32(512)
        group.attrs["context_ms"] = np.float32(2.5)
        group.attrs["complete"] = 1
    runs = load_runs(path)
    assert runs.method.tolist() == ["ring"]
    assert runs.seq_len.tolist() == [512]
    assert runs.context_ms.tolist() == [2.5]
    assert np.isnan(runs.kl_vs_global.iloc[0])  # absent keys become NaN columns, not KeyErrors


def test_arrays_per_rank(sweep_file):
    runs = load_runs(sweep_file)
    ring = runs[(runs.method == "ring") & (runs.seq_len == 1024)].iloc[0]
    arrays = load_arrays(ring.file, ring.run_id)
    assert arrays.context_ms.shape == (3, 4)
    # The stored summary is the median over repeats of the slowest rank.
    assert np.median(arrays.context_ms.max(axis=1)) == pytest.approx(ring.context_ms)
    assert arrays.peak_bytes.shape == (4,)


def test_refuses_files_that_are_not_results(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(ResultsError, match="not an HDF5 file"):
        open_store(str(text))
    other = str(tmp_path / "other.h5")
    with h5py.File(other, "w") as handle:
        handle.create_dataset("x", data=[1])
    with pytest.raises(ResultsError, match="not a starbench results file"):
        load_runs(other)
    with pytest.raises(ResultsError, match="no such file"):
        load_runs(str(tmp_path / "missing.h5"))
