"""Issue 20 in the analysis: merge matches runs on their identity, copies and checks their checksums; `profile`
and `validate` refuse bad input with the file, field and reason; the report's decode column says it is a total."""
import json
import os
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from analysis import tables, validation
from analysis.__main__ import main
from analysis.merge import merge, merge_key
from analysis.profile import summary
from analysis.results import ResultsError, load_runs
from analysis.tests import synthetic

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("STARBENCH_BIN", os.path.join(REPO, "build", "starbench"))
PROFILE = os.path.join(REPO, "configs", "hardware", "h200.json")


def _run_with_identity(identity: str, context_ms: float) -> dict:
    run = synthetic.timing_run("global", 1024, 1, context_ms)
    run["text"]["identity"] = identity
    return run


def test_merge_matches_on_identity_not_params_key(tmp_path):
    a, b = str(tmp_path / "a.h5"), str(tmp_path / "b.h5")
    # The same settings (params_key) on other weights: two identities, two measurements.
    synthetic.write_results(a, [_run_with_identity("1" * 64, 10.0)])
    synthetic.write_results(b, [_run_with_identity("2" * 64, 20.0), _run_with_identity("1" * 64, 10.5)])
    summary_ = merge(str(tmp_path / "m.h5"), [a, b])
    assert (summary_.copied, summary_.duplicates) == (2, 1)
    assert sorted(load_runs(str(tmp_path / "m.h5")).context_ms) == [10.0, 20.0]


def test_runs_without_identity_never_match_runs_with_one(tmp_path):
    old, new = str(tmp_path / "old.h5"), str(tmp_path / "new.h5")
    synthetic.write_results(old, [synthetic.timing_run("global", 1024, 1, 10.0)])
    synthetic.write_results(new, [_run_with_identity("3" * 64, 11.0)])
    with h5py.File(old) as f, h5py.File(new) as g:
        assert merge_key(f["runs/run_000001"]) != merge_key(g["runs/run_000001"])
    assert merge(str(tmp_path / "m.h5"), [old, new]).copied == 2


@pytest.mark.skipif(not os.access(BINARY, os.X_OK), reason=f"no starbench binary at {BINARY}")
def test_checksums_written_by_starbench_verify_in_python_and_survive_merge(tmp_path):
    from analysis.integrity import attributes_sha256, dataset_sha256, run_damage
    path = str(tmp_path / "r.h5")
    mpiexec = os.environ.get("STARBENCH_MPIEXEC") or shutil.which("mpiexec")
    command = [mpiexec, "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    command += ["-n", "1", BINARY, "run", "--backend", "cpu", "--method", "global", "--seq-len", "32",
                "--query-len", "2", "--generate", "2", "--repeats", "1", "--warmup", "0", "-o", path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    with h5py.File(path) as f:
        group = f["runs/run_000001"]
        assert group.attrs["attributes_sha256"] == attributes_sha256(group)
        logits = group["reference/query_logits"]
        assert logits.attrs["sha256"] == dataset_sha256(logits)
        assert run_damage(group) == ""
        identity = group.attrs["identity"]
    merged = str(tmp_path / "m.h5")
    merge(merged, [path])
    with h5py.File(merged) as f:  # merged_from is added: the attribute digest still holds
        group = f["runs/run_000001"]
        assert run_damage(group) == "" and group.attrs["identity"] == identity
        assert group["reference/query_logits"].attrs["sha256"] == logits_digest(path)
    # Damage: a value changed behind the checksum's back is found, and merge leaves the run out.
    with h5py.File(path, "a") as f:
        f["runs/run_000001/generated"][0] += 1
    with h5py.File(path) as f:
        assert "generated" in run_damage(f["runs/run_000001"])
    assert merge(str(tmp_path / "m2.h5"), [path]).damaged == 1


def logits_digest(path: str) -> str:
    with h5py.File(path) as f:
        return f["runs/run_000001/reference/query_logits"].attrs["sha256"]


def _profile(tmp_path, edit) -> str:
    profile = json.load(open(PROFILE))
    edit(profile)
    path = str(tmp_path / "bad.json")
    with open(path, "w") as handle:
        json.dump(profile, handle, allow_nan=True)
    return path


@pytest.mark.parametrize("edit, field", [
    (lambda p: p.update(memory_bytes=float("nan")), "NaN"),
    (lambda p: p["gemm"][1]["tokens_ms"][2].__setitem__(1, -1.0), "gemm[1].tokens_ms[2][1]"),
    (lambda p: p["elementwise"]["rope"].pop("bytes_per_s"), "elementwise.rope.bytes_per_s"),
    (lambda p: p["attention"][3].update(ms="fast"), "attention[3].ms"),
    (lambda p: p.pop("attention"), "attention"),
])
def test_profile_refuses_bad_fields_naming_file_and_field(tmp_path, edit, field):
    path = _profile(tmp_path, edit)
    with pytest.raises(ResultsError) as error:
        summary(path)
    assert path in str(error.value) and field in str(error.value)
    assert main(["profile", path]) == 1  # a message, not a traceback


def test_profile_refuses_a_file_that_is_not_json_or_absent(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "starbench-hardware-profile", "memory_bytes": 1e400, ')
    with pytest.raises(ResultsError, match="broken.json: not valid JSON"):
        summary(str(broken))
    with pytest.raises(ResultsError, match="cannot read"):
        summary(str(tmp_path / "absent.json"))
    assert "GEMM" in summary(PROFILE)  # the real profile still reads


def test_validate_refuses_twins_on_another_device(tmp_path):
    path = str(tmp_path / "v.h5")
    measured = synthetic.timing_run("ring", 4096, 2, 100.0)
    simulated = synthetic.timing_run("ring", 4096, 2, 1.0)
    simulated["integers"]["simulated"] = 1
    simulated["text"].update(backend="sim", device="NVIDIA H200 (simulated)")
    simulated["text"]["params_key"] += ";sim"
    synthetic.write_results(path, [measured, simulated])
    runs = load_runs(path)
    assert validation.validation(runs).empty  # never paired
    assert main(["validate", path]) == 1  # refused with a message
    with pytest.raises(ResultsError, match="measured on 'test cpu', simulated for 'NVIDIA H200'"):
        validation.validate(runs)


def test_breakdown_names_decoding_per_token_and_in_total(sweep_file):
    table = tables.breakdown(load_runs(sweep_file))
    assert "decode_ms" not in table.columns  # ambiguous: the run's table prints it per token
    assert table.decode_ms_per_token.tolist() == pytest.approx([1.0] * len(table))
    assert table.decode_total_ms.tolist() == pytest.approx([2.0] * len(table))  # generate 3: two decoded tokens
