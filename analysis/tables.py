"""Derived tables: what the figures plot and the report lists.

Runs of one setting measured more than once (the same params_key in several
files that were not merged, or runs that differ only in --repeats) are reduced
to the median of all their repeats together (each repeat's slowest rank, as a
run's own summary is), not to an average of their medians; `runs` counts them.
Runs with and without a warm-up are different settings and stay apart.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .results import load_arrays

# Runs that measure the same configuration on the same kind of machine: the
# device model and the node layout ("2x4": nodes x ranks per node; "" in files
# written before starbench recorded it), and the host layout (the node layout,
# or for a simulated run its platform's: results.host_layout).
SETUP = ["model", "backend", "device", "node_layout", "host_layout"]
# Text carried through a reduction when its runs agree (the run's label, when the file records one).
CARRIED_TEXT = ["label"]


def timing_runs(runs: pd.DataFrame) -> pd.DataFrame:
    timing = runs[(runs.kind == "timing") | ((runs.kind == "") & (runs.task == ""))]
    return timing.copy()


def _slowest_per_repeat(file: str, run_id: str) -> dict[str, np.ndarray]:
    """A run's phase times per repeat, each the slowest rank's (the run's summary is their median)."""
    arrays = load_arrays(file, run_id)
    slowest = {}
    for phase, values in [("context_ms", arrays.context_ms), ("query_ms", arrays.query_ms),
                          ("decode_ms_per_token", arrays.decode_ms)]:
        slowest[phase] = values.max(axis=1) if values.ndim == 2 and values.size else np.zeros(0)
    return slowest


def _pooled_times(group: pd.DataFrame) -> dict[str, float]:
    """The median over every repeat of several runs of one setting, or {} when a run lacks its arrays."""
    pooled: dict[str, list] = {"context_ms": [], "query_ms": [], "decode_ms_per_token": []}
    for file, run_id in zip(group.file, group.run_id):
        slowest = _slowest_per_repeat(file, run_id)
        if not slowest["context_ms"].size:
            return {}
        for phase, values in slowest.items():
            pooled[phase] += list(values)
    medians = {phase: float(np.median(values)) if values else np.nan for phase, values in pooled.items()}
    generate = float(group.generate.max()) if "generate" in group else 1.0
    decode = medians["decode_ms_per_token"] if not np.isnan(medians["decode_ms_per_token"]) else 0.0
    medians["total_ms"] = medians["context_ms"] + medians["query_ms"] + decode * max(0.0, generate - 1)
    return medians


def _dedupe(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per setting (keys + warm-up): numbers are medians; phase times of a setting run more than
    once are the median of all its runs' repeats; `repeats` sums them, `runs` counts the runs."""
    keys = keys + (["warmup"] if "warmup" in frame and "warmup" not in keys else [])
    numeric = [c for c in frame.columns if c not in keys and pd.api.types.is_numeric_dtype(frame[c])]
    if frame.empty:
        return frame.groupby(keys, as_index=False)[numeric].median().assign(runs=pd.Series(dtype=np.int64))
    grouped = frame.groupby(keys, as_index=False, sort=True)
    table = grouped[numeric].median()
    table["runs"] = grouped.size()["size"].to_numpy()
    if "repeats" in frame:
        table["repeats"] = grouped["repeats"].sum()["repeats"].to_numpy()
    for column in CARRIED_TEXT:
        if column in frame:
            agreed = grouped[column].agg(lambda values: values.iloc[0] if values.nunique() == 1 else "")
            table[column] = agreed[column].to_numpy()
    if (table.runs > 1).any() and {"file", "run_id"} <= set(frame.columns):
        for index, (_, group) in zip(table.index, grouped):
            if len(group) > 1:
                for phase, value in _pooled_times(group).items():
                    if phase in table:
                        table.loc[index, phase] = value
    return table


def default_star(star: pd.DataFrame) -> pd.DataFrame:
    """At each length, the star run with the paper's layout: block = context / ranks, anchor = block.

    Where no such run exists, the one with the largest block (anchor = block
    preferred) stands in for it.
    """
    if star.empty:
        return star
    star = star.copy()
    star["is_default"] = (star.block_size == -(-star.seq_len // star.world_size)) & (star.anchor_size == star.block_size)
    star["anchor_is_block"] = star.anchor_size == star.block_size
    star = star.sort_values(["is_default", "anchor_is_block", "block_size"])
    chosen = star.groupby(SETUP + ["world_size", "seq_len"], as_index=False).tail(1)
    return chosen.drop(columns=["is_default", "anchor_is_block"])


# The anchor mode a star line uses where several were measured: the default first.
ANCHOR_MODE_PREFERENCE = {"sent": 0, "once": 1, "recompute": 2}
SPEEDUP_COLUMNS = ["ring_layout", "block_rule", "anchor_mode", "block_size", "anchor_size", "ring_context_ms",
                   "star_context_ms", "context_speedup", "ring_total_ms", "star_total_ms", "total_speedup",
                   "star_label"]


def _preferred_anchor_mode(star: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Of star runs that differ only in anchor mode, those of the preferred mode (they compute the same)."""
    if star.empty:
        return star
    rank = star.anchor_mode.map(ANCHOR_MODE_PREFERENCE).fillna(9)
    best = rank.groupby([star[k] for k in keys]).transform("min")
    return star[rank == best]


def speedup(runs: pd.DataFrame) -> pd.DataFrame:
    """Star over ring at each length and rank count, one row per (ring layout x star block rule): context
    phase and whole request. Star rows have anchor = block; where several anchor modes were measured, the
    default's (sent) stands for the rule. Measured and simulated runs stay apart (SETUP holds the backend), and
    so do runs with and without a warm-up (ring and star of the same warm-up are paired). `star_label`: the star
    runs' recorded label, where they record one."""
    timing = timing_runs(runs)
    keys = SETUP + ["simulated", "warmup", "world_size", "seq_len"]
    ring = _dedupe(timing[timing.method == "ring"], keys + ["ring_layout"])
    star = timing[(timing.method == "star") & (timing.anchor_size == timing.block_size)]
    star = _dedupe(star, keys + ["block_rule", "block_size", "anchor_size", "anchor_mode"])
    if ring.empty or star.empty:
        return pd.DataFrame(columns=keys + SPEEDUP_COLUMNS)
    # A line per rule: "C/ranks", "C/4", or one per fixed block size ("16384").
    star = star.assign(preference=star.anchor_mode.map(ANCHOR_MODE_PREFERENCE).fillna(9),
                       line=[line_of(rule, block) for rule, block in zip(star.block_rule, star.block_size)])
    star = star.sort_values("preference").groupby(keys + ["line"], as_index=False).head(1)
    merged = ring[keys + ["ring_layout", "context_ms", "total_ms"]].merge(
        star[keys + ["line", "anchor_mode", "block_size", "anchor_size", "context_ms", "total_ms", "label"]],
        on=keys, suffixes=("_ring", "_star"))
    table = pd.DataFrame({
        **{k: merged[k] for k in keys},
        "ring_layout": merged.ring_layout, "block_rule": merged.line, "anchor_mode": merged.anchor_mode,
        "block_size": merged.block_size, "anchor_size": merged.anchor_size,
        "ring_context_ms": merged.context_ms_ring, "star_context_ms": merged.context_ms_star,
        "context_speedup": merged.context_ms_ring / merged.context_ms_star,
        "ring_total_ms": merged.total_ms_ring, "star_total_ms": merged.total_ms_star,
        "total_speedup": merged.total_ms_ring / merged.total_ms_star, "star_label": merged.label,
    })
    return table.sort_values(keys + ["ring_layout", "block_rule"]).reset_index(drop=True)


def _per_method_and_length(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The timing runs, one row per method, layout and length (star: only its default layout), and those keys."""
    timing = timing_runs(runs)
    keys = SETUP + ["method", "ring_layout", "anchor_mode", "world_size", "seq_len", "block_size", "anchor_size"]
    frame = _dedupe(timing, keys)
    star = default_star(frame[frame.method == "star"])
    return pd.concat([frame[frame.method != "star"], star], ignore_index=True), keys


def breakdown(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-phase time of each method at each length (star: its default layout)."""
    frame, keys = _per_method_and_length(runs)
    # Decoding in total: the tokens after the first (the query pass yields the first), as total_ms counts them;
    # runs record it per token (decode_ms_per_token), which is what the run's own table shows.
    frame["decode_total_ms"] = (frame.total_ms - frame.context_ms - frame.query_ms).clip(lower=0)
    columns = keys + ["warmup", "runs", "repeats", "context_ms", "query_ms", "decode_ms_per_token", "decode_total_ms",
                      "total_ms"]
    order = {"global": 0, "ring": 1, "star": 2}
    frame["order"] = frame.method.map(order).fillna(3)
    return frame.sort_values(SETUP + ["seq_len", "order"])[columns].reset_index(drop=True)


def phase_times(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-phase times of every series the figures draw: global, each ring layout, duo, and each star line
    (block rule, or fixed block size; anchor = block; the preferred anchor mode), at each length and rank
    count, measured and simulated apart, with and without warm-up apart. `line` names the star line."""
    timing = timing_runs(runs)
    keys = SETUP + ["simulated", "method", "ring_layout", "world_size", "seq_len", "duo_sparsity"]
    timing = timing.assign(duo_sparsity=timing.duo_sparsity.fillna(-1.0))
    others = _dedupe(timing[~timing.method.isin(["star", "star+duo"])], keys)
    others["line"] = ""
    star = timing[timing.method.isin(["star", "star+duo"]) & (timing.anchor_size == timing.block_size)]
    star = star.assign(line=[line_of(rule, block) for rule, block in zip(star.block_rule, star.block_size)])
    star = _preferred_anchor_mode(star, keys + ["line"])
    star = _dedupe(star, keys + ["line", "block_rule", "anchor_mode"])
    frame = pd.concat([others, star], ignore_index=True)
    for column in ("block_rule", "anchor_mode", "label"):
        if column not in frame:
            frame[column] = ""
        frame[column] = frame[column].fillna("")
    frame["duo_sparsity"] = frame.duo_sparsity.where(frame.duo_sparsity >= 0)
    return frame.sort_values(SETUP + ["world_size", "seq_len", "method", "line"]).reset_index(drop=True)


def line_of(block_rule: str, block_size) -> str:
    """A star series: its block rule ("C/4", "C/ranks"), or the fixed block size ("16384")."""
    return block_rule if block_rule and block_rule != "fixed" else str(int(block_size))


def fidelity(runs: pd.DataFrame) -> pd.DataFrame:
    """Agreement of ring and star with global on the same input: timing runs (`task` ""), and task summaries
    (`task` names it: the mean over a task's samples at one length, each compared with global's run on the same
    prompt; recorded since issue 20)."""
    compared = pd.concat([timing_runs(runs), runs[runs.kind == "task_summary"]])
    keys = SETUP + ["task", "method", "ring_layout", "anchor_mode", "block_rule", "world_size", "seq_len",
                    "block_size", "anchor_size"]
    chosen = compared[(compared.method != "global") & compared.top1_vs_global.notna()]
    columns = ["kl_vs_global", "top1_vs_global", "gen_agree_vs_global", "hidden_rel_err_vs_global", "label"]
    if chosen.empty:
        return pd.DataFrame(columns=keys + columns)
    return _dedupe(chosen, keys)[keys + columns].sort_values(keys).reset_index(drop=True)


def task_accuracy(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-task accuracy and its ratio to global's, from task_summary runs."""
    summary = runs[runs.kind == "task_summary"]
    keys = SETUP + ["task", "method", "ring_layout", "anchor_mode", "block_rule", "world_size", "seq_len",
                    "block_size", "anchor_size"]
    columns = ["accuracy", "accuracy_ratio_vs_global", "score", "label"]
    if summary.empty:
        return pd.DataFrame(columns=keys + columns)
    return _dedupe(summary, keys)[keys + columns].sort_values(keys).reset_index(drop=True)


def block_tradeoff(runs: pd.DataFrame) -> pd.DataFrame:
    """Star runs at lengths measured with two or more block sizes: time and fidelity per block."""
    timing = timing_runs(runs)
    keys = SETUP + ["world_size", "seq_len", "block_size", "anchor_size"]
    star = _preferred_anchor_mode(timing[timing.method == "star"], keys)
    star = _dedupe(star, keys)
    if star.empty:
        return star
    star["anchor_is_block"] = star.anchor_size == star.block_size
    counts = star.groupby(SETUP + ["world_size", "seq_len"]).block_size.transform("nunique")
    star = star[counts >= 2]
    for layout, column in [("zigzag", "ring_context_ms"), ("contiguous", "contiguous_ring_context_ms")]:
        ring = timing[(timing.method == "ring") & (timing.ring_layout == layout)]
        ring = _dedupe(ring, SETUP + ["world_size", "seq_len"])
        # One ring time per length: a ring measured with and without warm-up gives the warmed one.
        ring = ring.sort_values("warmup").drop_duplicates(SETUP + ["world_size", "seq_len"], keep="last")
        star = star.merge(ring[SETUP + ["world_size", "seq_len", "context_ms"]].rename(
            columns={"context_ms": column}), on=SETUP + ["world_size", "seq_len"], how="left")
    star["context_speedup"] = star.ring_context_ms / star.context_ms
    columns = keys + ["simulated", "warmup", "anchor_is_block", "context_ms", "total_ms", "ring_context_ms", "context_speedup",
                      "contiguous_ring_context_ms", "top1_vs_global", "kl_vs_global", "accuracy_ratio_vs_global"]
    return star[columns].sort_values(keys).reset_index(drop=True)


def memory(runs: pd.DataFrame) -> pd.DataFrame:
    """Peak memory of the busiest rank, per method and length."""
    frame, keys = _per_method_and_length(runs)
    frame["peak_mib"] = frame.peak_mem_bytes / 2**20
    return frame[keys + ["peak_mem_bytes", "peak_mib"]].sort_values(keys).reset_index(drop=True)


def longest_per_method(runs: pd.DataFrame) -> pd.DataFrame:
    """For per-rank plots: each method's run at the longest length measured with every method."""
    timing = timing_runs(runs)
    if timing.empty:
        return timing
    lengths = timing.groupby("seq_len").method.nunique()
    seq_len = lengths[lengths == lengths.max()].index.max()
    chosen = timing[timing.seq_len == seq_len]
    star = default_star(chosen[chosen.method == "star"])
    others = chosen[chosen.method != "star"].drop_duplicates(SETUP + ["method", "world_size"], keep="last")
    return pd.concat([others, star[[c for c in star.columns if c in chosen.columns]]], ignore_index=True)


def with_markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (no tabulate dependency)."""
    if frame.empty:
        return "_(no rows)_\n"

    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            if np.isnan(value):
                return "-"
            return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.4g}"
        return str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def study_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Every timing run, one row each, with its speedups over both ring layouts at the same length and rank
    count (context phase / whole request) and its busiest rank's work: docs/SPEEDUP.md's table."""
    timing = timing_runs(runs)
    if timing.empty:
        return timing
    keys = SETUP + ["simulated", "world_size", "seq_len"]
    frame = timing.copy()
    for layout in ("zigzag", "contiguous"):
        ring = _dedupe(timing[(timing.method == "ring") & (timing.ring_layout == layout)], keys)
        ring = ring[keys + ["context_ms", "total_ms"]].rename(
            columns={"context_ms": f"{layout}_context_ms", "total_ms": f"{layout}_total_ms"})
        frame = frame.merge(ring, on=keys, how="left")
        frame[f"vs_{layout}"] = [
            f"{rc / c:.2f}x / {rt / t:.2f}x" if m != "global" and r == w and not np.isnan(rc) else ""
            for m, r, w, rc, c, rt, t in zip(frame.method, frame.world_size, frame.world_size,
                                             frame[f"{layout}_context_ms"], frame.context_ms,
                                             frame[f"{layout}_total_ms"], frame.total_ms)]
    frame["setting"] = [
        layout if m == "ring" else (f"block {b} ({rule}), anchor {mode}" if m == "star" else "")
        for m, layout, b, rule, mode in zip(frame.method, frame.ring_layout, frame.block_size, frame.block_rule,
                                            frame.anchor_mode)]
    frame["comm_gib"] = frame.comm_bytes_context / 2**30
    frame["peak_gib"] = frame.peak_mem_bytes / 2**30
    order = {"global": 0, "ring": 1, "star": 2, "duo": 3}
    frame = frame.assign(order=frame.method.map(order).fillna(9)).sort_values(
        ["simulated", "seq_len", "order", "setting"])
    columns = ["seq_len", "method", "setting", "world_size", "repeats", "context_ms", "query_ms",
               "decode_ms_per_token", "total_ms", "vs_zigzag", "vs_contiguous", "busiest_rank_attention_tflop",
               "busiest_rank_matmul_tflop", "comm_gib", "peak_gib", "kl_vs_global"]
    return frame[columns].reset_index(drop=True)
