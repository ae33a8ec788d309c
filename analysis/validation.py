"""The simulator against measurements: every measured run paired with its simulated twin (same model,
method, length, ranks, layout, block, anchor and anchor mode, and the same GPU: the simulation's hardware
profile describes the measured device), their times and peak memory side by side with the relative error.
`python3 -m analysis validate measured.h5 simulated.h5` prints the table that docs/SIMULATOR.md carries."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import tables
from .results import ResultsError

SIMULATED_SUFFIX = " (simulated)"


def _simulated_device(device: str) -> str:
    """The GPU a simulated run's profile describes: its device without " (simulated)"."""
    return device[: -len(SIMULATED_SUFFIX)] if device.endswith(SIMULATED_SUFFIX) else device

KEYS = ["model", "method", "seq_len", "world_size", "query_len", "generate", "ring_layout", "block_size",
        "anchor_size", "anchor_mode"]
# Acceptance (issue 10): context within 10 % per row (median 5 %), end-to-end 15 %, peak memory 10 %.
LIMITS = {"context": 0.10, "total": 0.15, "peak": 0.10}


def validation(runs: pd.DataFrame) -> pd.DataFrame:
    timing = tables.timing_runs(runs)
    measured = timing[timing.simulated == 0]
    simulated = timing[timing.simulated == 1]
    columns = ["context_ms", "total_ms", "peak_mem_bytes"]
    if measured.empty or simulated.empty:
        return pd.DataFrame(columns=KEYS + ["device"] + [f"{c}_{w}" for c in columns for w in ("measured", "sim")])
    measured = measured.groupby(KEYS + ["device"], as_index=False).agg(
        **{c: (c, "median") for c in columns}, warmup=("warmup", "min"))
    simulated = simulated.assign(device=simulated.device.map(_simulated_device))
    simulated = simulated.groupby(KEYS + ["device"], as_index=False)[columns].median()
    table = measured.merge(simulated, on=KEYS + ["device"], suffixes=("_measured", "_sim"))
    for name, column in [("context", "context_ms"), ("total", "total_ms"), ("peak", "peak_mem_bytes")]:
        table[f"{name}_error"] = table[f"{column}_sim"] / table[f"{column}_measured"] - 1.0
    return table.sort_values(["world_size", "seq_len", "method", "ring_layout", "block_size"]).reset_index(drop=True)


def other_device_twins(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(measured device, simulated device) of measured runs whose only simulated twins are for another GPU."""
    timing = tables.timing_runs(runs)
    measured = timing[timing.simulated == 0]
    simulated = timing[timing.simulated == 1].assign(device=lambda f: f.device.map(_simulated_device))
    pairs = measured[KEYS + ["device"]].merge(simulated[KEYS + ["device"]], on=KEYS, suffixes=("", "_sim"))
    same = pairs[pairs.device == pairs.device_sim][KEYS + ["device"]].drop_duplicates()
    other = pairs[pairs.device != pairs.device_sim].merge(same, on=KEYS + ["device"], how="left", indicator=True)
    other = other[other._merge == "left_only"]
    return sorted(set(zip(other.device, other.device_sim)))


def validate(runs: pd.DataFrame) -> pd.DataFrame:
    """validation(), refusing measured runs whose simulated twins are all for another GPU (a CPU measurement
    against an H200 simulation says nothing about the simulator)."""
    mismatched = other_device_twins(runs)
    if mismatched:
        listed = "; ".join(f"measured on '{m}', simulated for '{s}'" for m, s in mismatched)
        raise ResultsError(f"validate: measured runs have simulated twins only for another device ({listed}): "
                           "simulate with the hardware profile of the measured GPU (starbench calibrate on it)")
    return validation(runs)


def summary(table: pd.DataFrame) -> dict:
    if table.empty:
        return {}
    out = {"rows": len(table)}
    for name, limit in LIMITS.items():
        errors = table[f"{name}_error"].abs()
        out[f"{name}_max"] = float(errors.max())
        out[f"{name}_median"] = float(errors.median())
        out[f"{name}_within"] = int((errors <= limit).sum())
    return out


def markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_(no measured run has a simulated twin)_\n"
    rows = ["| GPUs | context | method | layout / block | measured ctx ms | simulated | error | measured e2e ms | "
            "simulated | error | measured peak GiB | simulated | error |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        setting = r.ring_layout if r.method == "ring" else (f"block {r.block_size}, {r.anchor_mode}"
                                                            if r.method == "star" else "-")
        cold = " (*)" if r.warmup == 0 else ""  # measured without a warm-up: includes one-time costs
        rows.append(f"| {r.world_size} | {r.seq_len}{cold} | {r.method} | {setting} | {r.context_ms_measured:.0f} | "
                    f"{r.context_ms_sim:.0f} | {100 * r.context_error:+.1f} % | {r.total_ms_measured:.0f} | "
                    f"{r.total_ms_sim:.0f} | {100 * r.total_error:+.1f} % | {r.peak_mem_bytes_measured / 2**30:.1f} | "
                    f"{r.peak_mem_bytes_sim / 2**30:.1f} | {100 * r.peak_error:+.1f} % |")
    s = summary(table)
    rows.append("")
    rows.append(f"{s['rows']} rows. Context phase: median |error| {100 * s['context_median']:.1f} %, max "
                f"{100 * s['context_max']:.1f} %, {s['context_within']} within 10 %. End-to-end: max "
                f"{100 * s['total_max']:.1f} %, {s['total_within']} within 15 %. Peak memory: max "
                f"{100 * s['peak_max']:.1f} %, {s['peak_within']} within 10 %.")
    warm = table[table.warmup > 0]
    if 0 < len(warm) < len(table):
        w = summary(warm)
        rows.append(f"Rows measured with a warm-up ({w['rows']}): context median |error| "
                    f"{100 * w['context_median']:.1f} %, max {100 * w['context_max']:.1f} %, {w['context_within']} "
                    f"within 10 %; end-to-end max {100 * w['total_max']:.1f} %, {w['total_within']} within 15 %.")
    return "\n".join(rows) + "\n"
