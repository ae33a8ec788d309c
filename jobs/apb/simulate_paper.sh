#!/usr/bin/env bash
# APB's paper (arXiv 2502.12085) setting, simulated: Llama-3.1-8B on 8 hosts of one GPU (the DGX A100 platform
# and its derived A100 profile; the paper used A800s), prefill at 128K and 512K with its Table 8 sizes
# (l_b = C/8; l_a / l_p = 4K / 2K at 128K, 8K / 8K at 512K) and a seeded compressor (hidden 1024: the released
# compressors' shapes), next to ring (zigzag and contiguous) and star (the paper's code: anchor = block,
# recomputed; and starbench's default, the anchor sent by rank 0). Prints a Markdown table beside the paper's
# prefill times (docs/APB.md). No GPU needed.
#   jobs/apb/simulate_paper.sh [OUT=results/apb_paper_sim.h5] [STARBENCH_BIN=build/starbench]
set -euo pipefail
cd "$(dirname "$0")/../.."
sb=${STARBENCH_BIN:-build/starbench}
out=${OUT:-results/apb_paper_sim.h5}
mkdir -p "$(dirname "$out")"
common=(simulate --ranks 8 --platform configs/platforms/dgx-a100.xml --model-preset llama3.1-8b --query-len 64
        --generate 1 --repeats 1 --warmup 0 -o "$out")
for setting in "131072 4096 2048" "524288 8192 8192"; do
  read -r seq anchor passing <<<"$setting"
  "$sb" "${common[@]}" --seq-len "$seq" --method ring --ring-layout zigzag,contiguous >/dev/null
  "$sb" "${common[@]}" --seq-len "$seq" --method star --block-size C/8 --anchor-size -1 --anchor-mode recompute,sent \
    >/dev/null
  "$sb" "${common[@]}" --seq-len "$seq" --method apb --apb-anchor "$anchor" --apb-passing "$passing" \
    --apb-compressor random:1 >/dev/null
done
/usr/bin/python3 - "$out" <<'PY'
import sys, h5py
# The paper's prefill times in seconds (its Figure 1 / section 4, 8 hosts, Llama-3.1-8B).
paper = {(131072, "apb"): 2.79, (131072, "star"): 3.50, (131072, "ring"): 6.34,
         (524288, "apb"): 13.4, (524288, "star"): 30.4, (524288, "ring"): 81.6}
text = lambda v: v.decode() if isinstance(v, bytes) else v
rows = []
with h5py.File(sys.argv[1]) as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        method, seq = text(a["method"]), int(a["seq_len"])
        rows.append((seq, method, text(a["label"]), float(a["context_ms"]) / 1e3,
                     float(a["busiest_rank_matmul_tflop"]), float(a["busiest_rank_attention_tflop"]),
                     float(a["comm_bytes_context"]) / 2**30))
print("| context | method | simulated prefill s | paper s | busiest host's matmul / attention TFLOP | "
      "context-phase bytes sent, GiB |")
print("|---|---|---|---|---|---|")
for seq, method, label, seconds, matmul, attention, sent in sorted(rows):
    p = paper.get((seq, method))
    print(f"| {seq // 1024}K | {label} | {seconds:.2f} | {p if p else '-'} | {matmul:.0f} / {attention:.0f} | "
          f"{sent:.2f} |")
PY
