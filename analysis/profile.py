"""A hardware profile (configs/hardware/*.json, written by `starbench calibrate`) as tables: achieved GEMM and
attention rates at the measured sizes, element-wise and NCCL costs. `python3 -m analysis profile FILE`."""
from __future__ import annotations

import json


def _pairs(mask: str, q: int, k: int) -> float:
    if mask == "none":
        return float(q) * k
    if mask == "causal":
        return q * (q + 1) / 2.0
    return float(q) * k - q * (q - 1) / 2.0  # bottom-right: row i sees k - q + i + 1 keys


def summary(path: str) -> str:
    profile = json.load(open(path, encoding="utf-8"))
    lines = [f"{path}: {profile['gpu']}, {profile['origin']}; {profile.get('date', '')}, driver "
             f"{profile.get('driver', '')}, commit {profile.get('commit', '')}; usable memory "
             f"{profile['memory_bytes'] / 2**30:.1f} GiB", "",
             "| GEMM N x K | tokens | ms | TFLOP/s |", "|---|---|---|---|"]
    for curve in profile["gemm"]:
        for tokens, ms in curve["tokens_ms"]:
            if tokens in (1, 4096) or tokens == curve["tokens_ms"][-1][0]:
                lines.append(f"| {curve['n']} x {curve['k']} | {tokens:.0f} | {ms:.3f} | "
                             f"{2 * tokens * curve['n'] * curve['k'] / ms / 1e9:.0f} |")
    lines += ["", "| attention mask | q x k | heads q/kv x d | ms | TFLOP/s |", "|---|---|---|---|---|"]
    for p in profile["attention"]:
        if p["q_len"] >= 1024:
            flops = 4 * _pairs(p["mask"], p["q_len"], p["k_len"]) * p["q_heads"] * p["head_dim"]
            lines.append(f"| {p['mask']} | {p['q_len']} x {p['k_len']} | {p['q_heads']}/{p['kv_heads']} x "
                         f"{p['head_dim']} | {p['ms']:.3f} | {flops / p['ms'] / 1e9:.0f} |")
    lines += ["", "| element-wise op | latency us | GB/s |", "|---|---|---|"]
    for name, cost in sorted(profile["elementwise"].items()):
        lines.append(f"| {name} | {cost['latency_s'] * 1e6:.1f} | {cost['bytes_per_s'] / 1e9:.0f} |")
    comm = profile.get("comm")
    if comm:
        lines += ["", "| NCCL (2 GPUs) | latency us | GB/s |", "|---|---|---|"]
        for name in ("p2p", "broadcast"):
            lines.append(f"| {name} | {comm[name]['latency_s'] * 1e6:.0f} | {comm[name]['bytes_per_s'] / 1e9:.0f} |")
        lines.append(f"\nCompute beside a transfer: x{comm['overlap_slowdown']:.2f}")
    return "\n".join(lines) + "\n"
