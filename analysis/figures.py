"""The report's figures. Each takes the derived tables and the paper's points,
writes one PNG and returns its path, or None when the results hold nothing to
plot for it (the report then says so)."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import paper  # noqa: E402
from .results import load_arrays  # noqa: E402

METHOD_COLORS = {"global": "tab:gray", "ring": "tab:blue", "star": "tab:orange", "duo": "tab:green",
                 "star+duo": "tab:red"}
PAPER_STYLE = dict(marker="*", markersize=13, linestyle=":", markeredgecolor="black", markeredgewidth=0.6)
PHASE_COLORS = {"context_ms": "tab:blue", "query_ms": "tab:green", "decode_total_ms": "tab:red"}


def _length_label(tokens: int) -> str:
    if tokens >= 2**20 and tokens % 2**20 == 0:
        return f"{tokens // 2**20}M"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return str(tokens)


def _length_axis(axis, lengths) -> None:
    lengths = sorted(set(int(x) for x in lengths))
    axis.set_xscale("log", base=2)
    axis.set_xticks(lengths)
    axis.set_xticklabels([_length_label(x) for x in lengths], rotation=0)
    axis.minorticks_off()
    axis.set_xlabel("context length (tokens)")


def _setup_label(row) -> str:
    return f"{row['model']} {row['backend']}, {int(row['world_size'])} ranks"


def _layout_label(row) -> str:
    """ring, star with its default layout, or star with explicit block/anchor sizes."""
    if row["method"] != "star":
        return row["method"]
    default_block = -(-int(row["seq_len"]) // int(row["world_size"]))
    if row["block_size"] == default_block and row["anchor_size"] == row["block_size"]:
        return "star (block = anchor = context / ranks)"
    return f"star block {int(row['block_size'])} anchor {int(row['anchor_size'])}"


def _save(figure, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


LAYOUT_STYLES = {"zigzag": "-", "contiguous": "--"}


def _rule_label(rule: str) -> str:
    if rule.startswith("C/"):
        return f"block = context/{rule[2:]}"
    return f"block {_length_label(int(rule))}" if rule.isdigit() else rule


def speedup_figure(table: pd.DataFrame, points: pd.DataFrame, out_dir: str) -> str | None:
    """Speedup vs length, one line per (ring layout x star block rule); filled markers measured, hollow ones
    simulated; the paper's Table 1 (against its contiguous ring, block = context / 4) as stars."""
    if table.empty:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(15, 5.4), sharey=True)
    markers = dict(zip(sorted(set(int(w) for w in table.world_size)), "osD^vP*X"))
    rules = sorted(set(table.block_rule), key=lambda r: (not r.startswith("C/"), r))
    colors = dict(zip(rules, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3))
    lengths = list(table.seq_len)
    published = paper.speedups(points)
    for axis, column, phase in zip(axes, ["context_speedup", "total_speedup"], ["context phase", "whole request"]):
        for (model, simulated, world, layout, rule), group in table.groupby(
                ["model", "simulated", "world_size", "ring_layout", "block_rule"]):
            group = group.sort_values("seq_len")
            what = "simulated" if simulated else "measured"
            axis.plot(group.seq_len, group[column], marker=markers[int(world)], linestyle=LAYOUT_STYLES.get(layout, ":"),
                      color=colors[rule], markerfacecolor="white" if simulated else colors[rule],
                      label=f"{what}, {model}, {int(world)} ranks: star {_rule_label(rule)} / {layout} ring")
        for (model, group), color in zip(published.groupby("model"), ["tab:purple", "tab:brown"]):
            axis.plot(group.seq_len, group.speedup, color=color,
                      label=f"paper, {model} (Table 1: vs contiguous ring, block = context/4)", **PAPER_STYLE)
            lengths += list(group.seq_len)
        axis.axhline(1.0, color="black", linewidth=0.8)
        _length_axis(axis, lengths)
        axis.set_title(f"Star over ring: {phase}", fontsize=10)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("speedup (ring time / star time)")
    axes[1].legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    axes[0].text(0.01, 0.99, "solid: vs zigzag ring, dashed: vs contiguous ring; marker: rank count; hollow: simulated",
                 transform=axes[0].transAxes, fontsize=7, va="top")
    return _save(figure, out_dir, "speedup_vs_length.png")


def work_figure(runs: pd.DataFrame, out_dir: str) -> str | None:
    """What each rank computes in phase 1 (attention and matmul FLOPs, counted where issued) beside its
    measured time, at the longest length with ring and star: why star wins or loses in each setting."""
    timing = runs[(runs.kind == "timing") & runs.method.isin(["ring", "star"])
                  & runs.busiest_rank_attention_tflop.notna()]
    if timing.empty or timing.method.nunique() < 2:
        return None
    lengths = timing.groupby(["seq_len", "simulated"]).method.nunique()
    both = lengths[lengths == 2].reset_index()
    if both.empty:
        return None
    chosen_len = int(both.sort_values(["simulated", "seq_len"], ascending=[True, False]).seq_len.iloc[0])
    simulated = int(both[both.seq_len == chosen_len].simulated.min())
    chosen = timing[(timing.seq_len == chosen_len) & (timing.simulated == simulated)]
    chosen = chosen.assign(label=[f"ring {r.ring_layout}" if r.method == "ring"
                                  else f"star {_rule_label(r.block_rule if r.block_rule != 'fixed' else str(r.block_size))}"
                                       f" [{r.anchor_mode}]" for r in chosen.itertuples()])
    chosen = chosen.drop_duplicates("label", keep="last").sort_values(["method", "label"])
    panels = len(chosen)
    figure, axes = plt.subplots(1, panels, figsize=(3.2 * panels + 1, 4.2), sharey=True, squeeze=False)
    for axis, (_, run) in zip(axes[0], chosen.iterrows()):
        arrays = load_arrays(run.file, run.run_id)
        attention = arrays.context_attention_flops / 1e12
        matmul = arrays.context_matmul_flops / 1e12
        ranks = np.arange(len(attention))
        axis.bar(ranks, matmul, color="tab:gray", label="matmul TFLOP")
        axis.bar(ranks, attention, bottom=matmul, color="tab:orange", label="attention TFLOP")
        twin = axis.twinx()
        per_rank_ms = np.median(arrays.context_ms, axis=0) if arrays.context_ms.size else np.zeros(len(ranks))
        twin.plot(ranks, per_rank_ms, "kD", label="context ms (median)")
        twin.set_ylim(bottom=0, top=max(1e-9, timing[timing.seq_len == chosen_len].context_ms.max()) * 1.15)
        axis.set_title(f"{run.label}\n{run.context_ms:.0f} ms", fontsize=8)
        axis.set_xticks(ranks)
        axis.set_xlabel("rank")
        if axis is axes[0][-1]:
            twin.set_ylabel("measured context phase (ms)" if not simulated else "simulated context phase (ms)")
        else:
            twin.set_yticklabels([])
    axes[0][0].set_ylabel("phase-1 work per rank (TFLOP)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    figure.suptitle(f"Per-rank work and time at {_length_label(chosen_len)} tokens "
                    f"({'simulated' if simulated else 'measured'}; the busiest rank sets the phase's time)",
                    fontsize=10)
    return _save(figure, out_dir, "work_per_rank.png")


def breakdown_figure(table: pd.DataFrame, out_dir: str) -> str | None:
    if table.empty:
        return None
    setups = table.groupby(["model", "backend", "device"])
    figure, axes = plt.subplots(len(setups), 1, figsize=(max(6.0, 0.55 * len(table) + 2), 3.8 * len(setups)),
                                squeeze=False)
    for axis, (_, group) in zip(axes[:, 0], setups):
        group = group.reset_index(drop=True)
        positions, labels, x = [], [], 0.0
        previous = None
        for _, row in group.iterrows():
            if previous is not None and row.seq_len != previous:
                x += 0.6  # a gap between lengths
            positions.append(x)
            labels.append(f"{row.method}\n{_length_label(int(row.seq_len))}")
            previous, x = row.seq_len, x + 1
        bottom = np.zeros(len(group))
        for phase, color in PHASE_COLORS.items():
            values = group[phase].to_numpy(dtype=float)
            axis.bar(positions, values, bottom=bottom, color=color, width=0.8,
                     label=phase.replace("_total", "").replace("_ms", ""))
            bottom += np.nan_to_num(values)
        axis.set_xticks(positions)
        axis.set_xticklabels(labels, fontsize=7)
        axis.set_ylabel("time (ms, slowest rank, median)")
        axis.set_title(f"Time per phase: {_setup_label(group.iloc[0]).rsplit(',', 1)[0]} "
                       "(paper: no per-phase numbers published)", fontsize=9)
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    return _save(figure, out_dir, "time_breakdown.png")


def accuracy_figure(tasks: pd.DataFrame, fidelity: pd.DataFrame, points: pd.DataFrame, out_dir: str) -> str | None:
    if tasks.empty and fidelity.empty:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    lengths = []
    chosen = tasks[tasks.method != "global"]
    chosen = chosen.assign(layout=pd.Series([_layout_label(row) for _, row in chosen.iterrows()],
                                            index=chosen.index, dtype=object))
    for (task, layout), group in chosen.groupby(["task", "layout"], sort=False):
        left.plot(group.seq_len, group.accuracy_ratio_vs_global, "o-", label=f"{task}: {layout}")
        lengths += list(group.seq_len)
    ratios = paper.accuracy_ratios(points)
    for (model, group), color in zip(ratios.groupby("model"), ["tab:purple", "tab:brown"]):
        left.plot(group.seq_len, group.ratio, color=color, label=f"paper: star/ring, RULER, {model} (Table 1)",
                  **PAPER_STYLE)
        lengths += list(group.seq_len)
    title = "Task accuracy relative to global attention"
    if chosen.empty:
        title += "\n(no task runs in these results: published points only)"
    left.axhline(1.0, color="black", linewidth=0.8)
    _length_axis(left, lengths)
    left.set_ylabel("task accuracy / global's accuracy")
    left.set_title(title, fontsize=10)
    left.legend(fontsize=7)
    left.grid(alpha=0.3)

    if fidelity.empty:
        right.text(0.5, 0.5, "no fidelity numbers\n(no global reference run)", transform=right.transAxes,
                   ha="center", va="center", color="gray")
    labelled = fidelity.assign(layout=[_layout_label(row) for _, row in fidelity.iterrows()])
    others = iter(["tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"])
    for (layout, world_size), group in labelled.groupby(["layout", "world_size"], sort=False):
        color = METHOD_COLORS.get(layout.split(" ")[0]) if "=" in layout or layout == "ring" else next(others, None)
        right.plot(group.seq_len, group.top1_vs_global, "o-", color=color, label=f"{layout}, {world_size} ranks")
    if not fidelity.empty:
        _length_axis(right, fidelity.seq_len)
    right.set_ylim(-0.05, 1.05)
    right.set_ylabel("top-1 agreement with global (query tokens)")
    right.set_title("Output fidelity vs global, same input (paper: none published)", fontsize=10)
    if not fidelity.empty:
        right.legend(fontsize=7)
    right.grid(alpha=0.3)
    return _save(figure, out_dir, "accuracy_vs_global.png")


def block_size_figure(table: pd.DataFrame, out_dir: str) -> str | None:
    if table.empty:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
    blocks = []
    for (model, _, _, world_size, seq_len), group in table.groupby(["model", "backend", "device", "world_size",
                                                                    "seq_len"]):
        group = group[group.anchor_is_block] if group.anchor_is_block.any() else group
        group = group.sort_values("block_size")
        color = next(colors)
        label = f"{_length_label(int(seq_len))} context, {model}, {int(world_size)} ranks"
        left.plot(group.block_size, group.context_ms, "o-", color=color, label=f"star, {label}")
        if group.ring_context_ms.notna().any():
            left.axhline(group.ring_context_ms.iloc[0], color=color, linestyle="--", linewidth=1,
                         label=f"ring, {_length_label(int(seq_len))}")
        fidelity_column = ("accuracy_ratio_vs_global" if group.accuracy_ratio_vs_global.notna().any()
                           else "top1_vs_global")
        right.plot(group.block_size, group[fidelity_column], "^-", color=color,
                   label=f"{label} ({fidelity_column.replace('_vs_global', '')})")
        blocks += list(group.block_size)
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sorted(set(blocks)))
        axis.set_xticklabels([_length_label(int(b)) for b in sorted(set(blocks))])
        axis.minorticks_off()
        axis.set_xlabel("block size = anchor size (tokens)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    left.set_ylabel("context phase (ms, slowest rank)")
    left.set_title("Star context phase by block size (dashed: ring)\n(paper: no block-size numbers entered)",
                   fontsize=10)
    right.set_ylim(-0.05, 1.05)
    right.set_ylabel("agreement with global (top-1, or task accuracy ratio)")
    right.set_title("Fidelity by block size", fontsize=10)
    return _save(figure, out_dir, "block_size_tradeoff.png")


def memory_figure(table: pd.DataFrame, per_rank_runs: pd.DataFrame, out_dir: str) -> str | None:
    if table.empty or table.peak_mem_bytes.isna().all():
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for (method, world_size), group in table.groupby(["method", "world_size"]):
        left.plot(group.seq_len, group.peak_mib, "o-", color=METHOD_COLORS.get(method),
                  label=f"{method} ({world_size} rank{'s' if world_size > 1 else ''})")
    _length_axis(left, table.seq_len)
    left.set_ylim(bottom=0)
    left.set_ylabel("peak memory of the busiest rank (MiB)")
    left.set_title("Peak memory per rank (paper: none published)", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)

    width = 0.8 / max(1, len(per_rank_runs))
    most_ranks = 1
    for i, (_, run) in enumerate(per_rank_runs.iterrows()):
        peaks = load_arrays(run.file, run.run_id).peak_bytes / 2**20
        most_ranks = max(most_ranks, len(peaks))
        right.bar(np.arange(len(peaks)) + (i - (len(per_rank_runs) - 1) / 2) * width, peaks, width=width,
                  color=METHOD_COLORS.get(run.method), label=run.method)
    right.set_xticks(range(most_ranks))
    if not per_rank_runs.empty:
        seq_len = int(per_rank_runs.seq_len.iloc[0])
        right.set_title(f"Peak memory by rank at {_length_label(seq_len)} tokens", fontsize=10)
    right.set_xlabel("rank")
    right.set_ylabel("peak memory (MiB)")
    right.legend(fontsize=8)
    right.grid(axis="y", alpha=0.3)
    return _save(figure, out_dir, "memory_per_rank.png")


def validation_figure(table: pd.DataFrame, out_dir: str) -> str | None:
    """Simulated against measured context-phase times, one point per configuration (analysis.validation)."""
    if table.empty:
        return None
    figure, axis = plt.subplots(figsize=(6.2, 5.6))
    for method, group in table.groupby("method"):
        axis.scatter(group.context_ms_measured / 1e3, group.context_ms_sim / 1e3, label=method,
                     color=METHOD_COLORS.get(method), edgecolor="black", linewidth=0.4, zorder=3)
    low = 0.8 * min(table.context_ms_measured.min(), table.context_ms_sim.min()) / 1e3
    high = 1.25 * max(table.context_ms_measured.max(), table.context_ms_sim.max()) / 1e3
    line = np.array([low, high])
    axis.plot(line, line, color="black", linewidth=0.8, label="simulated = measured")
    axis.fill_between(line, 0.9 * line, 1.1 * line, color="gray", alpha=0.2, label="within 10 %")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("measured context phase (s)")
    axis.set_ylabel("simulated context phase (s)")
    axis.set_title("Simulator vs measurement (H200 profile)", fontsize=10)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, which="both")
    return _save(figure, out_dir, "simulator_validation.png")


def surface_figure(runs: pd.DataFrame, out_dir: str) -> str | None:
    """Simulated star-over-ring speedup (best block size per point) against length, one line per GPU count,
    for each ring layout: where star pays off on clusters not at hand."""
    timing = runs[(runs.simulated == 1) & (runs.kind == "timing") & (runs.model == "llama3.1-8b")]
    if timing.empty:
        return None
    # One simulated GPU: the one with the most GPU counts (the surface, not the paper's 4-A100 rows).
    device = timing.groupby("device").world_size.nunique().idxmax()
    timing = timing[timing.device == device]
    ring = timing[timing.method == "ring"]
    star = timing[timing.method == "star"]
    if ring.empty or star.empty or timing.world_size.nunique() < 3 or timing.world_size.max() < 8:
        return None
    best = star.groupby(["world_size", "seq_len"], as_index=False).context_ms.min()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, layout in zip(axes, ["zigzag", "contiguous"]):
        rings = ring[ring.ring_layout == layout].groupby(["world_size", "seq_len"], as_index=False).context_ms.min()
        merged = rings.merge(best, on=["world_size", "seq_len"], suffixes=("_ring", "_star"))
        for color, (world, group) in zip(colors * 2, merged.groupby("world_size")):
            group = group.sort_values("seq_len")
            axis.plot(group.seq_len, group.context_ms_ring / group.context_ms_star, "o-", color=color,
                      markerfacecolor="white", label=f"{int(world)} GPUs ({max(1, int(world) // 8)} node(s))")
        _length_axis(axis, merged.seq_len)
        axis.set_yscale("log")
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_title(f"Simulated ({device.replace(' (simulated)', '')}): best star block over the {layout} ring",
                       fontsize=10)
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("speedup (x)")
    axes[1].legend(fontsize=8)
    return _save(figure, out_dir, "simulated_surface.png")
