"""Merging results files: every job writes its own file, this combines them.

Runs are copied whole (attributes, arrays and their checksums) and renumbered;
a run whose key (merge_key: its identity, the digest of everything that
determines its result) is already in the output is the same measurement (e.g.
the global baseline every array task copied) and is kept once; runs of the same
settings with other inputs (weights, GPUs, node layout, ...) are all kept. Runs
whose checksums do not match are left out (counted as damaged). The output is written to a temporary file and renamed into place, so
an interrupted merge leaves the previous output untouched; like starbench, the
merge holds an fcntl lock on "<output>.lock" meanwhile and writes a symlinked
output through to its target.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
from dataclasses import dataclass

import h5py

from .integrity import run_damage
from .results import RUNS, SCHEMA, ResultsError, decode, is_complete, open_store
from .store_index import write_index

RUN_ID = re.compile(r"run_(\d+)$")


@dataclass
class MergeSummary:
    copied: int = 0
    duplicates: int = 0
    incomplete: int = 0
    damaged: int = 0


def merge_key(group: h5py.Group) -> str:
    """What makes two runs one measurement.

    A run with an ``identity`` (the digest of its settings and inputs) is the
    same measurement as another of that identity only. A run written before
    starbench recorded identities is matched by params_key, never with a run
    that has one: starbench's params_key ends with the device model and the
    node layout (";device=...;node_layout=2x4") since it records them; a run
    written before that gets them from its attributes, a missing one counting
    as unknown (so two old runs that both lack it still count as one).
    """
    identity = decode(group.attrs.get("identity", ""))
    if identity:
        return f"identity={identity}"
    key = decode(group.attrs.get("params_key", ""))
    if not key or ";device=" in key:
        return key
    device = decode(group.attrs.get("device", ""))
    layout = decode(group.attrs.get("node_layout", ""))
    return f"{key};device={device};node_layout={layout}"


def _next_number(runs: h5py.Group) -> int:
    numbers = [int(m.group(1)) for name in runs if (m := RUN_ID.match(name))]
    return max(numbers, default=0) + 1


def _copy_group(source: h5py.Group, target: h5py.Group) -> None:
    """Copies attributes and datasets by value.

    Not h5py's Group.copy (H5Ocopy): HDF5 1.10.8 crashes copying groups whose
    variable-length string attributes are in dense storage, which is how the
    C++ store writes runs (h5copy of a run group segfaults too).
    """
    for key in source.attrs:
        if key != "complete":
            target.attrs.create(key, source.attrs[key], dtype=source.attrs.get_id(key).dtype)
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            _copy_group(item, target.create_group(name))
        else:
            copy = target.create_dataset(name, data=item[()], dtype=item.dtype)
            for key in item.attrs:  # the checksum
                copy.attrs.create(key, item.attrs[key], dtype=item.attrs.get_id(key).dtype)
    if "complete" in source.attrs:
        target.attrs.create("complete", source.attrs["complete"], dtype=source.attrs.get_id("complete").dtype)


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def merge(output: str, inputs: list[str]) -> MergeSummary:
    if not inputs:
        raise ResultsError("merge: no input files given")
    for path in inputs:
        if os.path.abspath(path) == os.path.abspath(output):
            raise ResultsError(f"merge: {path} is both an input and the output")
        open_store(path).close()  # every input is checked before anything is written

    output = os.path.realpath(output)  # a symlinked output is updated, not replaced by a file
    directory = os.path.dirname(output)
    if not os.path.isdir(directory):
        raise ResultsError(f"merge: {output}: directory {directory} does not exist")
    # The C++ store's temporary-file name (<path>.tmp.<host>.<pid>): starbench
    # removes such files left by dead processes when it opens the results file.
    temporary = f"{output}.tmp.{socket.gethostname().replace('/', '_')}.{os.getpid()}"
    summary = MergeSummary()
    lock = os.open(f"{output}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX)  # a starbench appending to the output takes turns with us
        if os.path.exists(output):
            open_store(output).close()
            shutil.copyfile(output, temporary)
            mode = "a"
        else:
            mode = "w"
        with h5py.File(temporary, mode) as out:
            out.attrs["starbench_schema"] = SCHEMA
            # Runs in creation order, as the C++ store creates /runs.
            runs = out[RUNS] if RUNS in out else out.create_group(RUNS, track_order=True)
            seen = {merge_key(g) for g in runs.values() if is_complete(g)}
            number = _next_number(runs)
            for path in inputs:
                with open_store(path) as source:
                    if RUNS not in source:
                        continue
                    for run_id in sorted(source[RUNS]):
                        group = source[RUNS][run_id]
                        if not is_complete(group):
                            summary.incomplete += 1
                            continue
                        if run_damage(group):
                            summary.damaged += 1
                            continue
                        key = merge_key(group)
                        if key and key in seen:
                            summary.duplicates += 1
                            continue
                        seen.add(key)
                        new_id = f"run_{number:06d}"
                        number += 1
                        _copy_group(group, runs.create_group(new_id))
                        runs[new_id].attrs["merged_from"] = f"{os.path.basename(path)}:{run_id}"
                        summary.copied += 1
            write_index(out)
        _fsync(temporary)
        os.replace(temporary, output)
        _fsync(directory)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    finally:
        os.close(lock)
    return summary
