#!/usr/bin/env python3
"""HF transformers LlamaForCausalLM with its layers split over the visible GPUs, as device_map="auto" places
them (the Star Attention reference implementation's host: contiguous layer ranges, one GPU working at a time),
random bf16 weights of a preset's shape: prefill time per context length, and each GPU's device-to-device copy
bandwidth (the decode floor's denominator). For jobs/device/hosts_bench.sh.

Usage: hf_device_map.py [--preset llama3.1-70b] [--seq 16384,32768,65536] [--csv out.csv]
Timing: CUDA events on the first GPU, one warm-up, median of 3; logits of the last position only."""
import argparse
import csv
import statistics

import torch

SHAPES = {
    "llama3.1-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32),
    "llama3.1-70b": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64),
}


def median_ms(fn, warmup=1, repeats=3):
    for _ in range(warmup):
        fn()
    for d in range(torch.cuda.device_count()):
        torch.cuda.synchronize(d)
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        for d in range(torch.cuda.device_count()):
            torch.cuda.synchronize(d)
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def copy_gbps():
    """Device-to-device copy of 4 GiB on each GPU: bytes read + written per second, the slowest GPU's."""
    rates = []
    for d in range(torch.cuda.device_count()):
        with torch.cuda.device(d):
            a = torch.empty(1 << 31, dtype=torch.bfloat16, device=f"cuda:{d}")
            b = torch.empty_like(a)
            ms = median_ms(lambda: b.copy_(a), 2, 10)
            rates.append(2 * a.numel() * 2 / (ms * 1e-3) / 1e9)
            del a, b
    return min(rates)


def layer_split_model(preset):
    """The model on the meta device, then each decoder layer materialised on the GPU of its contiguous range
    (device_map="auto" with equal memory per GPU), embedding on the first, norm and lm_head on the last, and
    hooks that move a layer's inputs to its GPU (what accelerate's dispatch does)."""
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=128256, num_key_value_heads=8, max_position_embeddings=131072,
                         rope_theta=500000.0, rms_norm_eps=1e-5, torch_dtype=torch.bfloat16,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                         **SHAPES[preset])
    config._attn_implementation = "sdpa"
    gpus = torch.cuda.device_count()
    with torch.device("meta"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    layers = model.model.layers
    per_gpu = (len(layers) + gpus - 1) // gpus
    placement = {f"model.layers.{i}": i // per_gpu for i in range(len(layers))}
    placement.update({"model.embed_tokens": 0, "model.rotary_emb": 0, "model.norm": gpus - 1, "lm_head": gpus - 1})
    torch.manual_seed(0)
    for name, device in placement.items():
        module = model.get_submodule(name)
        module.to_empty(device=f"cuda:{device}")
        for parameter in module.parameters():
            if parameter.dim() == 1:
                parameter.data.fill_(1.0)
            else:
                parameter.data.normal_(0.0, 0.02)
    rotary = model.model.rotary_emb
    model.model.rotary_emb = type(rotary)(config=config, device="cuda:0")  # recomputes inv_freq on the device

    def to_device(device):
        def move(value):
            if torch.is_tensor(value):
                return value.to(device, non_blocking=True)
            if isinstance(value, tuple):
                return tuple(move(v) for v in value)
            return value

        def hook(module, args, kwargs):
            return tuple(move(a) for a in args), {k: move(v) for k, v in kwargs.items()}
        return hook

    for name, device in placement.items():
        model.get_submodule(name).register_forward_pre_hook(to_device(f"cuda:{device}"), with_kwargs=True)
    return model.eval(), config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="llama3.1-70b", choices=sorted(SHAPES))
    parser.add_argument("--seq", default="16384,32768,65536")
    parser.add_argument("--csv", default="hf_device_map.csv")
    args = parser.parse_args()
    rows = [("copy", 0, copy_gbps())]
    print(f"copy bandwidth (slowest GPU): {rows[0][2]:.0f} GB/s", flush=True)
    model, config = layer_split_model(args.preset)
    for n in [int(s) for s in args.seq.split(",") if s]:
        try:
            ids = torch.randint(0, config.vocab_size, (1, n), device="cuda:0")
            with torch.inference_mode():
                ms = median_ms(lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1))
            rows.append(("prefill", n, ms))
            print(f"{args.preset} layer split over {torch.cuda.device_count()} GPUs, prefill {n}: {ms:.0f} ms "
                  f"({n / ms * 1e3:.0f} tok/s)", flush=True)
        except torch.cuda.OutOfMemoryError as error:
            print(f"prefill {n}: out of memory ({error})", flush=True)
            torch.cuda.empty_cache()
    with open(args.csv, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["what", "seq_len", "value"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
