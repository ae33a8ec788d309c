"""The /index table of a results file: one row per complete run, pandas-readable.

Same layout as the C++ store writes (docs/HDF5_SCHEMA.md): a 1-D compound
dataset with run_id and the union of all runs' attributes; text as fixed-length
UTF-8 bytes, integers int64, numbers float64; a run lacking a key gets "" / -1 / NaN.
"""
from __future__ import annotations

import h5py
import numpy as np

from .results import RUNS, decode, is_complete, run_attributes

INDEX = "index"


def _kind(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, int, np.integer)):
        return "integer"
    return "number"


def _widen(a: str, b: str) -> str:
    # A key stored with different types in different runs: text wins, then number.
    for kind in ("text", "number"):
        if kind in (a, b):
            return kind
    return "integer"


def write_index(handle: h5py.File) -> int:
    """Rebuilds /index from the run groups; returns its number of rows."""
    rows = []
    if RUNS in handle:
        for run_id in sorted(handle[RUNS]):
            group = handle[RUNS][run_id]
            if is_complete(group):
                rows.append((run_id, run_attributes(group)))
    kinds: dict[str, str] = {}
    for _, attributes in rows:
        for key, value in attributes.items():
            kinds[key] = _widen(kinds.get(key, _kind(value)), _kind(value))
    keys = sorted(kinds)

    def text_width(values) -> int:
        return max([1] + [len(str(v).encode("utf-8")) for v in values])

    fields = [("run_id", f"S{text_width(run_id for run_id, _ in rows)}")]
    for key in keys:
        if kinds[key] == "text":
            fields.append((key, f"S{text_width(a.get(key, '') for _, a in rows)}"))
        elif kinds[key] == "integer":
            fields.append((key, np.int64))
        else:
            fields.append((key, np.float64))
    table = np.zeros(len(rows), dtype=np.dtype(fields))
    for i, (run_id, attributes) in enumerate(rows):
        table[i]["run_id"] = run_id.encode("utf-8")
        for key in keys:
            value = attributes.get(key)
            if kinds[key] == "text":
                table[i][key] = ("" if value is None else str(value)).encode("utf-8")
            elif kinds[key] == "integer":
                table[i][key] = -1 if value is None else int(value)
            else:
                table[i][key] = np.nan if value is None else float(value)
    if INDEX in handle:
        del handle[INDEX]
    handle.create_dataset(INDEX, data=table)
    return len(rows)


def read_index(handle: h5py.File):
    """The /index table as a DataFrame with text columns decoded to str."""
    import pandas as pd

    frame = pd.DataFrame(handle[INDEX][()])
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(decode)
    return frame
