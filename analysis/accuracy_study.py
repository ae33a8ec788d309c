"""The accuracy study (docs/ACCURACY.md): per task, length and method variant,
RULER accuracy and its ratio to global attention on the same samples, from the
per-sample records (`kind == "task_sample"`) of `starbench run --task`, beside
what the Star Attention paper reports.

Variants: global; ring; star with block = C/k (C = the prompt's context; the
study's config asks for C/2, C/4, C/8; records of fixed blocks without a rule
are labelled by --seq-len / block when that is a whole number) and anchor = block, anchor 0
(blockwise-local attention, no anchor) or the previous block as anchor
(`--anchor-source previous`). Ratios are taken over the samples both the variant
and global ran, so a partial study never compares different samples.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from . import paper, tables
from .results import ResultsError, load_runs

# What the paper says that this study can be held against. Only statements found
# in the sources named are entered; see docs/ACCURACY.md.
PAPER_FINDINGS = [
    ("Star Attention keeps 97-100% of global attention's accuracy",
     "arXiv 2411.17116v2/v3 abstract and the README of github.com/NVIDIA/Star-Attention; an earlier version of "
     "the abstract, as indexed by aitopics.org, says 95-100%"),
    ("In those runs block = anchor = 1/4 of the sequence length, and star is within 97-100% of global on RULER "
     "and BABILong, in some cases above it",
     "Figure 1 caption, README of github.com/NVIDIA/Star-Attention at commit c61059f5"),
    ("Star's accuracy difference from ring on RULER at block = C/4 (Table 1): -0.94% to +1.17% for "
     "Llama-3.1-8B-Instruct (16K-128K), -2.71% to -1.44% for Llama-3.1-70B-Instruct (16K-64K)",
     "Table 1 of the same README; analysis/paper_points.csv"),
]


def task_samples(runs: pd.DataFrame) -> pd.DataFrame:
    samples = runs[runs.kind == "task_sample"].copy()
    for column, default in (("target_tokens", -1), ("anchor_source", "first"), ("anchor_positions", "original"),
                            ("generated_text", ""), ("block_rule", ""), ("duo_requested_sparsity", np.nan),
                            ("duo_pattern", "")):
        if column not in samples:
            samples[column] = default
    samples["target_tokens"] = pd.to_numeric(samples.target_tokens, errors="coerce").fillna(-1).astype(np.int64)
    samples["anchor_source"] = samples.anchor_source.fillna("first").astype(str)
    samples["anchor_positions"] = samples.anchor_positions.fillna("original").astype(str)
    samples["generated_text"] = samples.generated_text.fillna("").astype(str)
    samples["block_rule"] = samples.block_rule.fillna("").astype(str)
    samples["duo_requested_sparsity"] = pd.to_numeric(samples.duo_requested_sparsity, errors="coerce")
    samples["duo_pattern"] = samples.duo_pattern.fillna("").astype(str)
    return samples


def variant_of(method: str, target: int, block: int, anchor: int, source: str, positions: str, rule: str = "",
               duo_sparsity: float = np.nan, duo_pattern: str = ""):
    """(label, block fraction k of C/k or NaN, anchor kind) of one run; rule is the
    record's block_rule ("C/4"; "fixed" or "C/ranks" say nothing of k); duo runs are
    told apart by their pattern ("random" for a seeded random:SEED split, else the
    pattern directory's name) and their sparsity."""
    if method == "duo":
        pattern = duo_pattern.rstrip("/")
        pattern = "random" if pattern.startswith("random:") else os.path.basename(pattern).removesuffix(".tsv")
        label = f"duo {pattern}".rstrip()
        return (f"{label}, sparsity {duo_sparsity:g}" if np.isfinite(duo_sparsity) else label), np.nan, ""
    if method != "star":
        return method, np.nan, ""
    if rule.startswith("C/") and rule[2:].isdigit():
        k = float(rule[2:])
    else:
        k = target / block if block > 0 else np.nan
        k = k if np.isfinite(k) and abs(k - round(k)) < 1e-9 else np.nan
    block_text = f"C/{k:.0f}" if np.isfinite(k) else f"b={block}"
    if anchor == 0:
        anchor_kind = "anchor 0"
    elif source == "previous":
        anchor_kind = "anchor = previous block" if anchor == block else f"anchor = previous {anchor}"
    elif anchor == block:
        anchor_kind = "anchor = block"
    else:
        anchor_kind = f"anchor = {anchor}"
    if positions != "original":
        anchor_kind += f", {positions} positions"
    return f"star {block_text}, {anchor_kind}", k, anchor_kind


def labelled_samples(runs: pd.DataFrame) -> pd.DataFrame:
    """The task samples with their variant label, block fraction and anchor kind; a run
    repeated across files counts once (its last record)."""
    samples = task_samples(runs)
    if samples.empty:
        return samples.assign(variant="", block_fraction=np.nan, anchor="")
    labels = [variant_of(r.method, r.target_tokens, r.block_size, r.anchor_size, r.anchor_source, r.anchor_positions,
                         r.block_rule, r.duo_requested_sparsity, r.duo_pattern) for r in samples.itertuples()]
    samples["variant"] = [v[0] for v in labels]
    samples["block_fraction"] = [v[1] for v in labels]
    samples["anchor"] = [v[2] for v in labels]
    return samples.drop_duplicates(["model", "task", "target_tokens", "variant", "world_size", "sample"],
                                   keep="last")


def study_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, task, length, variant): samples, accuracy (%), global's
    accuracy on the same samples, their ratio, and how often the greedy answer is
    global's answer exactly."""
    samples = labelled_samples(runs)
    columns = ["model", "task", "target_tokens", "variant", "world_size", "block_fraction", "anchor",
               "samples", "accuracy", "global_accuracy", "ratio_vs_global", "same_answer_as_global"]
    if samples.empty:
        return pd.DataFrame(columns=columns)
    keys = ["model", "task", "target_tokens"]
    reference = samples[samples.method == "global"].set_index(keys + ["sample"])
    rows = []
    for (model, task, target, variant, ranks), group in samples.groupby(keys + ["variant", "world_size"],
                                                                        sort=False):
        index = pd.MultiIndex.from_tuples([(model, task, target, s) for s in group["sample"]],
                                          names=keys + ["sample"])
        matched = reference.reindex(index)
        has_global = matched.score.notna().to_numpy()
        scores = group.score.to_numpy()
        global_scores = matched.score.to_numpy()
        same = (group.generated_text.to_numpy()[has_global] == matched.generated_text.to_numpy()[has_global])
        accuracy = 100 * scores.mean()
        global_accuracy = 100 * global_scores[has_global].mean() if has_global.any() else np.nan
        variant_on_shared = 100 * scores[has_global].mean() if has_global.any() else np.nan
        ratio = variant_on_shared / global_accuracy if global_accuracy and global_accuracy > 0 else np.nan
        first = group.iloc[0]
        rows.append(dict(model=model, task=task, target_tokens=target, variant=variant, world_size=ranks,
                         block_fraction=first.block_fraction, anchor=first.anchor, samples=len(group),
                         accuracy=accuracy, global_accuracy=global_accuracy, ratio_vs_global=ratio,
                         same_answer_as_global=same.mean() if len(same) else np.nan))
    table = pd.DataFrame(rows, columns=columns)
    table["order"] = table.variant.map(_variant_order)
    return table.sort_values(["model", "task", "target_tokens", "order"]).drop(columns="order").reset_index(drop=True)


def _variant_order(label: str):
    if label == "global":
        return (0, 0, "")
    if label == "ring":
        return (1, 0, "")
    if label.startswith("star C/"):
        k = label.split(",")[0].split("/")[1]
        return (2, int(k) if k.isdigit() else 99, label)
    return (3, 0, label)


def summary_table(study: pd.DataFrame) -> pd.DataFrame:
    """Per length and variant, averaged over tasks: mean accuracy and mean global
    accuracy over the same tasks, and their ratio."""
    columns = ["model", "target_tokens", "variant", "tasks", "accuracy", "global_accuracy", "ratio_vs_global",
               "block_fraction", "anchor"]
    if study.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (model, target, variant), group in study.groupby(["model", "target_tokens", "variant"], sort=False):
        shared = group[group.global_accuracy.notna()]
        mean_global = shared.global_accuracy.mean()
        rows.append(dict(model=model, target_tokens=target, variant=variant, tasks=len(group),
                         accuracy=group.accuracy.mean(), global_accuracy=mean_global,
                         ratio_vs_global=shared.accuracy.mean() / mean_global if mean_global > 0 else np.nan,
                         block_fraction=group.block_fraction.iloc[0], anchor=group.anchor.iloc[0]))
    table = pd.DataFrame(rows, columns=columns)
    table["order"] = table.variant.map(_variant_order)
    return table.sort_values(["model", "target_tokens", "order"]).drop(columns="order").reset_index(drop=True)


def accuracy_table_markdown(study: pd.DataFrame) -> str:
    """Tasks as rows, (length, variant) as columns: accuracy % (ratio to global)."""
    if study.empty:
        return "_(no task runs)_\n"
    out = []
    for target, group in study.groupby("target_tokens"):
        variants = sorted(group.variant.unique(), key=_variant_order)
        frame = pd.DataFrame(index=sorted(group.task.unique()), columns=variants, dtype=object)
        for row in group.itertuples():
            cell = f"{row.accuracy:.0f}"
            if row.variant != "global" and np.isfinite(row.ratio_vs_global):
                cell += f" ({row.ratio_vs_global:.2f})"
            frame.loc[row.task, row.variant] = cell
        frame = frame.fillna("-").reset_index().rename(columns={"index": "task"})
        out.append(f"**{target} tokens**\n\n" + tables.with_markdown(frame))
    return "\n".join(out)


def _save(figure, axis, out_dir: str, name: str) -> str:
    """Legend, grid, out_dir/name at 120 dpi; the figure closed."""
    import matplotlib.pyplot as plt

    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def study_figure(summary: pd.DataFrame, out_dir: str) -> str | None:
    """Star's accuracy ratio to global vs block size (C/k), one line per anchor
    kind and length; ring at k = 1 for reference; the paper's Table 1 ratios at C/4."""
    star = summary[summary.variant.str.startswith("star") & summary.block_fraction.notna()]
    if star.empty:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    styles = {"anchor = block": "o-", "anchor 0": "s--", "anchor = previous block": "^:"}
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (target, group) in enumerate(star.groupby("target_tokens")):
        for anchor, line in group.groupby("anchor"):
            line = line.sort_values("block_fraction")
            axis.plot(line.block_fraction, line.ratio_vs_global, styles.get(anchor, "x-"), color=colors[i % 10],
                      label=f"{target} tokens, {anchor}")
    ratios = paper.accuracy_ratios(paper.load_points())
    if not ratios.empty:
        axis.scatter([4] * len(ratios), ratios.ratio, marker="*", s=80, color="black", zorder=3,
                     label="paper, Table 1: star/ring on RULER, block = anchor = C/4 (16K-128K, 8B/70B)")
    axis.axhline(1.0, color="gray", linewidth=0.8)
    axis.axhspan(0.95, 1.0, color="gray", alpha=0.12, label="paper's abstract: 95-100% of global (v1)")
    axis.set_xscale("log", base=2)
    ks = sorted(star.block_fraction.unique())
    axis.set_xticks(ks)
    axis.set_xticklabels([f"C/{k:.0f}" for k in ks])
    axis.set_xlabel("star block size (C = prompt length)")
    axis.set_ylabel("accuracy / global accuracy (mean over tasks)")
    axis.set_title("Star Attention accuracy relative to global, tiny retrieval model", fontsize=10)
    return _save(figure, axis, out_dir, "accuracy_study.png")


def duo_figure(summary: pd.DataFrame, out_dir: str) -> str | None:
    """DuoAttention's accuracy ratio to global vs sparsity (the fraction of KV heads
    made streaming), one line per head pattern and length."""
    duo = summary[summary.variant.str.startswith("duo")].copy()
    if duo.empty:
        return None
    duo["pattern"] = duo.variant.str.split(",").str[0]
    duo["sparsity"] = pd.to_numeric(duo.variant.str.extract(r"sparsity ([0-9.]+)")[0], errors="coerce")
    duo = duo[duo.sparsity.notna()]
    if duo.empty:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lines = {pattern: line for pattern, line in zip(sorted(duo.pattern.unique()), ("o-", "s--", "^:", "x-."))}
    for i, (target, group) in enumerate(duo.groupby("target_tokens")):
        for pattern, line in group.groupby("pattern"):
            line = line.sort_values("sparsity")
            axis.plot(line.sparsity, line.ratio_vs_global, lines.get(pattern, "x-"), color=colors[i % 10],
                      label=f"{target} tokens, {pattern.removeprefix('duo ')} heads")
    axis.axhline(1.0, color="gray", linewidth=0.8)
    axis.set_xlabel("sparsity (fraction of KV heads streaming)")
    axis.set_ylabel("accuracy / global accuracy (mean over tasks)")
    axis.set_title("DuoAttention accuracy relative to global, tiny retrieval model", fontsize=10)
    return _save(figure, axis, out_dir, "accuracy_duo.png")


def sample_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Every sample's answer per variant (what the study's ratios are computed from)."""
    samples = labelled_samples(runs)
    columns = ["model", "task", "target_tokens", "sample", "variant", "world_size", "backend", "prompt_tokens",
               "score", "generated_text", "answers"]
    return samples[[c for c in columns if c in samples]].sort_values(["model", "task", "target_tokens", "sample"])


def write_accuracy_report(inputs: list[str], out_dir: str) -> dict:
    """accuracy.md (tables + the paper's findings), accuracy_study.csv, every sample's
    answers (accuracy_samples.csv.gz) and the figures."""
    runs = load_runs(inputs)
    study = study_table(runs)
    if study.empty:
        raise ResultsError(f"no task_sample runs in {', '.join(inputs)}")
    os.makedirs(out_dir, exist_ok=True)
    summary = summary_table(study)
    csv = os.path.join(out_dir, "accuracy_study.csv")
    study.to_csv(csv, index=False)
    per_sample = os.path.join(out_dir, "accuracy_samples.csv.gz")
    sample_table(runs).to_csv(per_sample, index=False)
    figure = study_figure(summary, out_dir)
    duo = duo_figure(summary, out_dir)
    sources = ", ".join(f"`{p}`" for p in inputs) if len(inputs) <= 4 else \
        f"{len(inputs)} results files under `{os.path.commonpath([os.path.abspath(p) for p in inputs])}`"
    text = ["# Accuracy study\n",
            f"From {sources}: {int((runs.kind == 'task_sample').sum())} task samples.\n",
            "Accuracy = RULER score x 100; in brackets the ratio to global on the same samples.\n",
            accuracy_table_markdown(study),
            "\n## Mean over tasks\n",
            tables.with_markdown(summary.drop(columns=["block_fraction", "anchor"])),
            "\n## Per task and variant\n",
            tables.with_markdown(study.drop(columns=["block_fraction", "anchor"])),
            "\n## The paper's corresponding findings\n"]
    text += [f"- {claim} ({source})." for claim, source in PAPER_FINDINGS]
    if figure:
        text.append(f"\n![accuracy vs block size]({os.path.basename(figure)})\n")
    if duo:
        text.append(f"\n![duo accuracy vs sparsity]({os.path.basename(duo)})\n")
    report = os.path.join(out_dir, "accuracy.md")
    with open(report, "w", encoding="utf-8") as handle:
        handle.write("\n".join(text) + "\n")
    return {"report": report, "csv": csv, "samples": per_sample, "figure": figure, "duo figure": duo}
