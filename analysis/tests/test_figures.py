"""The report figures' rules, checked on the drawn objects (not pixels) for the results in docs/data/:
one panel per setting (model, GPU, rank count, host layout), ring layouts never joined, log axes where
values span more than 100x, one legend of bounded size, point kinds drawn apart, the paper only where its
setting is, no empty panel, bounded images; and the reductions behind them (repeats pooled, warm-up kept
apart, recorded labels preferred)."""
import os

import matplotlib.image
import numpy as np
import pytest

from analysis import figures, paper, plotting, tables
from analysis.results import load_runs
from analysis.tests import synthetic

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "data")
FILES = {
    "x2": ["star_study_2xh200.h5"],
    "x4": ["star_study_4xh200.h5"],
    "study": ["star_study_2xh200.h5", "star_study_4xh200.h5"],
    "predictions": ["predictions.h5"],
    "validation": ["star_study_2xh200.h5", "star_study_4xh200.h5", "validation_sim.h5"],
    "duo": ["duo_h200.h5"],
}
MAX_LEGEND = 20


@pytest.fixture(scope="module")
def loaded():
    cache = {}

    def runs(name):
        if name not in cache:
            cache[name] = load_runs([os.path.join(DATA, f) for f in FILES[name]])
        return cache[name]
    return runs


@pytest.fixture(scope="module")
def points():
    return paper.load_points()


def draw_all(runs, points):
    """Every facetted figure of the report for these runs ({name: Figure or None})."""
    phases = tables.phase_times(runs)
    return {
        "speedup": figures.draw_speedup(tables.speedup(runs), points),
        "breakdown": figures.draw_breakdown(phases),
        "accuracy": figures.draw_accuracy(tables.task_accuracy(runs), tables.fidelity(runs), points),
        "block_size": figures.draw_block_size(tables.block_tradeoff(runs)),
        "memory": figures.draw_memory(phases, runs),
        "work": figures.draw_work(runs),
    }


def gid_fields(gid: str) -> dict:
    return dict(part.split("=", 1) for part in (gid or "").split(";")[1:] if "=" in part)


def panels(figure):
    return [axis for axis in figure.axes if (axis.get_gid() or "").startswith("panel;")]


def series_lines(axis):
    return [line for line in axis.lines if (line.get_gid() or "").startswith("line;")]


def settings(frame):
    frame = plotting.with_panels(frame)
    return {(int(w), h, m, d) for w, h, m, d in zip(frame.world_size, frame.host_layout, frame.model,
                                                     frame.panel_device)}


def panel_settings(figure):
    out = set()
    for axis in panels(figure):
        fields = gid_fields(axis.get_gid())
        out.add((int(fields["ranks"]), fields["hosts"], fields["model"], fields["device"]))
    return out


@pytest.mark.parametrize("name", list(FILES))
def test_every_figure_keeps_the_rules(name, loaded, points, tmp_path):
    runs = loaded(name)
    for figure_name, figure in draw_all(runs, points).items():
        if figure is None:
            continue
        where = f"{name}/{figure_name}"
        # One legend for the figure, of bounded size, no repeated entries; none inside the panels.
        assert len(figure.legends) == 1, where
        texts = [t.get_text() for t in figure.legends[0].get_texts()]
        assert len(texts) <= MAX_LEGEND, (where, texts)
        assert len(texts) == len(set(texts)), (where, texts)
        assert all(axis.get_legend() is None for axis in figure.axes), where
        # No empty panel; every panel names its setting.
        assert panels(figure), where
        for axis in figure.axes:
            assert plotting.has_data(axis), (where, axis.get_gid(), axis.get_title())
        for axis in panels(figure):
            lines = series_lines(axis)
            # A series never doubles back (one point per length or block size) and names one layout.
            for line in lines:
                x = np.asarray(line.get_xdata(), dtype=float)
                assert np.all(np.diff(x) > 0), (where, line.get_gid(), x)
                assert gid_fields(line.get_gid())["layout"] in ("", "zigzag", "contiguous"), line.get_gid()
            # Log scale where the series span more than 100x.
            values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in lines] or [np.zeros(0)])
            values = values[np.isfinite(values) & (values > 0)]
            if values.size and values.max() / values.min() > 100:
                assert axis.get_yscale() == "log", (where, axis.get_gid(), values.min(), values.max())
        # A bounded image.
        path = plotting.save(figure, str(tmp_path), f"{name}_{figure_name}.png")
        height, width = matplotlib.image.imread(path).shape[:2]
        assert max(height, width) <= plotting.MAX_PIXELS and min(height, width) >= 300, (where, width, height)


@pytest.mark.parametrize("name", ["study", "predictions", "validation"])
def test_speedup_one_panel_pair_per_setting(name, loaded, points):
    table = tables.speedup(loaded(name))
    figure = figures.draw_speedup(table, points)
    assert panel_settings(figure) == settings(table)
    columns = {}
    for axis in panels(figure):
        fields = gid_fields(axis.get_gid())
        columns.setdefault((fields["ranks"], fields["hosts"], fields["model"], fields["device"]), set()).add(
            fields["column"])
    assert all(found == {"context phase", "whole request"} for found in columns.values()), columns
    # Every point of a series line is a table row of that line's ring layout, rank count and phase.
    table = plotting.with_panels(table)
    for axis in panels(figure):
        fields = gid_fields(axis.get_gid())
        column = "context_speedup" if fields["column"] == "context phase" else "total_speedup"
        rows = table[(table.world_size == int(fields["ranks"])) & (table.host_layout == fields["hosts"])
                     & (table.model == fields["model"]) & (table.panel_device == fields["device"])]
        for line in series_lines(axis):
            layout = gid_fields(line.get_gid())["layout"]
            mine = rows[rows.ring_layout == layout]
            for x, y in zip(line.get_xdata(), line.get_ydata()):
                assert np.isclose(mine[mine.seq_len == x][column], y).any(), (line.get_gid(), x, y)


def paper_axes(figure):
    return [axis for axis in figure.axes
            if any((line.get_gid() or "") == "points;kind=paper" for line in axis.lines)]


def test_paper_points_only_on_their_setting(loaded, points):
    # 4 ranks, Llama-3.1-8B, whole request: the 4-rank measurement has them, the 2-rank one not.
    study = figures.draw_speedup(tables.speedup(loaded("study")), points)
    found = [gid_fields(axis.get_gid()) for axis in paper_axes(study)]
    assert [(f["ranks"], f["column"]) for f in found] == [("4", "whole request")]
    assert not paper_axes(figures.draw_speedup(tables.speedup(loaded("x2")), points))
    # Predictions: only the simulated A100 4-rank panel (the paper's GPUs and count), not 8+ ranks.
    predicted = figures.draw_speedup(tables.speedup(loaded("predictions")), points)
    found = [gid_fields(axis.get_gid()) for axis in paper_axes(predicted)]
    assert [(f["ranks"], f["column"], f["model"]) for f in found] == [("4", "whole request", "llama3.1-8b")]
    # DuoAttention's fidelity is not the paper's RULER ratio: no published points there.
    assert not paper_axes(figures.draw_accuracy(tables.task_accuracy(loaded("duo")), tables.fidelity(loaded("duo")),
                                                points))


def test_point_kinds_drawn_apart(loaded, points):
    kinds = plotting.drawn_kinds
    assert kinds(figures.draw_speedup(tables.speedup(loaded("x4")), points)) == {"measured", "no warm-up", "paper"}
    assert kinds(figures.draw_speedup(tables.speedup(loaded("x2")), points)) == {"measured"}
    assert kinds(figures.draw_speedup(tables.speedup(loaded("predictions")), points)) == {"simulated", "paper"}
    both = figures.draw_breakdown(tables.phase_times(loaded("validation")))
    assert {"measured", "no warm-up", "simulated"} <= kinds(both)
    # Measured and simulated of one setting share its panel (the GPU named without "(simulated)").
    assert all("simulated" not in gid_fields(a.get_gid())["device"] for a in panels(both))
    # The legend explains each kind drawn.
    legend = [t.get_text() for t in both.legends[0].get_texts()]
    for kind in ("measured", "no warm-up", "simulated"):
        assert plotting.KIND_LEGEND[kind] in legend


def test_figures_without_data_are_not_drawn(loaded, points):
    made = draw_all(loaded("study"), points)
    assert made["accuracy"] is None  # no task runs, no global reference for fidelity
    duo = draw_all(loaded("duo"), points)
    assert duo["speedup"] is None and duo["block_size"] is None and duo["work"] is None
    # DuoAttention's file has fidelity but no task runs: the fidelity panel alone, no panel of only paper points.
    columns = {gid_fields(axis.get_gid())["column"] for axis in panels(duo["accuracy"])}
    assert columns == {"fidelity"}


def test_block_size_shows_both_rings_and_no_empty_fidelity(loaded):
    figure = figures.draw_block_size(tables.block_tradeoff(loaded("study")))
    assert {gid_fields(a.get_gid())["column"] for a in panels(figure)} == {"time"}  # no fidelity measured
    assert panel_settings(figure) == settings(tables.block_tradeoff(loaded("study")))
    styles = {}
    for axis in panels(figure):
        for line in axis.lines:
            if (line.get_gid() or "").startswith("ring;"):
                styles.setdefault(gid_fields(line.get_gid())["layout"], set()).add(line.get_linestyle())
    assert set(styles) == {"zigzag", "contiguous"} and styles["zigzag"] != styles["contiguous"]


def test_work_one_row_per_setting_with_legible_ticks(loaded):
    runs = loaded("predictions")
    figure = figures.draw_work(runs)
    with_both = {key for key, group in plotting.panel_groups(runs[runs.method.isin(["ring", "star"])])
                 if (group.groupby("seq_len").method.nunique() == 2).any()}
    assert panel_settings(figure) == {(int(k[2]), k[3], k[0], k[1]) for k in with_both}
    for axis in panels(figure):
        assert len(axis.get_xticks()) <= 10, axis.get_gid()
        assert len([a for a in panels(figure) if a.get_gid() == axis.get_gid()]) == 1
    # At most two rings and WORK_STARS star settings per row.
    per_row = {}
    for axis in panels(figure):
        fields = gid_fields(axis.get_gid())
        per_row.setdefault((fields["ranks"], fields["hosts"], fields["model"], fields["device"]), []).append(
            fields["column"])
    assert max(len(v) for v in per_row.values()) <= 2 + figures.WORK_STARS


def test_memory_series_by_layout(loaded):
    figure = figures.draw_memory(tables.phase_times(loaded("study")), loaded("study"))
    labels = set()
    for axis in panels(figure):
        for line in series_lines(axis):
            labels.add(gid_fields(line.get_gid())["series"])
    assert {"ring zigzag", "ring contiguous"} <= labels
    assert {gid_fields(a.get_gid())["column"] for a in panels(figure)} == {"by length", "by rank"}


# --- the reductions behind the figures --------------------------------------------------------------


def test_repeats_of_one_setting_are_pooled(tmp_path):
    """Two runs of one setting (--repeats 1 and 3): the median of their 4 repeats, not the mean of medians."""
    one = synthetic.timing_run("ring", 2048, 2, 40.0, repeats=1)
    three = synthetic.timing_run("ring", 2048, 2, 65.0, repeats=3)  # repeats 58.5, 65, 78 (slowest rank)
    star = synthetic.timing_run("star", 2048, 2, 10.0, block_size=1024, anchor_size=1024)
    path = str(tmp_path / "repeats.h5")
    synthetic.write_results(path, [one, three, star])
    table = tables.speedup(load_runs(path))
    assert len(table) == 1
    pooled = np.median([40.0 * 0.9, 65.0 * 0.9, 65.0, 65.0 * 1.2])
    assert table.ring_context_ms.iloc[0] == pytest.approx(pooled)
    assert table.ring_context_ms.iloc[0] != pytest.approx((40.0 + 65.0) / 2)
    ring = tables.phase_times(load_runs(path))
    ring = ring[ring.method == "ring"]
    assert ring.runs.tolist() == [2] and ring.repeats.tolist() == [4]


def test_repeats_pooled_on_the_measured_data(loaded):
    """docs/data/star_study_2xh200.h5 holds the 128K contiguous ring twice (--repeats 1 and 2)."""
    import h5py
    runs = loaded("x2")
    chosen = runs[(runs.method == "ring") & (runs.ring_layout == "contiguous") & (runs.seq_len == 131072)]
    assert len(chosen) == 2 and sorted(chosen.repeats) == [1, 2]
    raw = []
    for file, run_id in zip(chosen.file, chosen.run_id):
        with h5py.File(file, "r") as handle:
            raw += list(handle["runs"][run_id]["timing/context_ms"][()].max(axis=1))
    row = tables.phase_times(runs)
    row = row[(row.method == "ring") & (row.ring_layout == "contiguous") & (row.seq_len == 131072)]
    assert row.context_ms.iloc[0] == pytest.approx(np.median(raw))


def test_warm_and_cold_runs_stay_apart(tmp_path):
    runs = []
    for warmup, ring_ms, star_ms in [(1, 40.0, 20.0), (0, 60.0, 20.0)]:
        for run in (synthetic.timing_run("ring", 4096, 2, ring_ms),
                    synthetic.timing_run("star", 4096, 2, star_ms, block_size=2048, anchor_size=2048)):
            run["integers"]["warmup"] = warmup
            run["text"]["params_key"] += f";warmup={warmup}"
            runs.append(run)
    path = str(tmp_path / "warmup.h5")
    synthetic.write_results(path, runs)
    table = tables.speedup(load_runs(path)).set_index("warmup")
    assert table.context_speedup.to_dict() == pytest.approx({0: 3.0, 1: 2.0})
    figure = figures.draw_speedup(tables.speedup(load_runs(path)), paper.load_points())
    assert {"measured", "no warm-up"} <= plotting.drawn_kinds(figure)


def test_recorded_label_and_host_layout(tmp_path):
    """A run's recorded `label` names its series; simulated platforms with other hosts make other panels."""
    runs = []
    for per_host in (4, 8):
        for method, ms in [("ring", 40.0), ("star", 10.0)]:
            run = synthetic.timing_run(method, 8192, 8, ms, block_size=2048 if method == "star" else 0,
                                       anchor_size=2048 if method == "star" else 0)
            run["integers"].update(simulated=1, gpus_per_host=per_host)
            run["text"].update(backend="sim", device="test gpu (simulated)", params_key=run["text"]["params_key"]
                               + f";hosts={per_host}")
            if method == "star":
                run["text"]["label"] = "star, my label"
            runs.append(run)
    path = str(tmp_path / "hosts.h5")
    synthetic.write_results(path, runs)
    loaded_runs = load_runs(path)
    assert sorted(set(loaded_runs.host_layout)) == ["1x8", "2x4"]
    figure = figures.draw_speedup(tables.speedup(loaded_runs), paper.load_points())
    assert {f[1] for f in panel_settings(figure)} == {"1x8", "2x4"}
    assert "star, my label" in [t.get_text() for t in figure.legends[0].get_texts()]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")
