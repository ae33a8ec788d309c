"""The paper's published points (analysis/paper_points.csv, sources in its header)."""
from __future__ import annotations

import os

import pandas as pd

POINTS_FILE = os.path.join(os.path.dirname(__file__), "paper_points.csv")


def load_points(path: str = POINTS_FILE) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def source_note(path: str = POINTS_FILE) -> str:
    """The citation lines at the top of the table, for the report."""
    with open(path, encoding="utf-8") as handle:
        lines = [line[1:].strip() for line in handle if line.startswith("#")]
    return " ".join(lines[:5])


def speedups(points: pd.DataFrame) -> pd.DataFrame:
    """Star-over-ring speedup per model and length."""
    chosen = points[points.metric == "star_speedup_vs_ring"]
    return chosen[["model", "seq_len", "block_size", "value"]].rename(columns={"value": "speedup"})


def accuracy_ratios(points: pd.DataFrame) -> pd.DataFrame:
    """Star accuracy relative to ring (= global, ring being exact): (ring + delta) / ring.

    The table's caption calls the delta an absolute difference, so it is added
    to the ring accuracy in percentage points.
    """
    ring = points[points.metric == "ring_accuracy_pct"].set_index(["model", "benchmark", "seq_len"]).value
    delta = points[points.metric == "star_delta_accuracy_pct"].set_index(["model", "benchmark", "seq_len"]).value
    ratio = ((ring + delta) / ring).dropna().rename("ratio").reset_index()
    return ratio
