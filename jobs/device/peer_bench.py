#!/usr/bin/env python3
"""Peer numbers for docs/PERFORMANCE.md, measured in the same device call as
starbench's own benchmarks: torch bf16 GEMM 8192^3, torch SDPA causal with the
flash and cuDNN backends at our attention shapes, and HF transformers
LlamaForCausalLM (Llama-3.1-8B shape, random bf16 weights) prefill tokens/s.

Usage: peer_bench.py [--seq 16384,32768,65536,131072] [--prefill 8192,16384,32768,65536] [--csv out.csv]
Timing: CUDA events, warm-up, median of repeats, random data."""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def median_ms(fn, warmup=2, repeats=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def gemm(rows):
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    ms = median_ms(lambda: a @ b, 3, 20)
    rows.append(("gemm", "torch matmul", n, n, ms, 2 * n**3 / ms / 1e9, ""))


def sdpa(rows, seqs, heads=32, kv_heads=8, d=128):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    for s in seqs:
        q = torch.randn(1, heads, s, d, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, kv_heads, s, d, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, kv_heads, s, d, device="cuda", dtype=torch.bfloat16)
        flops = 4 * s * s * d * heads / 2
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    try:
                        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                        fn()
                        note = "enable_gqa"
                    except RuntimeError:
                        # Backend without native GQA: expand K/V (not timed).
                        ke = k.repeat_interleave(heads // kv_heads, dim=1)
                        ve = v.repeat_interleave(heads // kv_heads, dim=1)
                        fn = lambda: F.scaled_dot_product_attention(q, ke, ve, is_causal=True)
                        note = "kv expanded"
                    ms = median_ms(fn, 2, 5 if s >= 65536 else 10)
                rows.append(("sdpa causal", name, s, s, ms, flops / ms / 1e9, note))
            except Exception as e:  # report, keep going
                rows.append(("sdpa causal", name, s, s, float("nan"), float("nan"), f"failed: {str(e)[:80]}"))
            print(rows[-1], flush=True)
        del q, k, v
        torch.cuda.empty_cache()


def hf_prefill(rows, lengths):
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
                         rope_theta=500000.0, rms_norm_eps=1e-5, torch_dtype=torch.bfloat16,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    for n in lengths:
        try:
            ids = torch.randint(0, config.vocab_size, (1, n), device="cuda")
            with torch.inference_mode():
                fn = lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1)
                ms = median_ms(fn, 1, 3)
            rows.append(("hf prefill 8B", "transformers sdpa", n, n, ms, float("nan"), f"{n / ms * 1e3:.0f} tok/s"))
        except Exception as e:
            rows.append(("hf prefill 8B", "transformers sdpa", n, n, float("nan"), float("nan"), f"failed: {str(e)[:80]}"))
        print(rows[-1], flush=True)
        torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seq", default="16384,32768,65536,131072")
    parser.add_argument("--prefill", default="8192,16384,32768,65536")
    parser.add_argument("--csv", default="")
    parser.add_argument("--skip-hf", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, device {torch.cuda.get_device_name()}",
          flush=True)
    rows = []
    gemm(rows)
    sdpa(rows, [int(s) for s in args.seq.split(",") if s])
    if not args.skip_hf:
        try:
            hf_prefill(rows, [int(s) for s in args.prefill.split(",") if s])
        except Exception as e:
            rows.append(("hf prefill 8B", "setup", 0, 0, float("nan"), float("nan"), f"failed: {str(e)[:100]}"))
    print("| peer | impl | q_len | k_len | ms | TFLOP/s | note |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]:.1f} | {r[6]} |")
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("peer,impl,q_len,k_len,ms,tflops,note\n")
            for r in rows:
                f.write(",".join(str(x) for x in r) + "\n")


if __name__ == "__main__":
    sys.exit(main())
