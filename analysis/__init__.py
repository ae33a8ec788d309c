"""Analysis of starbench results files (docs/HDF5_SCHEMA.md).

From a checkout (the folder analysis/):
    python3 -m analysis report results.h5 [more.h5 ...] --out DIR
    python3 -m analysis merge out.h5 in1.h5 in2.h5 ...
Installed with pip (pyproject.toml; the package is then `starbench_analysis`):
    starbench-analysis report results.h5 --out DIR
"""
