#!/usr/bin/env python3
"""DuoAttention's retrieval-head identification for the tiny retrieval model, on the CPU.

DuoAttention (Xiao et al., arXiv 2410.10819, section 3.2) gives every KV head a gate alpha in [0, 1] that mixes
the head's full attention with its streaming attention (attention sinks + a recent window):
    out = alpha * full + (1 - alpha) * streaming,
and trains the gates alone (the model frozen) on synthetic retrieval prompts to keep the model's last hidden
states where the answer is produced (an L2 distillation loss against full attention) while an L1 penalty
pushes gates to 0. Heads whose gate stays high are retrieval heads. This script does that for
tests/reference/data/tiny-retrieval with starbench's own tasks (`starbench tasks --ids`, seeds not used in
training or evaluation) and writes a pattern in DuoAttention's released format:
    <out>/full_attention_heads.tsv   rows = layers, columns = KV heads, the gates
    <out>/config.json                sink_size, recent_size, and how the gates were made
which `starbench run --duo-pattern <out> --duo-sparsity s` reads.

Usage: /usr/bin/python3 tests/reference/tiny_retrieval/duo_gates.py --starbench build/starbench \
           --out configs/duo/tiny-retrieval [--steps 150] [--sink 32] [--recent 128]
Needs torch (Debian's python3-torch is enough); runs on the GPU when there is one (--device), else the CPU.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import TinyConfig, TinyLlama, rotate_half  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MODEL = os.path.join(REPO, "tests", "reference", "data", "tiny-retrieval")
TASKS = ["niah_single_1", "niah_single_2", "niah_multikey_1", "niah_multikey_2", "niah_multivalue",
         "niah_multiquery", "vt"]
SEED = 300000  # training used 100000-100003, the accuracy study seed 1


def read_safetensors(path):
    """The tensors of a safetensors file (bf16/f32), without the safetensors package."""
    raw = open(path, "rb").read()
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_len])
    tensors = {}
    dtypes = {"BF16": torch.bfloat16, "F32": torch.float32, "F16": torch.float16}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        data = bytearray(raw[8 + header_len + begin:8 + header_len + end])
        tensors[name] = torch.frombuffer(data, dtype=dtypes[meta["dtype"]]).reshape(meta["shape"]).float()
    return tensors


def load_model():
    hf = json.load(open(os.path.join(MODEL, "config.json")))
    rope = hf["rope_parameters"]
    cfg = TinyConfig(vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"],
                     intermediate_size=hf["intermediate_size"], num_layers=hf["num_hidden_layers"],
                     num_heads=hf["num_attention_heads"], num_kv_heads=hf["num_key_value_heads"],
                     head_dim=hf["head_dim"], rms_norm_eps=hf["rms_norm_eps"], rope_theta=rope["rope_theta"],
                     rope_factor=rope["factor"], rope_low_freq_factor=rope["low_freq_factor"],
                     rope_high_freq_factor=rope["high_freq_factor"],
                     rope_original_max_positions=rope["original_max_position_embeddings"],
                     max_position_embeddings=hf["max_position_embeddings"],
                     tie_word_embeddings=hf["tie_word_embeddings"], bos_token_id=hf["bos_token_id"],
                     eos_token_ids=tuple(hf["eos_token_id"]))
    model = TinyLlama(cfg)
    missing, unexpected = model.load_state_dict(read_safetensors(os.path.join(MODEL, "model.safetensors")),
                                                strict=False)
    if [m for m in missing if m != "inv_freq"] or unexpected:
        raise SystemExit(f"checkpoint does not match the model: missing {missing}, unexpected {unexpected}")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.float().eval()


def make_samples(starbench, length, count):
    """(ids, answer rows) per sample: BOS + context + query + the gold answer (teacher forcing)."""
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "samples.jsonl")
        subprocess.run([starbench, "tasks", "--tokenizer", os.path.join(MODEL, "tokenizer.json"),
                        "--words", os.path.join(REPO, "tests", "reference", "data", "words", "words.txt"),
                        "--task", ",".join(TASKS), "--seq-len", str(length), "--samples", str(count),
                        "--seed", str(SEED), "--ids", "-o", out], check=True, capture_output=True)
        rows = [json.loads(line) for line in open(out)]
    tokenizer = json.load(open(os.path.join(MODEL, "tokenizer.json")))
    vocab = tokenizer["model"]["vocab"]
    samples = []
    for row in rows:
        prompt = list(row["context_ids"]) + list(row["query_ids"])
        # The answer as the model was trained to give it (" v1, v2." / " NAME ..."), encoded by the words'
        # vocabulary pieces where they exist; the distillation only needs the rows, not exact ids.
        answer_text = " " + (" ".join(row["answers"]) if row["task"] == "vt" else ", ".join(row["answers"]) + ".")
        answer = [vocab[piece] for piece in answer_text.replace(" ", "\u0120").split("\u0120") if piece in vocab]
        ids = prompt + answer
        # Distil where retrieval happens: the query's last tokens and the answer.
        rows_from = max(len(row["context_ids"]), len(ids) - 24)
        samples.append((torch.tensor(ids)[None], list(range(rows_from, len(ids)))))
    return samples


def gated_hidden(model, ids, gates, sink, recent):
    """Final hidden states with every KV head's output = gate x full + (1 - gate) x streaming."""
    cfg = model.cfg
    t = ids.shape[1]
    device = ids.device
    positions = torch.arange(t, device=device)[None]
    cos, sin = model.rope(positions, torch.float32)
    cos, sin = cos[:, None], sin[:, None]
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(t, device=device)[None, :]
    causal = j <= i
    streaming = causal & ((j < sink) | (i - j < recent))
    group = cfg.num_heads // cfg.num_kv_heads
    x = model.model.embed_tokens(ids)
    for layer_index, layer in enumerate(model.model.layers):
        attn = layer.self_attn
        h = layer.input_layernorm(x)
        q = attn.q_proj(h).view(1, t, cfg.num_heads, cfg.head_dim).transpose(1, 2)
        k = attn.k_proj(h).view(1, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        v = attn.v_proj(h).view(1, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(cfg.head_dim)
        full = torch.softmax(scores.masked_fill(~causal, float("-inf")), -1) @ v
        stream = torch.softmax(scores.masked_fill(~streaming, float("-inf")), -1) @ v
        gate = gates[layer_index].repeat_interleave(group)[None, :, None, None]
        out = gate * full + (1 - gate) * stream
        x = x + attn.o_proj(out.transpose(1, 2).reshape(1, t, cfg.num_heads * cfg.head_dim))
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.model.norm(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starbench", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--sink", type=int, default=32)
    parser.add_argument("--recent", type=int, default=128)
    parser.add_argument("--l1", type=float, default=0.01,
                        help="weight of the gates' sum (DuoAttention's L1 regulariser, lambda)")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = load_model().to(args.device)
    samples = [(ids.to(args.device), rows)
               for ids, rows in make_samples(args.starbench, args.length, max(2, args.steps // len(TASKS) + 1))]
    ones = torch.ones(model.cfg.num_layers, model.cfg.num_kv_heads, device=args.device)
    with torch.no_grad():
        targets = [gated_hidden(model, ids, ones, args.sink, args.recent)[0, rows] for ids, rows in samples]
    gates = torch.ones(model.cfg.num_layers, model.cfg.num_kv_heads, device=args.device, requires_grad=True)
    optimizer = torch.optim.Adam([gates], lr=args.lr)
    start = time.time()
    for step in range(args.steps):
        ids, rows = samples[step % len(samples)]
        hidden = gated_hidden(model, ids, gates, args.sink, args.recent)[0, rows]
        # Squared L2 per token (summed over the hidden size), averaged over the distilled rows.
        distill = (hidden - targets[step % len(samples)]).pow(2).sum(-1).mean()
        loss = distill + args.l1 * gates.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            gates.clamp_(0.0, 1.0)
        if step % 10 == 0 or step + 1 == args.steps:
            print(f"step {step:4d}  distill {distill.item():.5f}  mean gate {gates.mean().item():.3f}  "
                  f"({time.time() - start:.0f} s)", flush=True)
    # Heads the L1 term drove to 0 would tie, and a sparsity's quantile threshold cannot split a tie: order them
    # below 1e-3 by how much the distillation loss wants them back (its gradient at the final gates).
    final = gates.detach().clone()
    probe = final.clone().requires_grad_(True)
    sensitivity = torch.zeros_like(final)
    for (ids, rows), target in list(zip(samples, targets))[:16]:
        hidden = gated_hidden(model, ids, probe, args.sink, args.recent)[0, rows]
        (grad,) = torch.autograd.grad((hidden - target).pow(2).sum(-1).mean(), probe)
        sensitivity += grad.abs()
    zero = final <= 1e-3
    if zero.any():
        final[zero] = 1e-3 * sensitivity[zero] / sensitivity[zero].max().clamp_min(1e-30)
    gates = final
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "full_attention_heads.tsv"), "w") as out:
        for row in gates.detach().tolist():
            out.write("\t".join(f"{g:.6f}" for g in row) + "\n")
    json.dump({"sink_size": args.sink, "recent_size": args.recent,
               "made_by": "tests/reference/tiny_retrieval/duo_gates.py (DuoAttention's gate optimisation, "
                          "arXiv 2410.10819 sec. 3.2, on the tiny retrieval model)",
               "command": " ".join(sys.argv), "steps": args.steps, "length": args.length, "l1": args.l1,
               "lr": args.lr, "seed": SEED, "tie_broken_heads": int(zero.sum()), "tasks": TASKS, "final_distill_loss": distill.item(),
               "date": time.strftime("%Y-%m-%d", time.gmtime())},
              open(os.path.join(args.out, "config.json"), "w"), indent=1)
    print("gates (layers x KV heads):")
    for row in gates.detach().tolist():
        print("  " + "  ".join(f"{g:.2f}" for g in row))


if __name__ == "__main__":
    main()
