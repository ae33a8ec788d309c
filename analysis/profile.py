"""A hardware profile (configs/hardware/*.json, written by `starbench calibrate`) as tables: achieved GEMM and
attention rates at the measured sizes, element-wise and NCCL costs. `python3 -m analysis profile FILE`."""
from __future__ import annotations

import json
import math

from .results import ResultsError


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _number(where: str, value, path: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{path}: field '{where}' must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not (number > 0 or (allow_zero and number == 0)):
        raise ResultsError(f"{path}: field '{where}' must be a finite number {'>= 0' if allow_zero else '> 0'}, "
                           f"got {value!r}")
    return number


def _field(obj, key: str, where: str, path: str):
    if not isinstance(obj, dict):
        raise ResultsError(f"{path}: {where or 'the file'} must be an object")
    if key not in obj:
        raise ResultsError(f"{path}: field '{(where + '.') if where else ''}{key}' is missing")
    return obj[key]


def load_profile(path: str) -> dict:
    """The profile, checked as starbench checks it (src/costmodel/hardware_profile.cpp): a ResultsError names the
    file, the field and the reason for anything unusable (not JSON, NaN or infinite numbers, missing fields)."""
    try:
        with open(path, encoding="utf-8") as handle:
            profile = json.load(handle, parse_constant=_refuse_constant)
    except OSError as error:
        raise ResultsError(f"{path}: cannot read the hardware profile ({error.strerror})") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError, NaN / Infinity, 1e400
        raise ResultsError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(profile, dict) or profile.get("format") != "starbench-hardware-profile":
        raise ResultsError(f"{path}: field 'format' must be \"starbench-hardware-profile\" (a file written by "
                           "`starbench calibrate`)")
    for key in ("gpu", "origin"):
        if not isinstance(_field(profile, key, "", path), str):
            raise ResultsError(f"{path}: field '{key}' must be a string")
    _number("memory_bytes", _field(profile, "memory_bytes", "", path), path)
    gemm = _field(profile, "gemm", "", path)
    if not isinstance(gemm, list) or not gemm:
        raise ResultsError(f"{path}: field 'gemm' must be a non-empty list")
    for i, curve in enumerate(gemm):
        where = f"gemm[{i}]"
        for key in ("n", "k"):
            _number(f"{where}.{key}", _field(curve, key, where, path), path)
        points = _field(curve, "tokens_ms", where, path)
        if not isinstance(points, list) or not points:
            raise ResultsError(f"{path}: field '{where}.tokens_ms' must be a non-empty list")
        for j, point in enumerate(points):
            if not isinstance(point, list) or len(point) != 2:
                raise ResultsError(f"{path}: field '{where}.tokens_ms[{j}]' must be [tokens, ms], got {point!r}")
            _number(f"{where}.tokens_ms[{j}][0]", point[0], path)
            _number(f"{where}.tokens_ms[{j}][1]", point[1], path)
    attention = _field(profile, "attention", "", path)
    if not isinstance(attention, list) or not attention:
        raise ResultsError(f"{path}: field 'attention' must be a non-empty list")
    for i, point in enumerate(attention):
        where = f"attention[{i}]"
        if _field(point, "mask", where, path) not in ("none", "causal", "bottom_right"):
            raise ResultsError(f"{path}: field '{where}.mask' must be none, causal or bottom_right")
        for key in ("q_len", "k_len", "q_heads", "kv_heads", "head_dim", "ms"):
            _number(f"{where}.{key}", _field(point, key, where, path), path)
    elementwise = _field(profile, "elementwise", "", path)
    if not isinstance(elementwise, dict):
        raise ResultsError(f"{path}: field 'elementwise' must be an object")
    for name, cost in elementwise.items():
        _number(f"elementwise.{name}.latency_s", _field(cost, "latency_s", f"elementwise.{name}", path), path,
                allow_zero=True)
        _number(f"elementwise.{name}.bytes_per_s", _field(cost, "bytes_per_s", f"elementwise.{name}", path), path)
    comm = profile.get("comm")
    if comm is not None:
        for name in ("p2p", "broadcast"):
            cost = _field(comm, name, "comm", path)
            _number(f"comm.{name}.latency_s", _field(cost, "latency_s", f"comm.{name}", path), path, allow_zero=True)
            _number(f"comm.{name}.bytes_per_s", _field(cost, "bytes_per_s", f"comm.{name}", path), path)
        _number("comm.overlap_slowdown", _field(comm, "overlap_slowdown", "comm", path), path)
    return profile


def _pairs(mask: str, q: int, k: int) -> float:
    if mask == "none":
        return float(q) * k
    if mask == "causal":
        return q * (q + 1) / 2.0
    return float(q) * k - q * (q - 1) / 2.0  # bottom-right: row i sees k - q + i + 1 keys


def summary(path: str) -> str:
    profile = load_profile(path)
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
