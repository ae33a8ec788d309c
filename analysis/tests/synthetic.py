"""Results files in the starbench schema written with h5py, with known numbers,
so that the analysis can be checked exactly (the end-to-end test uses files
written by starbench itself)."""
from __future__ import annotations

import h5py
import numpy as np

from analysis.results import SCHEMA
from analysis.store_index import write_index


def params_key(run: dict) -> str:
    fields = ["model", "backend", "method", "seq_len", "query_len", "generate", "world_size", "block_size",
              "anchor_size", "repeats", "seed", "task", "sample"]
    return ";".join(f"{f}={run.get(f, '')}" for f in fields)


def timing_run(method: str, seq_len: int, world_size: int, context_ms: float, *, query_ms: float = 2.0,
               decode_ms: float = 1.0, generate: int = 3, block_size: int = 0, anchor_size: int = 0,
               peak_bytes=None, model: str = "tiny", fidelity: dict | None = None, repeats: int = 3) -> dict:
    ranks = 1 if method == "global" else world_size
    peaks = list(peak_bytes) if peak_bytes is not None else [float(2**20 * (1 + r)) for r in range(ranks)]
    run = {
        "text": {"method": method, "backend": "cpu", "model": model, "task": "", "kind": "timing",
                 "device": "test cpu", "version": "0.1.0", "git_commit": "test"},
        "integers": {"seq_len": seq_len, "query_len": 4, "generate": generate, "world_size": ranks,
                     "block_size": block_size, "anchor_size": anchor_size, "seed": 1, "repeats": repeats,
                     "warmup": 0, "sample": -1},
        "numbers": {"context_ms": context_ms, "query_ms": query_ms, "decode_ms_per_token": decode_ms,
                    "total_ms": context_ms + query_ms + decode_ms * (generate - 1),
                    "comm_bytes_context": 0.0, "peak_mem_bytes": max(peaks), **(fidelity or {})},
        # The slowest rank is rank 0 and its median repeat is the summary number.
        "arrays": {"timing/context_ms": np.array([[context_ms * f] + [context_ms * f * 0.5] * (ranks - 1)
                                                  for f in (0.9, 1.0, 1.2)][:repeats]),
                   "timing/query_ms": np.full((repeats, ranks), query_ms),
                   "timing/decode_ms": np.full((repeats, ranks), decode_ms),
                   "memory/peak_bytes": np.array(peaks),
                   "comm/context_bytes": np.zeros(ranks)},
    }
    flat = {**run["text"], **run["integers"]}
    run["text"]["params_key"] = params_key(flat)
    return run


def write_simulated_twins(path: str, measured_ms: float, simulated_ms: float, simulated_device: str) -> None:
    """A measured 2-rank ring run at 4096 tokens and its simulated twin (simulated on `simulated_device`)."""
    measured = timing_run("ring", 4096, 2, measured_ms)
    simulated = timing_run("ring", 4096, 2, simulated_ms)
    simulated["integers"]["simulated"] = 1
    simulated["text"].update(backend="sim", device=simulated_device)
    simulated["text"]["params_key"] += ";sim"
    write_results(path, [measured, simulated])


def write_results(path: str, runs: list[dict], incomplete: list[dict] = ()) -> None:
    # Like the C++ store: new-format groups, runs in creation order, and so
    # (with 30-odd attributes) dense attribute storage in every run group.
    with h5py.File(path, "w", libver="latest") as handle:
        handle.attrs["starbench_schema"] = SCHEMA
        group_of_runs = handle.create_group("runs", track_order=True)
        for number, run in enumerate(list(runs) + list(incomplete), start=1):
            group = group_of_runs.create_group(f"run_{number:06d}", track_order=True)
            for key, value in run["text"].items():
                group.attrs[key] = value
            for key, value in run["integers"].items():
                group.attrs[key] = np.int64(value)
            for key, value in run["numbers"].items():
                group.attrs[key] = np.float64(value)
            for name, array in run["arrays"].items():
                group.create_dataset(name, data=array)
            if number <= len(runs):
                group.attrs["complete"] = np.int64(1)
        write_index(handle)


def sweep(world_size: int = 4, lengths=(1024, 2048, 4096), blocks_at=None) -> list[dict]:
    """Global, ring and star at each length: ring = global / ranks, star = ring / speedup(length)."""
    runs = []
    for i, seq_len in enumerate(lengths):
        global_ms = 1e-4 * seq_len**2
        ring_ms = global_ms / world_size
        star_ms = ring_ms / (1.5 + i)  # speedups 1.5, 2.5, 3.5 ...
        block = -(-seq_len // world_size)
        runs.append(timing_run("global", seq_len, world_size, global_ms, peak_bytes=[8e6 * seq_len / 1024]))
        runs.append(timing_run("ring", seq_len, world_size, ring_ms,
                               fidelity={"kl_vs_global": 1e-9, "top1_vs_global": 1.0, "gen_agree_vs_global": 1.0,
                                         "hidden_rel_err_vs_global": 1e-7}))
        runs.append(timing_run("star", seq_len, world_size, star_ms, block_size=block, anchor_size=block,
                               fidelity={"kl_vs_global": 0.01, "top1_vs_global": 0.75, "gen_agree_vs_global": 0.5,
                                         "hidden_rel_err_vs_global": 0.1}))
    if blocks_at is not None:
        seq_len = blocks_at
        for block in (seq_len // 16, seq_len // 8):
            runs.append(timing_run("star", seq_len, world_size, 1e-4 * seq_len * block, block_size=block,
                                   anchor_size=block,
                                   fidelity={"kl_vs_global": 0.1, "top1_vs_global": block / seq_len * 4,
                                             "gen_agree_vs_global": 0.5, "hidden_rel_err_vs_global": 0.2}))
    return runs


def task_summary(task: str, method: str, seq_len: int, world_size: int, accuracy: float, ratio: float,
                 block_size: int = 0) -> dict:
    """A task_summary run: accuracy over a task's samples and its ratio to global's."""
    run = timing_run(method, seq_len, world_size, 1.0, block_size=block_size, anchor_size=block_size)
    run["text"].update(kind="task_summary", task=task)
    run["integers"]["sample"] = -1
    run["numbers"].update(accuracy=accuracy, accuracy_ratio_vs_global=ratio, score=accuracy)
    run["text"]["params_key"] = params_key({**run["text"], **run["integers"]})
    return run
