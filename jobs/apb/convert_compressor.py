#!/usr/bin/env python3
"""Converts a released APB / Locret compressor (thunlp's retaining heads) to starbench's format.

thunlp's checkpoints are torch pickles of a state dict (apb/load_models.py keeps every key holding 'fc'):
`model.layers.{i}.self_attn.fc1.weight` [1024, (n_q + 2 n_kv) d] and `...fc2.weight` [n_kv, 1024], no biases; fc1
reads concat(q, k, v) of the pre-RoPE projections (apb/models/modeling_llama.py). This writes
OUT_DIR/compressor.safetensors with `layers.{i}.fc1.weight` and `layers.{i}.fc2.weight` unchanged (same layout, same
values; BF16 unless --dtype says otherwise) and __metadata__ {"format": "starbench-apb-compressor", "source": ...},
what `starbench ... --method apb --apb-compressor OUT_DIR` loads (docs/APB.md). Needs torch and safetensors.

    python3 jobs/apb/convert_compressor.py CHECKPOINT(.pt|.bin|.safetensors) OUT_DIR [--dtype bf16|f32|keep]
"""
import argparse
import os
import re
import sys

import torch
from safetensors.torch import load_file, save_file

KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.self_attn\.(fc[12])\.weight$")


def load_state_dict(path):
    if path.endswith(".safetensors"):
        return load_file(path)
    loaded = torch.load(path, map_location="cpu", weights_only=False)
    if hasattr(loaded, "state_dict"):  # a whole module
        loaded = loaded.state_dict()
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        sys.exit(f"{path}: neither a state dict nor a module (got {type(loaded).__name__})")
    return loaded


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("out_dir")
    parser.add_argument("--dtype", choices=["bf16", "f32", "keep"], default="bf16")
    args = parser.parse_args()

    layers = {}
    for name, tensor in load_state_dict(args.checkpoint).items():
        match = KEY.search(name)
        if match:
            layers.setdefault(int(match.group(1)), {})[match.group(2)] = tensor
    if not layers:
        sys.exit(f"{args.checkpoint}: no tensor named like model.layers.{{i}}.self_attn.fc1.weight")
    count = max(layers) + 1
    out = {}
    for layer in range(count):
        parts = layers.get(layer, {})
        for fc in ("fc1", "fc2"):
            if fc not in parts:
                sys.exit(f"{args.checkpoint}: layer {layer} has no self_attn.{fc}.weight ({count} layers expected)")
        fc1, fc2 = parts["fc1"], parts["fc2"]
        if fc1.dim() != 2 or fc2.dim() != 2 or fc2.shape[1] != fc1.shape[0]:
            sys.exit(f"{args.checkpoint}: layer {layer}: fc1 {list(fc1.shape)} and fc2 {list(fc2.shape)} do not chain "
                     "(fc1 [hidden, inputs], fc2 [kv heads, hidden])")
        for fc, tensor in (("fc1", fc1), ("fc2", fc2)):
            if args.dtype == "bf16":
                tensor = tensor.to(torch.bfloat16)
            elif args.dtype == "f32":
                tensor = tensor.to(torch.float32)
            out[f"layers.{layer}.{fc}.weight"] = tensor.contiguous()
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "compressor.safetensors")
    save_file(out, path, metadata={"format": "starbench-apb-compressor",
                                   "source": f"jobs/apb/convert_compressor.py from {os.path.basename(args.checkpoint)}"})
    fc1 = out["layers.0.fc1.weight"]
    print(f"{path}: {count} layers, fc1 {list(fc1.shape)}, fc2 {list(out['layers.0.fc2.weight'].shape)}, {fc1.dtype}")


if __name__ == "__main__":
    main()
