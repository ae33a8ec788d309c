#!/usr/bin/env python3
"""Checks that every CUDA object of a build holds the GPU code CMAKE_CUDA_ARCHITECTURES asks for.

Reads each object's .nv_fatbin section (objcopy) and lists its entries: SASS (an ELF for one sm_XY) and PTX
(for one compute_XY). With "80-real;90" every object must hold sm_80 and sm_90 SASS and compute_90 PTX, so
the kernels are known to compile for both (what CI builds). No cuobjdump needed: the fatbin layout is
  header  {u32 magic 0xBA55ED50, u16 version, u16 header size, u64 size of the entries}
  entry   {u16 kind (1 PTX, 2 ELF), u16, u32 header size, u64 payload size, u32, u32, u16 minor, u16 major,
           u32 arch, ...} then the payload.
Usage: check_cuda_archs.py ARCHITECTURES OBJECT...   (ARCHITECTURES in CMake's syntax, e.g. "80-real;90")
"""
import struct
import subprocess
import sys
import tempfile

FATBIN_MAGIC = 0xBA55ED50
KIND = {1: "ptx", 2: "sass"}


def expected(architectures: str) -> set[tuple[str, int]]:
    wanted = set()
    for item in filter(None, architectures.replace(",", ";").split(";")):
        number, _, suffix = item.partition("-")
        arch = int(number.rstrip("af"))  # 90a: arch-specific features, still the sm_90 code
        if suffix in ("", "real"):
            wanted.add(("sass", arch))
        if suffix in ("", "virtual"):
            wanted.add(("ptx", arch))
    return wanted


def fatbin_entries(obj: str) -> set[tuple[str, int]]:
    with tempfile.NamedTemporaryFile() as section:
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", obj, section.name], check=True)
        data = open(section.name, "rb").read()
    found = set()
    offset = 0
    while offset + 16 <= len(data):
        magic, _version, header_size, size = struct.unpack_from("<IHHQ", data, offset)
        if magic != FATBIN_MAGIC:
            if any(data[offset:offset + 16]):  # trailing alignment is zeros
                raise SystemExit(f"{obj}: unexpected bytes in .nv_fatbin at {offset} (magic {magic:#x})")
            break
        entry, end = offset + header_size, offset + header_size + size
        while entry < end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
            _minor, _major, arch = struct.unpack_from("<HHI", data, entry + 24)
            found.add((KIND.get(kind, f"kind{kind}"), arch))
            entry += entry_header + payload
        offset = end
    return found


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    # ctest passes a generator expression's list as one ';'-separated argument.
    architectures = sys.argv[1]
    objects = [obj for argument in sys.argv[2:] for obj in argument.split(";") if obj]
    if architectures in ("native", "all", "all-major"):
        print(f"CMAKE_CUDA_ARCHITECTURES={architectures}: nothing fixed to check")
        return 0
    wanted = expected(architectures)
    problems = 0
    with_device_code = 0
    for obj in objects:
        found = fatbin_entries(obj)
        if not found:
            continue  # a .cu file without device code
        with_device_code += 1
        missing, extra = wanted - found, found - wanted
        if missing or extra:
            problems += 1
            print(f"{obj}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        else:
            print(f"{obj}: {', '.join(f'{kind} {arch}' for kind, arch in sorted(found))}")
    if not with_device_code:
        print(f"none of the {len(objects)} objects holds GPU code")
        return 1
    if problems:
        print(f"{problems} object(s) do not hold the GPU code of CMAKE_CUDA_ARCHITECTURES={architectures}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
