import pandas as pd
import pytest

from analysis import tables
from analysis.results import load_runs
from analysis.tests import synthetic


def test_speedup_matches_the_times(sweep_file):
    everything = tables.speedup(load_runs(sweep_file))
    # One line per star block rule: context / ranks at every length, and each fixed block size measured at 4K.
    assert sorted(set(everything.block_rule)) == ["256", "512", "C/ranks"]
    assert (everything.ring_layout == "zigzag").all()  # files without the attribute held zigzag rings
    table = everything[everything.block_rule == "C/ranks"]
    assert table.seq_len.tolist() == [1024, 2048, 4096]
    # synthetic.sweep: star context time = ring / (1.5 + i)
    assert table.context_speedup.tolist() == pytest.approx([1.5, 2.5, 3.5])
    assert table.block_size.tolist() == [256, 512, 1024]
    expected_total = table.ring_total_ms / table.star_total_ms
    assert table.total_speedup.tolist() == pytest.approx(expected_total.tolist())
    assert (table.total_speedup < table.context_speedup).all()  # same query/decode time dilutes the gain


def test_without_ring_there_is_no_speedup(tmp_path):
    path = str(tmp_path / "star_only.h5")
    synthetic.write_results(path, [synthetic.timing_run("star", 1024, 2, 5.0, block_size=512, anchor_size=512)])
    assert tables.speedup(load_runs(path)).empty


def test_breakdown_phases_add_up(sweep_file):
    table = tables.breakdown(load_runs(sweep_file))
    assert len(table) == 9  # one star layout per length
    assert (table.context_ms + table.query_ms + table.decode_total_ms).tolist() == pytest.approx(table.total_ms.tolist())
    # generate = 3: the query pass yields the first token, decode the other 2 at 1 ms each.
    assert table.decode_total_ms.tolist() == pytest.approx([2.0] * 9)
    assert table.method.tolist()[:3] == ["global", "ring", "star"]


def test_block_tradeoff_only_where_several_blocks(sweep_file):
    table = tables.block_tradeoff(load_runs(sweep_file))
    assert set(table.seq_len) == {4096}
    assert table.block_size.tolist() == [256, 512, 1024]
    assert table.ring_context_ms.nunique() == 1
    assert table.context_speedup.tolist() == pytest.approx((table.ring_context_ms / table.context_ms).tolist())


def test_duplicate_measurements_reduce_to_the_median(tmp_path):
    paths = []
    for i, star_ms in enumerate([10.0, 20.0, 60.0]):
        path = str(tmp_path / f"part{i}.h5")
        synthetic.write_results(path, [synthetic.timing_run("ring", 1024, 2, 40.0),
                                       synthetic.timing_run("star", 1024, 2, star_ms, block_size=512,
                                                            anchor_size=512)])
        paths.append(path)
    table = tables.speedup(load_runs(paths))
    assert len(table) == 1
    assert table.star_context_ms.iloc[0] == pytest.approx(20.0)
    assert table.context_speedup.iloc[0] == pytest.approx(2.0)


def test_markdown_table():
    text = tables.with_markdown(pd.DataFrame({"a": [1, 2], "b": [0.5, float("nan")]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.5 |", "| 2 | - |"]


def test_task_summaries_give_fidelity_and_their_block_rule(tmp_path):
    """Task summaries carry their samples' mean fidelity to global (issue 20, item 14): the fidelity table and the
    accuracy figure's fidelity panel show them per task, apart from timing runs, star lines by their rule."""
    from analysis import figures, paper
    runs = [synthetic.task_summary("vt", "global", 2048, 1, 80.0, 1.0)]
    for rule, divisor, top1 in [("C/8", 8, 0.75), ("C/2", 2, 1.0)]:
        star = synthetic.task_summary("vt", "star", 2048, 2, 60.0, 0.75, block_size=2048 // divisor)
        star["text"].update(block_rule=rule, label=f"star(b={rule},a=-1)", anchor_mode="sent")
        star["numbers"].update(top1_vs_global=top1, kl_vs_global=0.01)
        star["text"]["params_key"] += f";rule={rule}"
        runs.append(star)
    ring = synthetic.task_summary("file:mine", "ring", 1500, 2, 80.0, 1.0)
    ring["text"].update(ring_layout="contiguous", label="ring(contiguous)")
    ring["numbers"].update(top1_vs_global=1.0)
    runs.append(ring)
    runs.append(synthetic.timing_run("star", 2048, 2, 5.0, block_size=256, anchor_size=256,
                                     fidelity={"top1_vs_global": 0.5, "kl_vs_global": 0.2}))
    path = str(tmp_path / "tasks.h5")
    synthetic.write_results(path, runs)
    loaded = load_runs(path)
    fidelity = tables.fidelity(loaded)
    shown = {(t, m, r, b, l): top1 for t, m, r, b, l, top1 in
             zip(fidelity.task, fidelity.method, fidelity.block_rule, fidelity.block_size, fidelity.label,
                 fidelity.top1_vs_global)}
    assert shown == {("vt", "star", "C/8", 256, "star(b=C/8,a=-1)"): 0.75, ("vt", "star", "C/2", 1024, "star(b=C/2,a=-1)"): 1.0,
                     ("file:mine", "ring", "", 0, "ring(contiguous)"): 1.0, ("", "star", "fixed", 256, ""): 0.5}, shown
    accuracy = tables.task_accuracy(loaded)
    assert sorted(accuracy[accuracy.method == "star"].block_rule) == ["C/2", "C/8"]
    figure = figures.draw_accuracy(accuracy, fidelity, paper.load_points())
    panels = [axis for axis in figure.axes if (axis.get_gid() or "").endswith("column=fidelity")]
    assert panels, [axis.get_gid() for axis in figure.axes]
    series = {line.get_gid().split(";")[1] for axis in panels for line in axis.get_lines()
              if (line.get_gid() or "").startswith("line;")}
    # Each task's lines apart from the timing run's (its derived label: no label recorded in this file).
    assert series == {"series=vt: star(b=C/8,a=-1)", "series=vt: star(b=C/2,a=-1)",
                      "series=file:mine: ring(contiguous)", "series=star block 256"}, series
