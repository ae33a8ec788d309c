"""Analysis of starbench results files (docs/HDF5_SCHEMA.md).

    python3 -m analysis report results.h5 [more.h5 ...] --out DIR
    python3 -m analysis merge out.h5 in1.h5 in2.h5 ...
"""
