"""CI for the APB reference data (ctest apb_reference_pytest): the numpy reference's self-checks still pass and
the committed files are what tests/reference/apb_reference.py makes now.

The committed logits are float32 roundings of float64 results; a float64 recomputation on another BLAS may differ
from the original by ~1e-15, so the files are compared as "the committed value is the float32 rounding of today's
float64 value" (|diff| <= half a float32 ulp, plus 1e-6 ulp of float64 slack), which any real change breaks.
Everything else (tokens, generated tokens, selected rows, metadata, the compressor) must be identical.
"""
import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import apb_reference as ref  # noqa: E402
import safetensors_np  # noqa: E402


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The whole script once into a temporary folder (about 2 s): its checks and its files."""
    out = str(tmp_path_factory.mktemp("apb"))
    ref.CHECKS.clear()
    status = ref.run(out)
    return out, status, dict(ref.CHECKS)


def rounds_to(ours, stored):
    """True where stored (float32) is the rounding of ours (float64)."""
    ulp = np.spacing(np.abs(stored)).astype(np.float64)
    return np.abs(ours - stored.astype(np.float64)) <= (0.5 + 1e-6) * ulp


def test_self_checks_pass(regenerated):
    _, status, checks = regenerated
    failed = {k: v["detail"] for k, v in checks.items() if not v["ok"]}
    assert status == 0 and not failed, failed
    # the checks that carry the acceptance: HF data reproduced, APB's limits, the passing block matters
    for name in ("global_logits_match_hf", "star_C80_B20_A8_logits_match_hf", "apb_H4_A0_P20_Q0_equals_global",
                 "apb_H4_A8_P0_Q0_equals_star_C80_B20_A8", "apb_H4_A8_P3_Q1_passing_block_matters"):
        assert name in checks


def test_compressor_is_regenerated_bit_for_bit(regenerated):
    out, _, _ = regenerated
    path = os.path.join(ref.COMPRESSOR_DIR, "compressor.safetensors")
    with open(os.path.join(ref.DATA, path), "rb") as a, open(os.path.join(out, path), "rb") as b:
        assert a.read() == b.read(), f"data/{path} differs from what apb_reference.py makes now"


@pytest.mark.parametrize("case", ref.APB_CASES, ids=lambda c: ref.case_name(*c))
def test_committed_case_is_current(case):
    model = ref.Llama()
    compressor = ref.load_compressor(os.path.join(ref.DATA, ref.COMPRESSOR_DIR))
    tokens = ref.committed("global_reference.safetensors")["tokens"].astype(np.int64)
    tensors, metadata, _ = ref.build_case(model, compressor, tokens, *case)
    stored, stored_metadata = safetensors_np.read(os.path.join(ref.DATA, f"{ref.case_name(*case)}.safetensors"))
    H = case[0]
    assert sorted(stored) == sorted(["generated", "logits", "tokens"] + [f"layer0_scores_host{h}" for h in range(H)])
    for h in range(H):  # the compressor's output before the pool, float32 of float64
        name = f"layer0_scores_host{h}"
        assert rounds_to(tensors[name], stored[name]).all(), name
    assert stored["logits"].dtype == np.float32 and stored["logits"].shape == (ref.SEQ_LEN - ref.CONTEXT_LEN, 512)
    ok = rounds_to(tensors["logits"], stored["logits"])
    assert ok.all(), f"{(~ok).sum()} logits changed, max |diff| {np.abs(tensors['logits'] - stored['logits']).max():.3g}"
    assert np.array_equal(stored["generated"], tensors["generated"].astype(np.float32))
    assert np.array_equal(stored["tokens"], tensors["tokens"].astype(np.float32))
    assert stored_metadata == metadata  # the case, the anchor order and the selected rows of every layer
    selection = json.loads(stored_metadata["selection"])
    P = case[2]
    layer0 = selection["selected"][0]
    assert len(layer0) == H and all(len(rows) == 2 and len(rows[0]) == min(P, e - b)
                                    for rows, (b, e) in zip(layer0, selection["blocks"]))


def test_summary_lists_every_case(regenerated):
    out, _, _ = regenerated
    with open(os.path.join(ref.DATA, "apb_reference.json")) as f:
        committed = json.load(f)
    with open(os.path.join(out, "apb_reference.json")) as f:
        today = json.load(f)
    assert sorted(committed["cases"]) == sorted(ref.case_name(*c) for c in ref.APB_CASES)
    for name, case in committed["cases"].items():
        assert case["generated"] == today["cases"][name]["generated"]
        assert case["selections_decided_by_tie_rule"] == today["cases"][name]["selections_decided_by_tie_rule"]
    assert all(c["ok"] for c in committed["checks"].values())


def test_rounding_comparison_can_fail():
    """The comparison above rejects a one-ulp change of a stored value."""
    ours = np.array([1.0 + 1e-9, 2.5, -3.25])
    stored = ours.astype(np.float32)
    assert rounds_to(ours, stored).all()
    stored[1] = np.nextafter(stored[1], np.float32(3))
    assert rounds_to(ours, stored).tolist() == [True, False, True]
