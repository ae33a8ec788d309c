"""DuoAttention against global attention on the same input: memory, decoding and
prefill at each context length, next to the ratios DuoAttention publishes for GQA
models (Xiao et al., arXiv 2410.10819, abstract: "reduces long-context inference
memory by up to 2.55x for MHA and 1.67x for GQA models while speeding up decoding
by up to 2.18x and 1.50x and accelerating pre-filling by up to 1.73x and 1.63x for
MHA and GQA models, respectively")."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import tables  # noqa: E402

PUBLISHED_GQA = {"memory": 1.67, "decode": 1.50, "prefill": 1.63}
SOURCE = ("DuoAttention (Xiao et al., arXiv 2410.10819), abstract: up to 1.67x less memory, 1.50x faster decoding "
          "and 1.63x faster pre-filling for GQA models")
COLUMNS = ["context_ms", "decode_ms_per_token", "kv_cache_bytes", "decode_peak_mem_bytes", "peak_mem_bytes"]


def comparison(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per setup, length and pattern: global's and duo's numbers and the ratios global / duo
    (memory: the peak while decoding, which DuoAttention reports; the whole run's peak where older files
    lack it)."""
    timing = tables.timing_runs(runs)
    # Runs with and without a warm-up are different settings: each duo run pairs with a global one of its kind.
    keys = tables.SETUP + ["seq_len", "warmup"]
    duo = timing[timing.method == "duo"]
    glob = timing[timing.method == "global"]
    if duo.empty or glob.empty:
        return pd.DataFrame(columns=keys + ["duo_pattern", "duo_sparsity", "prefill_ratio", "decode_ratio",
                                            "memory_ratio", "kv_ratio"])
    glob = tables._dedupe(glob, keys)[keys + COLUMNS]
    duo = tables._dedupe(duo, keys + ["duo_pattern"])[keys + ["duo_pattern", "duo_sparsity"] + COLUMNS]
    table = duo.merge(glob, on=keys, suffixes=("_duo", "_global"))
    for column in COLUMNS:  # older files: no decoding peak or KV bytes (NaN or absent)
        for side in ("duo", "global"):
            if f"{column}_{side}" not in table:
                table[f"{column}_{side}"] = np.nan
    memory_global = table.decode_peak_mem_bytes_global.fillna(table.peak_mem_bytes_global)
    memory_duo = table.decode_peak_mem_bytes_duo.fillna(table.peak_mem_bytes_duo)
    table["prefill_ratio"] = table.context_ms_global / table.context_ms_duo
    table["decode_ratio"] = table.decode_ms_per_token_global / table.decode_ms_per_token_duo
    table["memory_ratio"] = memory_global / memory_duo
    table["kv_ratio"] = table.kv_cache_bytes_global / table.kv_cache_bytes_duo
    return table.sort_values(keys + ["duo_pattern"]).reset_index(drop=True)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """The report's columns: times, GiB and ratios."""
    gib = 2.0 ** 30
    frame = table[tables.SETUP + ["seq_len", "duo_pattern", "duo_sparsity"]].copy()
    frame["prefill_ms_global"], frame["prefill_ms_duo"] = table.context_ms_global, table.context_ms_duo
    frame["prefill_ratio"] = table.prefill_ratio
    frame["decode_ms_global"], frame["decode_ms_duo"] = table.decode_ms_per_token_global, table.decode_ms_per_token_duo
    frame["decode_ratio"] = table.decode_ratio
    frame["kv_gib_global"], frame["kv_gib_duo"] = table.kv_cache_bytes_global / gib, table.kv_cache_bytes_duo / gib
    frame["memory_ratio"], frame["kv_ratio"] = table.memory_ratio, table.kv_ratio
    return frame


def figure(table: pd.DataFrame, out_dir: str) -> str | None:
    """Memory, decode and prefill of global and duo by length (left axes), the ratio global / duo
    (right axes, with DuoAttention's published GQA ratio dotted)."""
    if table.empty:
        return None
    from .plotting import METHOD_COLORS, PAPER_STYLE, length_axis as _length_axis, save as _save
    gib = 2.0 ** 30
    panels = [
        ("memory", "memory while decoding (GiB)",
         table.decode_peak_mem_bytes_global.fillna(table.peak_mem_bytes_global) / gib,
         table.decode_peak_mem_bytes_duo.fillna(table.peak_mem_bytes_duo) / gib, table.memory_ratio),
        ("decode", "decoding (ms / token)", table.decode_ms_per_token_global, table.decode_ms_per_token_duo,
         table.decode_ratio),
        ("prefill", "prefill of the context (ms)", table.context_ms_global, table.context_ms_duo,
         table.prefill_ratio),
    ]
    figure_, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for axis, (name, label, global_values, duo_values, ratio) in zip(axes, panels):
        twin = axis.twinx()
        several = table.duo_pattern.nunique() > 1 or table.model.nunique() > 1
        for (model, pattern), group in table.groupby(["model", "duo_pattern"], sort=False):
            rows = group.index
            tag = f" ({model}, {pattern})" if several else ""
            axis.plot(group.seq_len, global_values[rows], "o-", color=METHOD_COLORS["global"], label=f"global{tag}")
            axis.plot(group.seq_len, duo_values[rows], "s-", color=METHOD_COLORS["duo"],
                      label=f"duo, sparsity {group.duo_sparsity.iloc[0]:.2f}{tag}")
            twin.plot(group.seq_len, ratio[rows], "^--", color="black", label=f"measured global / duo{tag}")
        twin.axhline(PUBLISHED_GQA[name], color="tab:purple", linestyle=":", linewidth=1.2)
        twin.plot([table.seq_len.min(), table.seq_len.max()], [PUBLISHED_GQA[name]] * 2, color="tab:purple",
                  label=f"DuoAttention paper, GQA: {PUBLISHED_GQA[name]}x", **PAPER_STYLE)
        twin.set_ylabel("global / duo (x)")
        twin.set_ylim(0, max(2.0, float(np.nanmax(ratio.to_numpy(dtype=float))) * 1.2, PUBLISHED_GQA[name] * 1.2))
        _length_axis(axis, table.seq_len)
        axis.set_ylim(bottom=0)
        axis.set_ylabel(label)
        axis.set_title(f"DuoAttention vs global: {name}", fontsize=10)
        axis.grid(alpha=0.3)
        lines, labels = axis.get_legend_handles_labels()
        more_lines, more_labels = twin.get_legend_handles_labels()
        axis.legend(lines + more_lines, labels + more_labels, fontsize=7, loc="upper left")
    figure_.tight_layout()
    return _save(figure_, out_dir, "duo_vs_global.png")
