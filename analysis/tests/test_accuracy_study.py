"""The accuracy study's tables: per-variant accuracy, ratio to global on shared
samples, same-answer rate, the mean over tasks, labels of the star variants."""
import math


from analysis import accuracy_study
from analysis.__main__ import main
from analysis.results import load_runs
from analysis.tests import synthetic


def sample_run(task, method, target, sample, score, text, block=0, anchor=0, source="first", ranks=2, rule=None):
    """A task_sample record; star blocks as the rule C/k of the context (target - 40 tokens) unless rule="fixed"."""
    context = target - 40
    if method == "star" and rule is None:
        rule = f"C/{round(context / block)}"
        block = -(-context // round(context / block))
    run = synthetic.timing_run(method, context, ranks, 1.0, block_size=block, anchor_size=anchor if anchor == 0 else
                               block if anchor == -1 else anchor, repeats=1)
    run["text"].update(kind="task_sample", task=task, anchor_source=source, anchor_positions="original",
                       generated_text=text, answers="1234567", metric="all")
    if rule:
        run["text"]["block_rule"] = rule
    run["integers"].update(sample=sample, target_tokens=target, prompt_tokens=target)
    run["numbers"].update(score=score, depth=0.5)
    run["text"]["params_key"] = synthetic.params_key({**run["text"], **run["integers"]}) + \
        f";src={source};target={target}"
    return run


def study_runs():
    """niah at 1024: global right on 4/4, ring the same answers, star C/2 anchor=block 4/4,
    star C/4 anchor 0 right on 2/4, star C/4 previous 3/4; vt global 2/4 (only samples 0-1)."""
    runs = []
    for s in range(4):
        runs.append(sample_run("niah_single_1", "global", 1024, s, 1.0, f" {s}.", ranks=1))
        runs.append(sample_run("niah_single_1", "ring", 1024, s, 1.0, f" {s}."))
        runs.append(sample_run("niah_single_1", "star", 1024, s, 1.0, f" {s}.", block=492, anchor=-1))
        runs.append(sample_run("niah_single_1", "star", 1024, s, float(s < 2), "x", block=246, anchor=0))
        runs.append(sample_run("niah_single_1", "star", 1024, s, float(s < 3), "y", block=246, anchor=-1,
                               source="previous"))
        runs.append(sample_run("vt", "star", 1024, s, float(s % 2 == 0), "z", block=492, anchor=-1))
    for s in range(2):  # global ran 2 of vt's 4 samples
        runs.append(sample_run("vt", "global", 1024, s, 1.0, "z", ranks=1))
    return runs


def test_study_table(tmp_path):
    path = str(tmp_path / "study.h5")
    synthetic.write_results(path, study_runs())
    study = accuracy_study.study_table(load_runs(path)).set_index(["task", "variant"])
    niah = study.loc["niah_single_1"]
    assert list(niah.index) == ["global", "ring", "star C/2, anchor = block", "star C/4, anchor 0",
                                "star C/4, anchor = previous block"]
    assert niah.loc["global", "accuracy"] == 100 and niah.loc["global", "samples"] == 4
    assert niah.loc["ring", "ratio_vs_global"] == 1 and niah.loc["ring", "same_answer_as_global"] == 1
    assert niah.loc["star C/4, anchor 0", "accuracy"] == 50
    assert niah.loc["star C/4, anchor 0", "ratio_vs_global"] == 0.5
    assert niah.loc["star C/4, anchor 0", "same_answer_as_global"] == 0
    assert niah.loc["star C/4, anchor = previous block", "ratio_vs_global"] == 0.75
    assert niah.loc["star C/2, anchor = block", "block_fraction"] == 2
    # vt: global only on samples 0-1; the ratio uses those samples (star right on sample 0 only).
    vt = study.loc["vt"]
    assert vt.loc["star C/2, anchor = block", "accuracy"] == 50
    assert vt.loc["star C/2, anchor = block", "global_accuracy"] == 100
    assert vt.loc["star C/2, anchor = block", "ratio_vs_global"] == 0.5


def test_summary_and_report(tmp_path):
    path = str(tmp_path / "study.h5")
    synthetic.write_results(path, study_runs())
    summary = accuracy_study.summary_table(accuracy_study.study_table(load_runs(path))).set_index("variant")
    star = summary.loc["star C/2, anchor = block"]
    assert star.tasks == 2 and star.accuracy == 75 and star.global_accuracy == 100
    assert math.isclose(star.ratio_vs_global, 0.75)
    assert summary.loc["star C/4, anchor 0", "global_accuracy"] == 100
    out = tmp_path / "report"
    assert main(["accuracy", path, "--out", str(out)]) == 0
    text = (out / "accuracy.md").read_text()
    assert "**1024 tokens**" in text and "50 (0.50)" in text and "2411.17116" in text
    assert (out / "accuracy_study.png").exists() and (out / "accuracy_study.csv").exists()


def test_variant_labels():
    assert accuracy_study.variant_of("ring", 4096, 0, 0, "first", "original")[0] == "ring"
    assert accuracy_study.variant_of("duo", 4096, 0, 0, "first", "original", "", 0.5, "random:1")[0] == \
        "duo random, sparsity 0.5"
    assert accuracy_study.variant_of("duo", 4096, 0, 0, "first", "original", "", 0.25,
                                     "configs/duo/tiny-retrieval/")[0] == "duo tiny-retrieval, sparsity 0.25"
    assert accuracy_study.variant_of("star", 4096, 507, 507, "first", "original", "C/8")[:2] == \
        ("star C/8, anchor = block", 8)
    # Records without a C/k rule: the --seq-len / block ratio when whole, else the block in tokens.
    assert accuracy_study.variant_of("star", 4096, 512, 0, "first", "original", "fixed")[0] == "star C/8, anchor 0"
    assert accuracy_study.variant_of("star", 4096, 1000, 64, "first", "adjacent", "fixed")[0] == \
        "star b=1000, anchor = 64, adjacent positions"


def test_no_task_runs_is_an_error(tmp_path, sweep_file):
    assert main(["accuracy", sweep_file, "--out", str(tmp_path / "r")]) == 1
