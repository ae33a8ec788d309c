"""safetensors read/write with numpy alone (no safetensors package on the CI machine).

The format: an 8-byte little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {str: str}}
(offsets relative to the end of the header), then the raw little-endian bytes.
BF16 is the top 16 bits of an IEEE float32, so it is read exactly as float32.
"""
import json
import struct

import numpy as np

_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
           "U8": np.dtype("u1")}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read(path):
    """Returns ({name: numpy array}, metadata dict). BF16 tensors come back as float32 (exact)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file ({len(blob)} bytes)")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file ({len(blob)} bytes)")
    header = json.loads(blob[8:8 + header_len])
    data = memoryview(blob)[8 + header_len:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        if entry["dtype"] == "BF16":
            bits = np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32) << 16
            tensors[name] = bits.view(np.float32).reshape(shape)
        elif entry["dtype"] in _DTYPES:
            tensors[name] = np.frombuffer(data[begin:end], dtype=_DTYPES[entry["dtype"]]).reshape(shape).copy()
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {entry['dtype']} not supported here")
    return tensors, metadata


def write(path, tensors, metadata=None):
    """tensors: {name: numpy array of a dtype in _DTYPES}, written in name order; metadata: {str: str}."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = array.dtype.newbyteorder("<")
        if dtype not in _NAMES:
            raise ValueError(f"{path}: tensor {name}: dtype {array.dtype} not supported here")
        raw = array.astype(dtype, copy=False).tobytes()
        header[name] = {"dtype": _NAMES[dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError(f"{path}: safetensors metadata must map str to str")
        header = {"__metadata__": dict(metadata), **header}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the safetensors library writes it
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)
