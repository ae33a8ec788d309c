"""Reading starbench results files: one row per complete run, arrays on demand.

The run groups (/runs/<id>) are the source of truth; the /index table is a
convenience for other readers and is not needed here. A run without the
`complete` attribute is a write that never finished and is left out.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

SCHEMA = "starbench-results/1"
RUNS = "runs"

# Columns every loaded frame has, so that analysis code can rely on them even
# when a file holds only some kinds of runs.
TEXT_COLUMNS = ["method", "backend", "model", "task", "kind", "device", "node_layout", "params_key", "ring_layout",
                "anchor_mode", "block_rule", "platform", "hardware", "duo_pattern", "label"]
INT_COLUMNS = ["seq_len", "query_len", "generate", "world_size", "block_size", "anchor_size", "repeats", "warmup",
               "sample",
               "simulated", "duo_sink", "duo_recent"]
NUMBER_COLUMNS = ["context_ms", "query_ms", "decode_ms_per_token", "total_ms", "comm_bytes_context",
                  "comm_bytes_query", "peak_mem_bytes", "decode_peak_mem_bytes", "kv_cache_bytes", "kl_vs_global",
                  "top1_vs_global", "gen_agree_vs_global", "hidden_rel_err_vs_global", "score", "accuracy",
                  "accuracy_ratio_vs_global", "busiest_rank_attention_tflop", "busiest_rank_matmul_tflop",
                  "busiest_rank_forward_tokens", "duo_sparsity"]


class ResultsError(Exception):
    """A results file that cannot be used; the message names the file."""


def decode(value):
    """An HDF5 attribute as a plain Python value (fixed-length strings come back as bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return decode(value[()])
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_store(path: str, mode: str = "r") -> h5py.File:
    """Opens a starbench results file, refusing anything else with a clear message."""
    if not os.path.exists(path):
        raise ResultsError(f"{path}: no such file")
    try:
        handle = h5py.File(path, mode)
    except OSError as error:
        raise ResultsError(f"{path}: not an HDF5 file ({error})") from None
    schema = decode(handle.attrs.get("starbench_schema", ""))
    if schema != SCHEMA and RUNS not in handle:
        handle.close()
        raise ResultsError(f"{path}: not a starbench results file (no '{SCHEMA}' schema attribute, no /{RUNS})")
    return handle


def is_complete(group: h5py.Group) -> bool:
    return int(decode(group.attrs.get("complete", 0)) or 0) == 1


def run_attributes(group: h5py.Group) -> dict:
    return {key: decode(value) for key, value in group.attrs.items() if key != "complete"}


def load_runs(paths) -> pd.DataFrame:
    """All complete runs of the files, one row each, with `file` and `run_id` columns."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    rows = []
    for path in paths:
        with open_store(str(path)) as handle:
            runs = handle.get(RUNS)
            if runs is None:
                continue
            for run_id in sorted(runs):
                group = runs[run_id]
                if not is_complete(group):
                    continue
                row = run_attributes(group)
                row["file"] = str(path)
                row["run_id"] = run_id
                rows.append(row)
    frame = pd.DataFrame(rows)
    for column in TEXT_COLUMNS:
        if column not in frame:
            frame[column] = ""
        frame[column] = frame[column].fillna("").astype(str)
    for column in INT_COLUMNS:
        if column not in frame:
            frame[column] = -1
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(-1).astype(np.int64)
    for column in NUMBER_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    # Star runs with a DuoAttention pattern are star + duo: a method of their own here.
    frame.loc[(frame.method == "star") & (frame.duo_pattern != ""), "method"] = "star+duo"
    return _fill_legacy(frame)


def _fill_legacy(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs recorded before these attributes existed: the ring was zigzag, star recomputed its anchor per
    block, nothing was simulated, and a star block was either context / ranks or a fixed size."""
    if frame.empty:
        return frame
    frame.loc[frame.simulated < 0, "simulated"] = 0
    frame.loc[(frame.method == "ring") & (frame.ring_layout == ""), "ring_layout"] = "zigzag"
    star = frame.method == "star"
    frame.loc[star & (frame.anchor_mode == ""), "anchor_mode"] = "recompute"
    per_rank = -(-frame.seq_len // frame.world_size.clip(lower=1))
    unknown_rule = star & (frame.block_rule == "")
    frame.loc[unknown_rule & (frame.block_size == per_rank), "block_rule"] = "C/ranks"
    frame.loc[unknown_rule & (frame.block_size != per_rank), "block_rule"] = "fixed"
    frame["host_layout"] = [host_layout(row) for row in frame.to_dict("records")]
    return frame


def _count(value) -> int:
    """A whole-number attribute, or 0 when it is missing, text or not positive."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if number == number and number > 0 and number == int(number) else 0


def host_layout(row: dict) -> str:
    """Where a run's ranks were (or, simulated, are modelled to be): "<hosts>x<ranks per host>".

    Measured runs record it (node_layout); a simulated run has its platform's GPUs per host
    (gpus_per_host, or gpus_per_node in files written before), and a host count when it
    records one (hosts as a number; measured runs' hosts is their host names). "" = unknown.
    """
    if row.get("node_layout"):
        return str(row["node_layout"])
    world = _count(row.get("world_size"))
    per_host = _count(row.get("gpus_per_host")) or _count(row.get("gpus_per_node"))
    hosts = _count(row.get("hosts"))
    if world and hosts:
        per = -(-world // hosts)
        return f"{hosts}x{per}" if per * hosts == world else f"{hosts} hosts"
    if world and per_host:
        return f"{-(-world // per_host)}x{min(world, per_host)}"
    return ""


@dataclass
class RunArrays:
    """The per-rank, per-repeat arrays of one run."""
    context_ms: np.ndarray  # [repeats, ranks]
    query_ms: np.ndarray
    decode_ms: np.ndarray
    peak_bytes: np.ndarray  # [ranks]
    context_bytes: np.ndarray  # [ranks]
    # Phase-1 work each rank issued (empty for runs recorded before it was counted).
    context_attention_flops: np.ndarray = None  # [ranks]
    context_matmul_flops: np.ndarray = None
    context_forward_tokens: np.ndarray = None


def _array(group: h5py.Group, path: str, ndim: int) -> np.ndarray:
    if path not in group:
        return np.zeros((0,) * ndim)
    return np.asarray(group[path][()], dtype=float)


def load_arrays(file: str, run_id: str) -> RunArrays:
    with open_store(file) as handle:
        if run_id not in handle[RUNS]:
            raise ResultsError(f"{file}: no run {run_id}")
        group = handle[RUNS][run_id]
        return RunArrays(context_ms=_array(group, "timing/context_ms", 2),
                         query_ms=_array(group, "timing/query_ms", 2),
                         decode_ms=_array(group, "timing/decode_ms", 2),
                         peak_bytes=_array(group, "memory/peak_bytes", 1),
                         context_bytes=_array(group, "comm/context_bytes", 1),
                         context_attention_flops=_array(group, "work/context_attention_flops", 1),
                         context_matmul_flops=_array(group, "work/context_matmul_flops", 1),
                         context_forward_tokens=_array(group, "work/context_forward_tokens", 1))
