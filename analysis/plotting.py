"""What every report figure shares: one panel per setting (model, GPU, rank count, host layout), series
labels and colours, point kinds (measured, measured without warm-up, simulated, published) drawn apart,
log axes where values span decades, one legend per figure, and a bounded image.

Every panel axis carries a gid "panel;ranks=N;hosts=HxR;column=NAME" and every series line a gid
"line;series=LABEL;layout=L" (points: "points;kind=K"), so that tests can check a figure's rules on the
drawn objects (analysis/tests/test_figures.py) rather than on pixels.
"""
from __future__ import annotations

import math
import os
import re
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

# Values spanning more than this factor get a log axis (a linear one squeezes the small ones into a line).
LOG_SPAN = 30.0
# The largest side of a saved figure, in pixels.
MAX_PIXELS = 2800
DPI = 110

METHOD_COLORS = {"global": "tab:gray", "ring": "tab:blue", "star": "tab:orange", "duo": "tab:green",
                 "star+duo": "tab:red"}
LAYOUT_STYLES = {"zigzag": "-", "contiguous": "--"}
PAPER_STYLE = dict(marker="*", markersize=13, linestyle=":", markeredgecolor="black", markeredgewidth=0.6)
# How a point was obtained, drawn apart (the legend explains the markers).
KIND_STYLES = {
    "measured": dict(marker="o", markersize=5.5),
    "no warm-up": dict(marker="X", markersize=8, markeredgecolor="black", markeredgewidth=0.5),
    "simulated": dict(marker="s", markersize=5.5, markerfacecolor="white"),
    "paper": dict(marker="*", markersize=13, markeredgecolor="black", markeredgewidth=0.6),
}
KIND_LEGEND = {"measured": "measured (after a warm-up run)",
               "no warm-up": "measured without a warm-up (first run, cold)",
               "simulated": "simulated (starbench simulate)",
               "paper": "published"}
PALETTE = plt.rcParams["axes.prop_cycle"].by_key()["color"] + ["#393b79", "#637939", "#8c6d31", "#843c39",
                                                                "#7b4173", "#3182bd", "#e6550d", "#31a354"]


def length_label(tokens: int) -> str:
    if tokens >= 2**20 and tokens % 2**20 == 0:
        return f"{tokens // 2**20}M"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return str(tokens)


def length_axis(axis, lengths, label: str = "context length (tokens)", which: str = "x") -> None:
    """A log2 axis of token counts with K/M labels; every other label when there are many."""
    lengths = sorted(set(int(x) for x in lengths if x == x and x > 0))
    if not lengths:
        return
    set_scale = axis.set_xscale if which == "x" else axis.set_yscale
    set_ticks = axis.set_xticks if which == "x" else axis.set_yticks
    set_labels = axis.set_xticklabels if which == "x" else axis.set_yticklabels
    set_scale("log", base=2)
    set_ticks(lengths)
    step = 1 if len(lengths) <= 7 else 2
    set_labels([length_label(x) if i % step == 0 else "" for i, x in enumerate(lengths)])
    axis.minorticks_off()
    if label:
        (axis.set_xlabel if which == "x" else axis.set_ylabel)(label)


def log_if_wide(axis, values, which: str = "y") -> bool:
    """A log axis when the positive values span more than LOG_SPAN; returns whether it is log."""
    values = np.asarray([v for v in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(v) and v > 0])
    if values.size and values.max() / values.min() > LOG_SPAN:
        (axis.set_yscale if which == "y" else axis.set_xscale)("log")
        target = axis.yaxis if which == "y" else axis.xaxis
        # 1-2-5 ticks, plainly written: a span of one or two decades still gets several labels.
        target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        target.set_minor_formatter(NullFormatter())
        return True
    return False


def point_kind(simulated, warmup) -> str:
    if int(simulated) == 1:
        return "simulated"
    return "no warm-up" if int(warmup) == 0 else "measured"


def plain_device(device: str) -> str:
    return device.replace(" (simulated)", "")


def short_device(device: str) -> str:
    """A device name for a panel title: without the vendor's prefix."""
    return device.replace("NVIDIA ", "")


def hosts_text(layout: str) -> str:
    if "x" in layout:
        hosts, per = layout.split("x", 1)
        return f"{hosts} host{'s' if hosts != '1' else ''} x {per}"
    return layout


# --- series labels ------------------------------------------------------------------------------


def rule_label(rule: str) -> str:
    if rule.startswith("C/"):
        return f"block = context/{rule[2:]}"
    return f"block {length_label(int(rule))}" if rule.isdigit() else rule


def star_line(block_rule: str, block_size) -> str:
    """A star series: its block rule, or the fixed block size ("16384")."""
    return block_rule if block_rule and block_rule != "fixed" else str(int(block_size))


def derived_label(row) -> str:
    """A run's (or a table row's) one label when the file records none: method and what tells its runs apart."""
    method = row["method"]
    if method == "ring":
        return f"ring {row.get('ring_layout') or 'zigzag'}"
    if method in ("star", "star+duo"):
        label = f"{method} {rule_label(star_line(row.get('block_rule', ''), row.get('block_size', 0)))}"
        anchor, block = int(row.get("anchor_size", 0) or 0), int(row.get("block_size", 0) or 0)
        if anchor and anchor != block:
            label += f", anchor {length_label(anchor)}"
        return label
    if method == "duo" and row.get("duo_sparsity") == row.get("duo_sparsity") and row.get("duo_sparsity") is not None:
        return f"duo, sparsity {float(row['duo_sparsity']):.2f}"
    return method


def series_label(rows: pd.DataFrame) -> str:
    """The label of a series: the runs' recorded `label` when they all carry the same one, else derived."""
    if "label" in rows and rows.label.nunique() == 1 and rows.label.iloc[0]:
        return str(rows.label.iloc[0])
    return derived_label(rows.iloc[0])


# Star's fixed block sizes keep one colour in every figure (log2 of the block: 4K, 8K, ... 1M).
BLOCK_COLORS = ["tab:brown", "tab:pink", "tab:red", "tab:purple", "#8c6d31", "#393b79", "#7b4173", "#843c39",
                "#637939"]
SERIES_COLORS = {"global": "tab:gray", "ring zigzag": "tab:blue", "ring contiguous": "tab:cyan",
                 "star block = context/4": "tab:orange", "star block = context/ranks": "tab:green",
                 "duo": "tab:olive", "star+duo": "black"}


def _standard_color(label: str) -> str | None:
    """The colour a series keeps across figures, from the start of its label, or None."""
    for prefix, color in sorted(SERIES_COLORS.items(), key=lambda item: -len(item[0])):
        if label == prefix or label.startswith(prefix + " ") or label.startswith(prefix + ","):
            return color
    words = label.split()
    if len(words) >= 3 and words[0] == "star" and words[1] == "block":
        size = words[2].rstrip(",")
        tokens = int(size[:-1]) * (1024 if size.endswith("K") else 2**20) if size[:-1].isdigit() else 0
        if tokens >= 4096 and (tokens & (tokens - 1)) == 0:
            return BLOCK_COLORS[min(len(BLOCK_COLORS) - 1, tokens.bit_length() - 13)]
    return None


class Colors:
    """One colour per series label across a figure's panels: the standard one where the label has one,
    else the next of the palette not taken."""

    def __init__(self, fixed: dict | None = None):
        self.assigned = dict(fixed or {})
        self.free = iter(c for c in PALETTE * 3 if c not in self.assigned.values())

    def __call__(self, label: str) -> str:
        if label not in self.assigned:
            self.assigned[label] = _standard_color(label) or next(self.free)
        return self.assigned[label]


# --- panels ---------------------------------------------------------------------------------------

PANEL_KEYS = ["model", "panel_device", "world_size", "host_layout"]


def with_panels(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds panel_device (the GPU without "(simulated)": a measurement and its simulation share a panel)."""
    frame = frame.copy()
    frame["panel_device"] = [plain_device(d) for d in frame.device] if "device" in frame else ""
    if "host_layout" not in frame:
        frame["host_layout"] = frame.node_layout if "node_layout" in frame else ""
    return frame


def panel_title(key: tuple) -> str:
    model, device, ranks, layout = key
    where = f" ({hosts_text(layout)})" if layout else ""
    return f"{model}, {short_device(device)}: {int(ranks)} rank{'s' if int(ranks) != 1 else ''}{where}"


def panel_gid(key: tuple, column: str) -> str:
    return f"panel;ranks={int(key[2])};hosts={key[3]};model={key[0]};device={key[1]};column={column}"


def panel_groups(frame: pd.DataFrame):
    """(key, rows) per panel, sorted by model, device, rank count."""
    frame = with_panels(frame)
    return [(key, group) for key, group in frame.groupby(PANEL_KEYS, sort=True)]


class Grid:
    """Panels of `columns` axes each (e.g. context phase | whole request), wrapped into rows; one legend
    and the title above them."""

    def __init__(self, panels: int, columns: int, panel_size=(4.6, 3.3), max_axes_per_row: int = 4):
        # Two panels or fewer: one per row (a row of four wide axes reads worse than two rows).
        self.per_row = 1 if panels <= 2 else max(1, max_axes_per_row // columns)
        self.per_row = min(self.per_row, panels)
        rows = math.ceil(panels / self.per_row)
        self.width = max(7.5, panel_size[0] * columns * self.per_row)
        self.panels_height = panel_size[1] * rows
        self.figure, axes = plt.subplots(rows, columns * self.per_row, figsize=(self.width, self.panels_height),
                                         squeeze=False)
        self.columns = columns
        self.axes = axes
        self.used = set()

    def panel(self, index: int) -> list:
        row, slot = divmod(index, self.per_row)
        axes = [self.axes[row][slot * self.columns + c] for c in range(self.columns)]
        self.used.update(id(a) for a in axes)
        return axes

    def finish(self, title: str, handles: list, labels: list) -> plt.Figure:
        """Removes axes no panel used or that hold nothing; the title, then one legend, above the panels."""
        for axis in self.axes.flat:
            if id(axis) not in self.used or not has_data(axis):
                self.figure.delaxes(axis)
        longest = max((len(label) for label in labels), default=10)
        legend_columns = max(1, min(len(labels) or 1, int(self.width * 72 * 0.9 / (longest * 3.6 + 34))))
        legend_rows = math.ceil(len(labels) / legend_columns) if labels else 0
        legend_height = 0.19 * legend_rows + (0.1 if legend_rows else 0)
        title = "\n".join(textwrap.wrap(title, width=max(40, int(self.width * 11))))
        title_height = 0.25 + 0.22 * title.count("\n") + 0.2
        height = self.panels_height + legend_height + title_height
        self.figure.set_size_inches(self.width, height)
        self.figure.suptitle(title, fontsize=11, y=1 - 0.1 / height, va="top")
        top = 1 - title_height / height
        if handles:
            self.figure.legend(handles, labels, loc="upper center", ncol=legend_columns, fontsize=8,
                               bbox_to_anchor=(0.5, top), frameon=False)
        for axis in self.figure.axes:
            for which in (axis.xaxis, axis.yaxis):
                formatter = which.get_major_formatter()
                if hasattr(formatter, "set_useOffset"):
                    formatter.set_useOffset(False)  # "1e-10+5.86e1" on a flat series says nothing
        self.figure.tight_layout(rect=(0, 0, 1, top - legend_height / height))
        return self.figure


def has_data(axis) -> bool:
    """Whether an axis shows data: bars, images, or lines with points other than guides (gid "guide")."""
    if axis.patches or axis.images:
        return True
    if any(len(np.atleast_1d(line.get_xdata())) and line.get_gid() != "guide" for line in axis.lines):
        return True
    return any(getattr(c, "get_offsets", lambda: np.zeros(0))().size for c in axis.collections)


def guide(axis, y: float = 1.0) -> None:
    """A reference line (speedup 1, ratio 1): not data."""
    axis.axhline(y, color="black", linewidth=0.8, gid="guide")


# --- drawing --------------------------------------------------------------------------------------


def draw_series(axis, x, y, kinds, color: str, label: str, layout: str = "", linestyle: str = "-",
                alpha: float = 1.0) -> None:
    """A series: its line (no markers), then its points by kind. Points must be one setting each."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    kinds = np.asarray(list(kinds), dtype=object)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, kinds = x[keep], y[keep], kinds[keep]
    if not x.size:
        return
    order = np.argsort(x, kind="stable")
    x, y, kinds = x[order], y[order], kinds[order]
    axis.plot(x, y, color=color, linestyle=linestyle, linewidth=1.5, alpha=alpha,
              gid=f"line;series={label};layout={layout}")
    for kind in dict.fromkeys(kinds):
        mask = kinds == kind
        style = dict(KIND_STYLES[kind])
        style.setdefault("markerfacecolor", color)
        axis.plot(x[mask], y[mask], linestyle="none", color=color, alpha=alpha, gid=f"points;kind={kind}",
                  **style)


def split_repeated_lengths(group: pd.DataFrame, x: str = "seq_len") -> list[pd.DataFrame]:
    """A series holds one point per length; settings that repeat a length (warm-up or not) become series of
    their own rather than a line that doubles back."""
    if not group[x].duplicated().any():
        return [group]
    return [part for _, part in group.groupby("warmup")] if "warmup" in group else [group.drop_duplicates(x)]


def tokens_in(label: str) -> int:
    """The first token count ("128K", "1M") in a label, or 0."""
    match = re.search(r"\b(\d+)([KM])\b", label)
    return int(match.group(1)) * (1024 if match.group(2) == "K" else 2**20) if match else 0


def ordered(labels) -> list[str]:
    """Series labels in reading order: global, ring (zigzag first), star by block size then rules, duo."""
    def order(label: str):
        method = label.split(" ")[0].split(",")[0]
        rank = {"global": 0, "ring": 1, "star": 2, "duo": 3, "star+duo": 4}.get(method, 5)
        return rank, "contiguous" in label, tokens_in(label) or float("inf"), label
    return sorted(dict.fromkeys(labels), key=order)


def legend_entries(colors: Colors, labels_used, styles: dict, kinds_used) -> tuple[list, list]:
    """Series colours, then line styles, then point kinds."""
    handles, labels = [], []
    for label in labels_used:
        handles.append(Line2D([], [], color=colors(label), linewidth=2.5))
        labels.append(label)
    for name, style in sorted(styles.items(), key=lambda item: "contiguous" in item[0]):
        handles.append(Line2D([], [], color="black", linestyle=style, linewidth=1.3))
        labels.append(name)
    for kind in kinds_used:
        style = dict(KIND_STYLES[kind])
        style.setdefault("markerfacecolor", "gray" if kind != "paper" else "gold")
        handles.append(Line2D([], [], color="gray", linestyle="none", **style))
        labels.append(KIND_LEGEND[kind] if isinstance(kind, str) and kind in KIND_LEGEND else str(kind))
    return handles, labels


def save(figure, out_dir: str, name: str) -> str:
    """Saves at DPI, or less where the figure is large, so that no side exceeds MAX_PIXELS."""
    path = os.path.join(out_dir, name)
    width, height = figure.get_size_inches()
    dpi = min(DPI, MAX_PIXELS / max(width, height))
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def drawn_kinds(figure) -> set[str]:
    """The point kinds a figure shows (from the gids draw_series sets)."""
    kinds = set()
    for axis in figure.axes:
        for line in axis.lines:
            gid = line.get_gid() or ""
            if gid.startswith("points;kind="):
                kinds.add(gid.split("=", 1)[1])
    return kinds
