"""Checksums of stored runs, as starbench writes them (docs/HDF5_SCHEMA.md, "Integrity").

Every dataset of a run has a ``sha256`` attribute: SHA-256 of its data's little-endian bytes (strings: each
one's length as 8 little-endian bytes, then its UTF-8 bytes). A run group has ``attributes_sha256`` over its
attributes (all but itself, ``complete`` and ``merged_from``), one line each in name order:
``name 0x1f kind 0x1f value \\n`` with kind t (text), i (integer, decimal) or n (number: the hex of its
little-endian float64 bytes). Runs written before checksums have neither and are not checked.
"""
from __future__ import annotations

import hashlib
import struct

import h5py
import numpy as np

from .results import decode

SKIPPED_ATTRIBUTES = {"attributes_sha256", "complete", "merged_from"}


def dataset_sha256(dataset: h5py.Dataset) -> str:
    if dataset.dtype.kind in ("O", "S", "U") or h5py.check_string_dtype(dataset.dtype) is not None:
        digest = hashlib.sha256()
        for value in np.atleast_1d(dataset.asstr()[()] if dataset.size else []):
            raw = value.encode("utf-8")
            digest.update(struct.pack("<Q", len(raw)) + raw)
        return digest.hexdigest()
    data = dataset[()] if dataset.size else np.zeros(0)
    return hashlib.sha256(np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()).hexdigest()


def attributes_sha256(group: h5py.Group) -> str:
    digest = hashlib.sha256()
    for name in sorted(group.attrs):
        if name in SKIPPED_ATTRIBUTES:
            continue
        value = decode(group.attrs[name])
        if isinstance(value, str):
            line = "t\x1f" + value
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            line = f"i\x1f{int(value)}"
        else:
            line = "n\x1f" + struct.pack("<d", float(value)).hex()
        digest.update(f"{name}\x1f{line}\n".encode("utf-8"))
    return digest.hexdigest()


def run_damage(group: h5py.Group) -> str:
    """'' when the run's checksums match (or it has none), else what is damaged."""
    stored = decode(group.attrs.get("attributes_sha256", ""))
    try:
        if stored and stored != attributes_sha256(group):
            return f"{group.name}: its attributes do not match attributes_sha256"
        damaged = []

        def visit(name, item):
            if isinstance(item, h5py.Dataset) and "sha256" in item.attrs:
                if decode(item.attrs["sha256"]) != dataset_sha256(item):
                    damaged.append(f"{group.name}/{name}")

        group.visititems(visit)
    except (OSError, KeyError, ValueError) as error:
        return f"{group.name}: cannot be read ({error})"
    return f"{damaged[0]}: its data does not match its sha256 attribute" if damaged else ""
