import os
import subprocess
import sys

import matplotlib.image
import pytest

from analysis.report import write_report
from analysis.tests import synthetic

FIGURES = ["speedup_vs_length.png", "time_breakdown.png", "accuracy_vs_global.png", "block_size_tradeoff.png",
           "memory_per_rank.png"]


def _png_ok(path):
    image = matplotlib.image.imread(path)
    return image.shape[0] > 200 and image.shape[1] > 300 and image.std() > 0.01  # not blank


def test_report_draws_every_figure(tmp_path, sweep_file):
    out = str(tmp_path / "report")
    made = write_report([sweep_file], out)
    # These synthetic runs predate per-rank work counts: that figure alone is skipped, and the report says so;
    # they hold no duo runs either.
    assert made.pop("work") is None and made.pop("duo") is None
    assert made.pop("validation") is None and made.pop("surface") is None  # nothing simulated
    assert all(made.values()), made
    for name in FIGURES:
        assert _png_ok(os.path.join(out, name)), name
    text = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    for name in FIGURES:
        assert f"]({name})" in text
    # The speedups 1.5 / 2.5 / 3.5 of the synthetic sweep are in the table, and the source is cited.
    assert "| 1.5 |" in text and "| 2.5 |" in text and "| 3.5 |" in text
    assert "2411.17116" in text and "NVIDIA/Star-Attention" in text


def test_report_says_what_it_could_not_draw(tmp_path):
    path = str(tmp_path / "global_only.h5")
    synthetic.write_results(path, [synthetic.timing_run("global", 1024, 1, 5.0)])
    out = str(tmp_path / "report")
    made = write_report([path], out)
    assert made["speedup"] is None and made["block_size"] is None and made["accuracy"] is None
    assert made["breakdown"] and made["memory"]
    text = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "_Not drawn: needs ring and star timing runs._" in text
    assert not os.path.exists(os.path.join(out, "speedup_vs_length.png"))


def test_report_command_line(tmp_path, sweep_file, repo):
    out = str(tmp_path / "cli")
    env = dict(os.environ, PYTHONPATH=repo)
    done = subprocess.run([sys.executable, "-m", "analysis", "report", sweep_file, "--out", out],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "report.md" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "analysis", "report", str(tmp_path / "nope.h5"), "--out", out],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "nope.h5: no such file" in bad.stderr


@pytest.mark.parametrize("missing_arg", [["report", "x.h5"], ["merge", "out.h5"]])
def test_usage_errors(missing_arg, repo):
    done = subprocess.run([sys.executable, "-m", "analysis", *missing_arg], env=dict(os.environ, PYTHONPATH=repo),
                          capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr


def test_task_accuracy_is_plotted_per_task(tmp_path):
    path = str(tmp_path / "tasks.h5")
    runs = []
    for task, star_ratio in [("niah_single", 0.9), ("variable_tracking", 0.8)]:
        for seq_len in (1024, 2048):
            runs.append(synthetic.task_summary(task, "global", seq_len, 1, 0.9, 1.0))
            runs.append(synthetic.task_summary(task, "star", seq_len, 2, 0.9 * star_ratio, star_ratio,
                                               block_size=seq_len // 2))
    synthetic.write_results(path, runs)
    from analysis import tables
    from analysis.results import load_runs
    accuracy = tables.task_accuracy(load_runs(path))
    assert len(accuracy) == 8
    star = accuracy[accuracy.method == "star"].set_index(["task", "seq_len"])
    assert star.loc[("variable_tracking", 2048), "accuracy_ratio_vs_global"] == pytest.approx(0.8)
    assert tables.timing_runs(load_runs(path)).empty  # task runs are not timing runs
    made = write_report([path], str(tmp_path / "report"))
    assert made["accuracy"] and _png_ok(made["accuracy"])
    text = open(tmp_path / "report" / "report.md", encoding="utf-8").read()
    assert "Task accuracy:" in text and "variable_tracking" in text


def test_simulated_twins_give_the_validation_figure(tmp_path):
    """A measured run and its simulated twin pair up; their relative error is the table's."""
    path = str(tmp_path / "pair.h5")
    synthetic.write_simulated_twins(path, 100.0, 108.0, "test cpu (simulated)")
    out = str(tmp_path / "report")
    made = write_report([path], out)
    assert made["validation"] and _png_ok(made["validation"])
    text = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "+8.0 %" in text and "1 rows." in text
