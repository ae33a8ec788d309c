"""Read a starbench results file's runs for the CLI tests: (attributes, group) per run."""
import h5py


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def stored_runs(path):
    """Yields (attributes as a dict with text decoded, the run's h5py group) while the file is open."""
    with h5py.File(path, "r") as f:
        for name in f["runs"]:
            group = f["runs"][name]
            yield {k: (text(v) if isinstance(v, (bytes, str)) else v) for k, v in group.attrs.items()}, group
