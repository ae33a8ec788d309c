import os

import pytest

from analysis import duo, tables
from analysis.report import write_report
from analysis.results import load_runs
from analysis.tests import synthetic


def duo_run(seq_len, context_ms, decode_ms, kv_bytes, decode_peak, pattern="random:1", sparsity=0.5):
    run = synthetic.timing_run("duo", seq_len, 1, context_ms, decode_ms=decode_ms)
    run["text"]["duo_pattern"] = pattern
    run["numbers"].update(kv_cache_bytes=kv_bytes, decode_peak_mem_bytes=decode_peak, duo_sparsity=sparsity)
    run["text"]["params_key"] += f";duo={pattern}"
    return run


def global_run(seq_len, context_ms, decode_ms, kv_bytes, decode_peak):
    run = synthetic.timing_run("global", seq_len, 1, context_ms, decode_ms=decode_ms)
    run["numbers"].update(kv_cache_bytes=kv_bytes, decode_peak_mem_bytes=decode_peak)
    return run


@pytest.fixture
def duo_file(tmp_path):
    path = str(tmp_path / "duo.h5")
    gib = 2.0**30
    runs = []
    for seq_len, (prefill, decode, memory) in {65536: (1.4, 1.2, 1.2), 262144: (1.7, 1.5, 1.5)}.items():
        kv = seq_len * 131072.0
        runs.append(global_run(seq_len, 1000.0 * prefill, 10.0 * decode, kv, 16 * gib + kv))
        runs.append(duo_run(seq_len, 1000.0, 10.0, kv / 2, (16 * gib + kv) / memory))
    star = synthetic.timing_run("star", 65536, 2, 500.0, block_size=32768, anchor_size=32768)
    star_duo = synthetic.timing_run("star", 65536, 2, 480.0, block_size=32768, anchor_size=32768)
    star_duo["text"]["duo_pattern"] = "random:1"
    star_duo["text"]["params_key"] += ";duo=random:1"
    synthetic.write_results(path, runs + [star, star_duo])
    return path


def test_comparison_ratios_are_global_over_duo(duo_file):
    table = duo.comparison(load_runs(duo_file))
    assert table.seq_len.tolist() == [65536, 262144]
    assert table.prefill_ratio.tolist() == pytest.approx([1.4, 1.7])
    assert table.decode_ratio.tolist() == pytest.approx([1.2, 1.5])
    assert table.memory_ratio.tolist() == pytest.approx([1.2, 1.5])
    assert table.kv_ratio.tolist() == pytest.approx([2.0, 2.0])
    assert (table.duo_pattern == "random:1").all()


def test_star_with_a_pattern_is_its_own_method(duo_file):
    runs = load_runs(duo_file)
    assert set(runs.method) == {"global", "duo", "star", "star+duo"}
    # Star's tables keep plain star only: one star layout at 64K, not two.
    assert len(tables.default_star(runs[runs.method == "star"])) == 1


def test_report_draws_the_duo_figure(tmp_path, duo_file):
    out = str(tmp_path / "report")
    made = write_report([duo_file], out)
    assert made["duo"] and os.path.exists(made["duo"])
    text = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "](duo_vs_global.png)" in text and "2410.10819" in text


def test_no_duo_runs_no_duo_figure(tmp_path, sweep_file):
    made = write_report([sweep_file], str(tmp_path / "report"))
    assert made["duo"] is None
    text = open(tmp_path / "report" / "report.md", encoding="utf-8").read()
    assert "_Not drawn: needs duo and global timing runs at one length._" in text
