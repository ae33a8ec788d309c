"""The report's figures. Each `draw_*` takes the derived tables (and the paper's points) and returns a
matplotlib Figure, or None when the results hold nothing to draw for it; each `*_figure` saves that as one
PNG and returns its path (None: the report says why it is missing).

Rules every figure keeps (analysis/plotting.py; tested on docs/data/ in analysis/tests/test_figures.py):
one panel per setting (model, GPU, rank count, host layout), both ring layouts as series of their own,
log axes where values span more than 100x, one legend per figure, measured / measured-without-warm-up /
simulated / published points drawn apart, the paper's points only on the panel whose setting they are,
no empty panel, and one setting per point (tables.py keeps repeated settings apart or pools their repeats).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from . import paper  # noqa: E402
from .plotting import (LAYOUT_STYLES, METHOD_COLORS, PAPER_STYLE, Colors, Grid, draw_series, guide, hosts_text,
                       legend_entries, length_axis, length_label, log_if_wide, ordered, panel_gid, panel_groups,
                       panel_title, point_kind, rule_label, save, series_label, split_repeated_lengths, tokens_in,
                       with_panels)  # noqa: E402
from .results import load_arrays  # noqa: E402

# The paper's Table 1: Llama-3.1 8B and 70B Instruct on 4 GPUs (A100), block = anchor = context / 4, against
# its contiguous ring, the whole request (docs/SIMULATOR.md, "The paper's Table 1 setting").
PAPER_RANKS = 4
PAPER_LABEL = "paper, Table 1 (4 A100s, block = context/4, vs contiguous ring)"


def _model_key(name: str) -> str:
    """A model name without case, punctuation or an "-Instruct" tail: the paper's and ours compare."""
    name = name.lower().replace("-instruct", "")
    return "".join(ch for ch in name if ch.isalnum())


def _paper_for(points: pd.DataFrame, model: str) -> pd.DataFrame:
    published = paper.speedups(points)
    return published[[_model_key(m) == _model_key(model) for m in published.model]]


def _kinds(rows: pd.DataFrame) -> list[str]:
    return [point_kind(s, w) for s, w in zip(rows.simulated, rows.warmup)]


def _star_series(rule: str, label: str = "") -> str:
    return label or f"star {rule_label(rule)}"


def _ordered(labels) -> list[str]:
    return ordered(labels)


# --- speedup of star over ring -------------------------------------------------------------------


def draw_speedup(table: pd.DataFrame, points: pd.DataFrame):
    """Star over ring by length: per setting, the context phase and the whole request; a series per star
    line, solid against the zigzag ring and dashed against the contiguous one; the paper's Table 1 on the
    whole-request panel of its setting (4 ranks, its model) only."""
    if table.empty:
        return None
    panels = panel_groups(table)
    colors = Colors()
    series_used, kinds_used, layouts_used = [], set(), []
    grid = Grid(len(panels), 2)
    paper_drawn = False
    for index, (key, group) in enumerate(panels):
        axes = grid.panel(index)
        published = _paper_for(points, key[0]) if int(key[2]) == PAPER_RANKS else points.iloc[0:0]
        for axis, column, phase in zip(axes, ["context_speedup", "total_speedup"], ["context phase", "whole request"]):
            values = list(group[column])
            lengths = list(group.seq_len)
            for (layout, rule, simulated), rows in group.groupby(["ring_layout", "block_rule", "simulated"]):
                label = _star_series(rule, rows.star_label.iloc[0] if "star_label" in rows and
                                     rows.star_label.nunique() == 1 else "")
                for part in split_repeated_lengths(rows.sort_values("seq_len")):
                    draw_series(axis, part.seq_len, part[column], _kinds(part), colors(label), label, layout,
                                LAYOUT_STYLES.get(layout, ":"), alpha=0.75 if simulated else 1.0)
                series_used.append(label)
                layouts_used.append(layout)
                kinds_used.update(_kinds(rows))
            if phase == "whole request" and not published.empty:
                axis.plot(published.seq_len, published.speedup, color="gold", gid="points;kind=paper",
                          **PAPER_STYLE)
                values += list(published.speedup)
                lengths += list(published.seq_len)
                paper_drawn = True
            guide(axis)
            length_axis(axis, lengths)
            log_if_wide(axis, values + [1.0])
            axis.set_title(f"{panel_title(key)}\n{phase}", fontsize=9)
            axis.set_gid(panel_gid(key, phase))
            axis.grid(alpha=0.3, which="both")
        axes[0].set_ylabel("speedup (ring time / star time)")
    styles = {f"vs {layout} ring": LAYOUT_STYLES.get(layout, ":") for layout in dict.fromkeys(layouts_used)}
    handles, labels = legend_entries(colors, _ordered(series_used), styles, sorted(kinds_used))
    if paper_drawn:
        handles.append(Line2D([], [], color="gold", **PAPER_STYLE))
        labels.append(PAPER_LABEL)
    return grid.finish("Star over ring: speedup by context length (one panel per setting)", handles, labels)


def speedup_figure(table: pd.DataFrame, points: pd.DataFrame, out_dir: str) -> str | None:
    figure = draw_speedup(table, points)
    return save(figure, out_dir, "speedup_vs_length.png") if figure else None


# --- time per phase ------------------------------------------------------------------------------

PHASES = [("context_ms", "context phase (ms)"), ("query_ms", "query (ms)"),
          ("decode_ms_per_token", "decode (ms per token)")]


def _phase_label(rows: pd.DataFrame) -> str:
    row = rows.iloc[0]
    if row.method == "global":
        return "global (1 rank)"
    if row.method in ("star", "star+duo"):
        return series_label(rows) if rows.label.iloc[0] else f"{row.method} {rule_label(row.line)}"
    return series_label(rows)


def draw_breakdown(table: pd.DataFrame):
    """Each phase's time (slowest rank, median) by length: per setting a row of context | query | decode
    panels, a series per method and layout (global, one rank, drawn in every panel of its model and GPU)."""
    if table.empty:
        return None
    table = with_panels(table)
    single = table[table.world_size <= 1]
    several = table[table.world_size > 1]
    # A one-rank panel only for what is not global, or where nothing runs on several ranks.
    shown = pd.concat([several, single[(single.method != "global") | ~single.set_index(["model", "panel_device"])
                                       .index.isin(several.set_index(["model", "panel_device"]).index)]])
    panels = panel_groups(shown)
    colors = Colors()
    series_used, kinds_used, layouts_used = [], set(), []
    grid = Grid(len(panels), 3, panel_size=(4.0, 3.0), max_axes_per_row=3)
    for index, (key, group) in enumerate(panels):
        reference = single[(single.method == "global") & (single.model == key[0]) & (single.panel_device == key[1])]
        rows_here = pd.concat([group, reference]).drop_duplicates(["method", "line", "ring_layout", "seq_len",
                                                                     "simulated", "warmup", "world_size"])
        for axis, (column, name) in zip(grid.panel(index), PHASES):
            for _, rows in rows_here.groupby(["method", "ring_layout", "line", "duo_sparsity", "simulated"],
                                             dropna=False):
                label = _phase_label(rows)
                layout = rows.ring_layout.iloc[0]
                for part in split_repeated_lengths(rows.sort_values("seq_len")):
                    draw_series(axis, part.seq_len, part[column], _kinds(part), colors(label), label, layout,
                                LAYOUT_STYLES.get(layout, "-"), alpha=0.75 if rows.simulated.iloc[0] else 1.0)
                series_used.append(label)
                layouts_used.append(layout)
                kinds_used.update(_kinds(rows))
            length_axis(axis, rows_here.seq_len)
            log_if_wide(axis, rows_here[column])
            axis.set_ylabel(name)
            axis.set_title(panel_title(key), fontsize=8.5)
            axis.set_gid(panel_gid(key, column))
            axis.grid(alpha=0.3, which="both")
    handles, labels = legend_entries(colors, _ordered(series_used), {}, sorted(kinds_used))
    return grid.finish("Time per phase, slowest rank, median over repeats (paper: no per-phase numbers)",
                       handles, labels)


def breakdown_figure(table: pd.DataFrame, out_dir: str) -> str | None:
    figure = draw_breakdown(table)
    return save(figure, out_dir, "time_breakdown.png") if figure else None


# --- accuracy and fidelity against global --------------------------------------------------------


def draw_accuracy(tasks: pd.DataFrame, fidelity: pd.DataFrame, points: pd.DataFrame):
    """Task accuracy relative to exact attention (global) and top-1 agreement with global, per setting.
    The paper's RULER ratios (star / ring, ring being exact) only on a panel of its setting: its model,
    4 ranks, block = context/4, a RULER task."""
    chosen = tasks[tasks.method != "global"] if not tasks.empty else tasks
    measured = fidelity[fidelity.top1_vs_global.notna()] if not fidelity.empty else fidelity
    if chosen.empty and measured.empty:
        return None
    columns = [name for name, frame in [("task accuracy", chosen), ("fidelity", measured)] if not frame.empty]
    keys = {}
    for name, frame in [("task accuracy", chosen), ("fidelity", measured)]:
        for key, group in (panel_groups(frame) if not frame.empty else []):
            keys.setdefault(key, {})[name] = group
    grid = Grid(len(keys), len(columns))
    colors = Colors()
    series_used, paper_drawn = [], False
    ratios = paper.accuracy_ratios(points)
    for index, (key, frames) in enumerate(sorted(keys.items())):
        for axis, name in zip(grid.panel(index), columns):
            group = frames.get(name)
            if group is None:
                continue
            lengths = list(group.seq_len)
            if name == "task accuracy":
                for (task, *_), rows in group.groupby(["task", "method", "ring_layout", "anchor_mode", "block_size",
                                                       "anchor_size"]):
                    label = f"{task}: {series_label(rows)}"
                    draw_series(axis, rows.seq_len, rows.accuracy_ratio_vs_global, ["measured"] * len(rows),
                                colors(label), label)
                    series_used.append(label)
                blocks = group.block_size / group.seq_len
                ruler = group.task.str.contains("ruler|niah|vt|cwe|fwe|qa", case=False).any()
                published = ratios[[_model_key(m) == _model_key(key[0]) for m in ratios.model]]
                if int(key[2]) == PAPER_RANKS and ruler and np.isclose(blocks, 0.25).any() and not published.empty:
                    axis.plot(published.seq_len, published.ratio, color="gold", gid="points;kind=paper",
                              **PAPER_STYLE)
                    lengths += list(published.seq_len)
                    paper_drawn = True
                axis.set_ylabel("task accuracy / exact attention's\n(ours: global; paper: ring, also exact)")
                guide(axis)
            else:
                # Timing runs (task "") and task summaries (their samples' mean) are series of their own.
                for (task, *_), rows in group.groupby(["task", "method", "ring_layout", "anchor_mode", "block_size",
                                                       "anchor_size"]):
                    label = f"{task}: {series_label(rows)}" if task else series_label(rows)
                    draw_series(axis, rows.seq_len, rows.top1_vs_global, ["measured"] * len(rows), colors(label),
                                label, rows.ring_layout.iloc[0], LAYOUT_STYLES.get(rows.ring_layout.iloc[0], "-"))
                    series_used.append(label)
                axis.set_ylim(-0.05, 1.05)
                axis.set_ylabel("top-1 agreement with global\n(query tokens; paper: none)")
            length_axis(axis, lengths)
            axis.set_title(f"{panel_title(key)}\n{name}", fontsize=9)
            axis.set_gid(panel_gid(key, name))
            axis.grid(alpha=0.3)
    handles, labels = legend_entries(colors, _ordered(series_used), {}, [])
    if paper_drawn:
        handles.append(Line2D([], [], color="gold", **PAPER_STYLE))
        labels.append("paper, Table 1: star / ring accuracy, RULER")
    return grid.finish("Accuracy and fidelity against exact attention, same input", handles, labels)


def accuracy_figure(tasks: pd.DataFrame, fidelity: pd.DataFrame, points: pd.DataFrame, out_dir: str) -> str | None:
    figure = draw_accuracy(tasks, fidelity, points)
    return save(figure, out_dir, "accuracy_vs_global.png") if figure else None


# --- block size ------------------------------------------------------------------------------------


def draw_block_size(table: pd.DataFrame):
    """Star's context phase by block size (anchor = block), a series per context length, each ring layout's
    time at that length as a horizontal line of the same colour; fidelity by block size beside it only
    where a global reference gave fidelity numbers."""
    if table.empty:
        return None
    table = table[table.anchor_is_block] if table.anchor_is_block.any() else table
    fidelity_column = ("accuracy_ratio_vs_global" if table.accuracy_ratio_vs_global.notna().any()
                       else "top1_vs_global")
    has_fidelity = table[fidelity_column].notna().any()
    panels = panel_groups(table)
    grid = Grid(len(panels), 2 if has_fidelity else 1)
    colors = Colors()
    series_used, kinds_used, rings_used = [], set(), []
    for index, (key, group) in enumerate(panels):
        axes = grid.panel(index)
        values = []
        for (seq_len, simulated, warmup), rows in group.groupby(["seq_len", "simulated", "warmup"]):
            rows = rows.sort_values("block_size")
            label = f"{length_label(int(seq_len))} context"
            color = colors(label)
            draw_series(axes[0], rows.block_size, rows.context_ms, _kinds(rows), color, label,
                        alpha=0.75 if simulated else 1.0)
            values += list(rows.context_ms)
            for column, layout in [("ring_context_ms", "zigzag"), ("contiguous_ring_context_ms", "contiguous")]:
                if column in rows and rows[column].notna().any():
                    axes[0].axhline(rows[column].iloc[0], color=color, linestyle=LAYOUT_STYLES[layout],
                                    linewidth=1.0, gid=f"ring;layout={layout};seq_len={int(seq_len)}")
                    values.append(rows[column].iloc[0])
                    rings_used.append(layout)
            if has_fidelity and rows[fidelity_column].notna().any():
                draw_series(axes[1], rows.block_size, rows[fidelity_column], _kinds(rows), color, label)
            series_used.append(label)
            kinds_used.update(_kinds(rows))
        for axis in axes:
            length_axis(axis, group.block_size, label="block size = anchor size (tokens)")
            axis.grid(alpha=0.3, which="both")
        log_if_wide(axes[0], values)
        axes[0].set_ylabel("context phase (ms, slowest rank)")
        axes[0].set_title(f"{panel_title(key)}\nstar context phase by block size", fontsize=9)
        axes[0].set_gid(panel_gid(key, "time"))
        if has_fidelity:
            axes[1].set_ylim(-0.05, 1.05)
            axes[1].set_ylabel(fidelity_column.replace("_vs_global", "") + " vs global")
            axes[1].set_title(f"{panel_title(key)}\nfidelity by block size", fontsize=9)
            axes[1].set_gid(panel_gid(key, "fidelity"))
    styles = {f"ring, {layout} (same colour: same length)": LAYOUT_STYLES[layout] for layout in dict.fromkeys(rings_used)}
    handles, labels = legend_entries(colors, sorted(dict.fromkeys(series_used), key=tokens_in), styles,
                                     sorted(kinds_used))
    title = "Block-size trade-off (paper: no block-size numbers entered)"
    if not has_fidelity:
        title += "; no fidelity panel: no global run at these lengths"
    return grid.finish(title, handles, labels)


def block_size_figure(table: pd.DataFrame, out_dir: str) -> str | None:
    figure = draw_block_size(table)
    return save(figure, out_dir, "block_size_tradeoff.png") if figure else None


# --- memory ----------------------------------------------------------------------------------------


def draw_memory(table: pd.DataFrame, runs: pd.DataFrame):
    """Peak memory of the busiest rank by length, a series per method and layout (global's one rank in
    every panel of its model and GPU), and beside it each rank's peak at the panel's longest length."""
    if table.empty or table.peak_mem_bytes.isna().all():
        return None
    table = with_panels(table[table.peak_mem_bytes.notna()])
    table = table.assign(peak_mib=table.peak_mem_bytes / 2**20)
    single = table[table.world_size <= 1]
    several = table[table.world_size > 1]
    shown = pd.concat([several, single[(single.method != "global") | ~single.set_index(["model", "panel_device"])
                                       .index.isin(several.set_index(["model", "panel_device"]).index)]])
    panels = panel_groups(shown)
    timing = with_panels(runs[(runs.kind == "timing") | ((runs.kind == "") & (runs.task == ""))])
    grid = Grid(len(panels), 2)
    colors = Colors()
    series_used, kinds_used = [], set()
    for index, (key, group) in enumerate(panels):
        left, right = grid.panel(index)
        reference = single[(single.method == "global") & (single.model == key[0]) & (single.panel_device == key[1])]
        rows_here = pd.concat([group, reference])
        for _, rows in rows_here.groupby(["method", "ring_layout", "line", "duo_sparsity", "simulated"],
                                         dropna=False):
            label = _phase_label(rows)
            layout = rows.ring_layout.iloc[0]
            for part in split_repeated_lengths(rows.sort_values("seq_len")):
                draw_series(left, part.seq_len, part.peak_mib, _kinds(part), colors(label), label, layout,
                            LAYOUT_STYLES.get(layout, "-"))
            series_used.append(label)
            kinds_used.update(_kinds(rows))
        length_axis(left, rows_here.seq_len)
        if not log_if_wide(left, rows_here.peak_mib):
            left.set_ylim(bottom=0)
        left.set_ylabel("peak memory, busiest rank (MiB)")
        left.set_title(f"{panel_title(key)}\npeak memory by length", fontsize=9)
        left.set_gid(panel_gid(key, "by length"))
        left.grid(alpha=0.3, which="both")
        # Per rank, at the longest length with the most series, one run per series.
        here = timing[(timing.model == key[0]) & (timing.panel_device == key[1]) & (timing.world_size == key[2])
                      & (timing.host_layout == key[3])]
        if here.empty:
            continue
        here = here.assign(series=[_phase_label(pd.DataFrame([row])) if row["method"] not in ("star", "star+duo")
                                   else f"{row['method']} {rule_label(_line(row))}" for row in here.to_dict("records")])
        counts = here.groupby("seq_len").series.nunique()
        seq_len = int(counts[counts == counts.max()].index.max())
        chosen = here[here.seq_len == seq_len].drop_duplicates("series", keep="last")
        chosen = chosen.set_index("series").loc[[s for s in _ordered(chosen.series) if s in set(chosen.series)]]
        width = 0.8 / max(1, len(chosen))
        most_ranks = 1
        for i, (series, run) in enumerate(chosen.iterrows()):
            peaks = load_arrays(run.file, run.run_id).peak_bytes / 2**20
            most_ranks = max(most_ranks, len(peaks))
            ranks = np.arange(len(peaks))
            if len(peaks) <= 16:
                right.bar(ranks + (i - (len(chosen) - 1) / 2) * width, peaks, width=width, color=colors(series),
                          gid=f"bars;series={series}")
            else:
                right.plot(ranks, peaks, color=colors(series), linewidth=1.2, gid=f"line;series={series};layout=")
            series_used.append(series)
        if most_ranks <= 16:
            right.set_xticks(range(most_ranks))
        else:
            right.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
        right.set_xlabel("rank")
        right.set_ylabel("peak memory (MiB)")
        right.set_title(f"{panel_title(key)}\neach rank's peak at {length_label(seq_len)}", fontsize=9)
        right.set_gid(panel_gid(key, "by rank"))
        right.grid(axis="y", alpha=0.3)
    handles, labels = legend_entries(colors, _ordered(series_used), {}, sorted(kinds_used))
    return grid.finish("Peak memory per rank (paper: none published)", handles, labels)


def _line(row: dict) -> str:
    rule = row.get("block_rule", "")
    return rule if rule and rule != "fixed" else str(int(row.get("block_size", 0)))


def memory_figure(table: pd.DataFrame, runs: pd.DataFrame, out_dir: str) -> str | None:
    figure = draw_memory(table, runs)
    return save(figure, out_dir, "memory_per_rank.png") if figure else None


# --- work per rank ---------------------------------------------------------------------------------

# The star settings a row shows at most (smallest and largest block, and the rules in between).
WORK_STARS = 3


def draw_work(runs: pd.DataFrame):
    """What each rank computes in phase 1 (attention and matmul FLOPs, counted where issued) beside its
    time: per setting a row, at the longest length with ring and star, one panel per ring layout and star
    setting (at most WORK_STARS stars: the smallest and largest blocks and a rule between)."""
    timing = runs[(runs.kind == "timing") & runs.method.isin(["ring", "star"])
                  & runs.busiest_rank_attention_tflop.notna()]
    if timing.empty or timing.method.nunique() < 2:
        return None
    rows = []
    for key, group in panel_groups(timing):
        lengths = group.groupby("seq_len").method.nunique()
        both = lengths[lengths == 2]
        if both.empty:
            continue
        seq_len = int(both.index.max())
        chosen = group[group.seq_len == seq_len]
        # Measured where there are both kinds; warmed runs over cold ones.
        chosen = chosen[chosen.simulated == chosen.simulated.min()].sort_values("warmup")
        chosen = chosen.assign(series=[f"ring {r.ring_layout}" if r.method == "ring" else
                                       f"star {rule_label(_line(r._asdict()))} [{r.anchor_mode}]"
                                       for r in chosen.itertuples()])
        chosen = chosen.drop_duplicates("series", keep="last")
        ring = chosen[chosen.method == "ring"].sort_values("ring_layout", ascending=False)
        star = chosen[chosen.method == "star"].sort_values("block_size")
        total_stars = len(star)
        if len(star) > WORK_STARS:
            picks = sorted({0, len(star) - 1, len(star) // 2})
            star = star.iloc[picks]
        rows.append((key, seq_len, pd.concat([ring, star]), total_stars))
    if not rows:
        return None
    columns = max(len(chosen) for _, _, chosen, _ in rows)
    grid = Grid(len(rows), columns, panel_size=(3.0, 3.0), max_axes_per_row=columns)
    for index, (key, seq_len, chosen, total_stars) in enumerate(rows):
        axes = grid.panel(index)
        top = max(1e-9, chosen.context_ms.max()) * 1.15
        # One work scale per row: the panels' bars compare.
        loaded = [load_arrays(run.file, run.run_id) for _, run in chosen.iterrows()]
        most_work = max(float(np.max(a.context_attention_flops + a.context_matmul_flops, initial=0)) for a in loaded)
        for axis, (_, run), arrays in zip(axes, chosen.iterrows(), loaded):
            attention = arrays.context_attention_flops / 1e12
            matmul = arrays.context_matmul_flops / 1e12
            ranks = np.arange(len(attention))
            if len(ranks) <= 32:
                axis.bar(ranks, matmul, color="tab:gray")
                axis.bar(ranks, attention, bottom=matmul, color="tab:orange")
            else:
                axis.fill_between(ranks, 0, matmul, color="tab:gray", step="mid")
                axis.fill_between(ranks, matmul, matmul + attention, color="tab:orange", step="mid")
            twin = axis.twinx()
            per_rank_ms = np.median(arrays.context_ms, axis=0) if arrays.context_ms.size else np.zeros(len(ranks))
            twin.plot(ranks, per_rank_ms, "kD" if len(ranks) <= 32 else "k-", markersize=4)
            twin.set_ylim(bottom=0, top=top)
            axis.set_ylim(0, max(1e-9, most_work / 1e12) * 1.05)
            what = "simulated" if run.simulated else ("measured, no warm-up" if run.warmup == 0 else "measured")
            seconds = run.context_ms / 1e3
            axis.set_title(f"{run.series}\n{seconds:.3g} s ({what})" if seconds < 100 else
                           f"{run.series}\n{seconds:.0f} s ({what})", fontsize=8)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
            axis.set_xlabel("rank")
            axis.set_gid(panel_gid(key, run.series))
            if axis is axes[0]:
                shown = f"; {len(chosen[chosen.method == 'star'])} of {total_stars} star settings" \
                    if total_stars > WORK_STARS else ""
                axis.set_ylabel(f"{panel_title(key)}\n{length_label(seq_len)} tokens{shown}\nphase-1 TFLOP per rank",
                                fontsize=8)
            if axis is axes[len(chosen) - 1]:
                twin.set_ylabel("context phase per rank (ms, median)", fontsize=8)
            else:
                twin.set_yticklabels([])
    handles = [Patch(color="tab:gray"), Patch(color="tab:orange"), Line2D([], [], color="black", marker="D",
                                                                          linestyle="none")]
    labels = ["matmul TFLOP", "attention TFLOP", "context phase per rank (ms, median over repeats)"]
    return grid.finish("Per-rank work and time in the context phase, one row per setting "
                       "(the busiest rank sets the phase's time)", handles, labels)


def work_figure(runs: pd.DataFrame, out_dir: str) -> str | None:
    figure = draw_work(runs)
    return save(figure, out_dir, "work_per_rank.png") if figure else None


# --- simulator --------------------------------------------------------------------------------------


def validation_figure(table: pd.DataFrame, out_dir: str) -> str | None:
    """Simulated against measured context-phase times, one point per configuration (analysis.validation);
    colour: method and ring layout, marker: rank count."""
    if table.empty:
        return None
    figure, axis = plt.subplots(figsize=(6.4, 5.8))
    table = table.assign(series=[f"ring {layout}" if method == "ring" else method
                                 for method, layout in zip(table.method, table.ring_layout)])
    colors = Colors({"star": METHOD_COLORS["star"]})
    markers = dict(zip(sorted(set(int(w) for w in table.world_size)), "os^DvP*X"))
    for (series, world), group in table.groupby(["series", "world_size"]):
        axis.scatter(group.context_ms_measured / 1e3, group.context_ms_sim / 1e3, color=colors(series),
                     marker=markers[int(world)], edgecolor="black", linewidth=0.4, zorder=3,
                     label=f"{series}, {int(world)} rank{'s' if world > 1 else ''}")
    low = 0.8 * min(table.context_ms_measured.min(), table.context_ms_sim.min()) / 1e3
    high = 1.25 * max(table.context_ms_measured.max(), table.context_ms_sim.max()) / 1e3
    line = np.array([low, high])
    axis.plot(line, line, color="black", linewidth=0.8, label="simulated = measured", gid="guide")
    axis.fill_between(line, 0.9 * line, 1.1 * line, color="gray", alpha=0.2, label="within 10 %")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("measured context phase (s)")
    axis.set_ylabel("simulated context phase (s)")
    devices = ", ".join(sorted(set(table.device)))
    axis.set_title(f"Simulator vs measurement ({devices})", fontsize=10)
    axis.legend(fontsize=7, ncol=2)
    axis.grid(alpha=0.3, which="both")
    figure.tight_layout()
    return save(figure, out_dir, "simulator_validation.png")


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
    best = star.groupby(["world_size", "host_layout", "seq_len"], as_index=False).context_ms.min()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, layout in zip(axes, ["zigzag", "contiguous"]):
        rings = ring[ring.ring_layout == layout].groupby(["world_size", "host_layout", "seq_len"],
                                                         as_index=False).context_ms.min()
        merged = rings.merge(best, on=["world_size", "host_layout", "seq_len"], suffixes=("_ring", "_star"))
        for color, ((world, hosts), group) in zip(colors * 2, merged.groupby(["world_size", "host_layout"])):
            group = group.sort_values("seq_len")
            where = f" ({hosts_text(hosts)})" if hosts else ""
            axis.plot(group.seq_len, group.context_ms_ring / group.context_ms_star, "s-", color=color,
                      markerfacecolor="white", label=f"{int(world)} GPUs{where}",
                      gid=f"line;series={int(world)} GPUs;layout={layout}")
        length_axis(axis, merged.seq_len)
        axis.set_yscale("log")
        guide(axis)
        axis.set_title(f"Simulated ({device.replace(' (simulated)', '')}): best star block over the {layout} ring",
                       fontsize=10)
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("speedup (x)")
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    return save(figure, out_dir, "simulated_surface.png")
