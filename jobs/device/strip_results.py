#!/usr/bin/env python3
"""Shrinks results files for the trip back from the device machine: every run kept with its attributes and
per-rank arrays, but without the global runs' reference outputs (reference/*: a [query, vocab] float32
array, 33 MB at Llama-3's vocabulary), which only a resumed sweep on that machine would need.
Usage: strip_results.py FILE.h5 [...]   (each replaced in place)"""
import os
import sys

import h5py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from analysis.store_index import write_index  # noqa: E402

for path in sys.argv[1:]:
    with h5py.File(path, "r") as probe:
        if "runs" not in probe:  # not a results file (a `forward` output): kept as it is
            continue
    stripped = path + ".stripped"
    with h5py.File(path, "r") as source, h5py.File(stripped, "w", libver="latest") as target:
        for key, value in source.attrs.items():
            target.attrs[key] = value
        runs = target.create_group("runs", track_order=True)
        for name in source["runs"]:
            group = source["runs"][name]
            copy = runs.create_group(name, track_order=True)
            for key, value in group.attrs.items():
                copy.attrs[key] = value
            for item in group:
                if item != "reference":
                    source.copy(group[item], copy, name=item)
        write_index(target)
    os.replace(stripped, path)
    print(f"{path}: {os.path.getsize(path) / 2**20:.1f} MiB")
