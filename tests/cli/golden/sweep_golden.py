"""Golden outputs of small sweeps: what a refactoring must not change.

dump RESULTS.h5 TABLE.txt OUT.txt
    Writes the non-timing content of every stored run (attributes and datasets,
    in the order the runs were appended) and the printed table without its timing
    columns, as text. Timing, dates, versions and the machine's names are left out;
    a run's `label` attribute is written on a line of its own (`label KIND LABEL`).
compare GOLDEN.txt NEW.txt [--labels LABELS.txt]
    Compares two dumps: text and integers exactly, floating-point values to a
    relative 1e-5 (logits 1e-4), so a build on another machine compares too. The
    golden files were recorded before the labels were unified: their table rows
    carry the old label. Each table row's label must equal the `label` attribute
    of the run it shows (timing table: the timing runs in order; task table:
    the task summaries in order), and with --labels the labels must be the
    committed list.
"""
import math
import re
import sys

import h5py
import numpy as np

# Attributes that depend on time, the build or the machine, not on what was computed.
SKIPPED = {"date", "version", "git_commit", "hosts", "device", "devices", "gpu_driver", "context_ms", "query_ms",
           "decode_ms_per_token", "total_ms", "context_tokens_per_s"}
SKIPPED_PREFIXES = ("slurm_",)
# Added after the goldens were recorded (issue 20: the run's identity and its
# components, checksums); they hold digests of this machine's files and
# libraries and are tested by tests/cli/run_identity.sh, not here.
ADDED_SINCE_GOLDEN = {"identity", "model_digest", "model_weights", "weight_seed", "tokenizer_digest", "words_digest",
                      "words", "squad_digest", "hotpot_digest", "duo_heads_digest", "platform_digest",
                      "profile_digest", "task_samples", "chat_template", "library_versions", "attributes_sha256",
                      "task_file_digest"}
# `forward`'s file gained its settings as attributes after the goldens (issue 21;
# tests/cli/forward_tokens_file.sh checks them): its arrays are compared here.
FORWARD_ATTRIBUTES_SINCE_GOLDEN = {"command", "model", "model_dir", "backend", "method", "label", "block_rule",
                                   "anchor_source", "anchor_positions", "anchor_mode", "ring_layout", "duo_pattern",
                                   "tokens_sha256", "tokens", "context_len", "generate", "block_tokens",
                                   "block_divisor", "anchor_size", "world_size", "model_preset", "weight_seed"}
TIMING_ARRAYS = ("timing/",)
# The timing sweep table's columns, and those that hold times.
TIMING_COLUMNS = {"context_ms", "query_ms", "decode_ms", "dec_ms/tok", "ctx_tok/s", "vs_zigzag", "vs_contig"}


def text(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return ",".join(text(v) for v in value)
    return value


def number(value):
    if isinstance(value, (np.integer, int)):
        return f"int {int(value)}"
    if isinstance(value, (np.floating, float)):
        return f"float {float(value):.9g}"
    return f"text {text(value)}"


def normal_key(key):
    # The hardware part names this machine's device: kept as a placeholder.
    return re.sub(r";device=[^;]*", ";device=DEVICE", key)


def dump_runs(path, lines):
    with h5py.File(path, "r") as f:
        if "runs" not in f:  # `forward`'s file: datasets at the root
            groups = [("forward", f)]
        else:
            names = sorted(f["runs"].keys(), key=lambda n: int(re.sub(r"\D", "", n) or 0))
            groups = [(name, f["runs"][name]) for name in names]
        for name, group in groups:
            lines.append(f"run {name}")
            for attr in sorted(group.attrs):
                if attr in SKIPPED or attr in ADDED_SINCE_GOLDEN or attr.startswith(SKIPPED_PREFIXES):
                    continue
                if name == "forward" and attr in FORWARD_ATTRIBUTES_SINCE_GOLDEN:
                    continue
                value = group.attrs[attr]
                if attr == "label":
                    lines.append(f"label {text(group.attrs.get('kind', 'forward'))} {text(value)}")
                    continue
                if attr == "params_key":
                    value = normal_key(text(value))
                lines.append(f"attr {attr} {number(value)}")
            datasets = []
            group.visititems(lambda p, o: datasets.append(p) if isinstance(o, h5py.Dataset) else None)
            for path_in_run in sorted(datasets):
                data = group[path_in_run][()]
                if path_in_run.startswith(TIMING_ARRAYS):
                    lines.append(f"array {path_in_run} shape {list(data.shape)} (timing: values not compared)")
                    continue
                kind = "int" if data.dtype.kind in "iu" else "float"
                values = " ".join(str(int(v)) if kind == "int" else f"{float(v):.9g}" for v in data.ravel())
                lines.append(f"array {path_in_run} shape {list(data.shape)} {kind} {values}")


def dump_table(path, lines):
    header = None
    for row in open(path):
        cells = row.split()
        if not cells:
            continue
        if cells[0] in ("method", "task"):
            header = cells
            lines.append("table " + " ".join(c for c in cells if c not in TIMING_COLUMNS))
            continue
        if header is None or len(cells) != len(header):
            # Lines that are not table rows: the footer names the (temporary) output file.
            lines.append("line " + re.sub(r"to \S+", "to FILE", row.strip()))
            continue
        kept = [c for h, c in zip(header, cells) if h not in TIMING_COLUMNS]
        lines.append("row " + " ".join(kept))


def dump(results, table, out):
    lines = []
    if table != "-":
        dump_table(table, lines)
    dump_runs(results, lines)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def close(a, b, rtol):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-9


def same_numbers(a, b, rtol):
    return len(a) == len(b) and all(close(x, y, rtol) for x, y in zip(a, b))


# The label's column in each table's rows ("row" is column 0), and the kind of run a row shows.
TABLES = {"method": (1, "timing"), "task": (3, "task_summary")}


def compare_line(old, new, label_column=1):
    """True when two dump lines agree (floats to a tolerance); a table row's label is checked apart."""
    if old == new:
        return True
    a, b = old.split(" "), new.split(" ")
    if a[0] != b[0] or len(a) != len(b):
        return False
    if a[0] == "attr" and a[:3] == b[:3] and a[2] == "float":
        return close(a[3], b[3], 1e-5)
    if a[0] == "array" and a[:5] == b[:5] and a[4] == "float":
        return same_numbers(a[5:], b[5:], 1e-4 if "logits" in a[1] else 1e-5)
    if a[0] == "row":
        # Printed numbers (KL to 3 digits, top-1, MiB) to their printing precision; the label is checked apart.
        for column, (x, y) in enumerate(zip(a, b)):
            if x == y or column == label_column:
                continue
            try:
                if not close(x, y, 1e-2):
                    return False
            except ValueError:
                return False
        return True
    return False


def compare(golden_path, new_path, labels_path=None):
    golden = [l.rstrip("\n") for l in open(golden_path)]
    new = [l.rstrip("\n") for l in open(new_path)]
    labelled = [l.split(" ")[1:3] for l in new if l.startswith("label ")]
    new_labels = [label for _, label in labelled]
    new = [l for l in new if not l.startswith("label ")]
    golden = [l for l in golden if not l.startswith("label ")]
    problems = []
    if len(golden) != len(new):
        problems.append(f"{len(golden)} lines in the golden dump, {len(new)} now")
    label_column, shown = 1, []
    for number_, (old, now) in enumerate(zip(golden, new), 1):
        if now.startswith("table "):
            label_column, kind = TABLES[now.split(" ")[1]]
            shown = [label for run_kind, label in labelled if run_kind == kind]
        if old.startswith("row "):
            label = now.split(" ")[label_column]
            if not shown or label != shown[0]:
                problems.append(f"line {number_}: table label {label!r} is not that of the run it shows "
                                f"({shown[0] if shown else 'none'!r})")
            shown = shown[1:]
        if not compare_line(old, now, label_column):
            problems.append(f"line {number_}:\n  golden: {old[:300]}\n  now:    {now[:300]}")
    if labels_path is not None:
        expected = [l.split() for l in open(labels_path) if l.strip()]
        if expected != labelled:
            problems.append(f"labels {labelled} are not those of {labels_path}: {expected}")
    for problem in problems[:20]:
        print(problem)
    if problems:
        print(f"{new_path} differs from {golden_path} ({len(problems)} problem(s))")
        return 1
    print(f"{new_path}: same as {golden_path}")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(*sys.argv[2:5])
    elif sys.argv[1] == "compare":
        args = sys.argv[2:]
        labels = None
        if "--labels" in args:
            i = args.index("--labels")
            labels = args[i + 1]
            del args[i:i + 2]
        sys.exit(compare(args[0], args[1], labels))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
