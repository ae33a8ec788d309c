#!/usr/bin/env python3
"""Writes the SimGrid platform files of this folder (dgx-h200.xml, dgx-a100.xml).

One host per GPU, named node<n>-gpu<g>; one SimGrid <cluster> per node (each GPU's NVLink as a private
split-duplex link to the node's NVSwitch backbone); nodes joined by InfiniBand: each node's route to the
spine crosses a per-flow cap (one GPU's NIC, FATPIPE) and the node's aggregate NIC bandwidth (shared), then
a non-blocking spine. Hosts run at 1 flop/s: the simulator charges each operation's calibrated seconds as
that many flops. The root zone's properties name the GPUs per node and the default hardware profile.

Usage: python3 configs/platforms/make_platforms.py   (rewrites both files; they are committed)
"""
import os

NODES = 32  # 256 GPUs: the largest cluster the scaling studies ask about

PLATFORMS = {
    "dgx-h200.xml": dict(
        title="NVIDIA DGX H200: 8x H200 141GB SXM per node, NVLink 4 + NVSwitch, 8x 400 Gb/s NDR InfiniBand",
        hardware="../hardware/h200.json",
        nvlink_gbps=450,  # GB/s per direction per GPU (900 GB/s bidirectional, NVLink 4)
        nvswitch_gbps=7200,  # GB/s total GPU-to-GPU (4 NVSwitch chips)
        nic_gbps=50,  # GB/s per GPU: one ConnectX-7 400 Gb/s port per GPU
        sources=[
            "NVIDIA DGX H200 datasheet: 8x H200 141GB, 900 GB/s NVLink per GPU (18 NVLink 4 links),",
            "  4x NVSwitch with 7.2 TB/s bidirectional GPU-to-GPU bandwidth, 8x single-port ConnectX-7",
            "  (400 Gb/s InfiniBand/Ethernet) for the compute fabric, one per GPU.",
        ]),
    "dgx-a100.xml": dict(
        title="NVIDIA DGX A100 (the Star Attention paper's hardware): 8x A100 80GB SXM, NVLink 3 + NVSwitch, "
              "8x 200 Gb/s HDR InfiniBand",
        hardware="../hardware/a100.json",
        nvlink_gbps=300,  # 600 GB/s bidirectional, NVLink 3
        nvswitch_gbps=4800,  # 6 NVSwitch chips, 4.8 TB/s bidirectional total
        nic_gbps=25,  # one ConnectX-6 200 Gb/s HDR port per GPU
        sources=[
            "NVIDIA DGX A100 datasheet: 8x A100 80GB, 600 GB/s NVLink per GPU (12 NVLink 3 links),",
            "  6x NVSwitch with 4.8 TB/s bidirectional bandwidth, 8x single-port ConnectX-6 (200 Gb/s HDR",
            "  InfiniBand) for the compute fabric, one per GPU.",
        ]),
}

LATENCY_NVLINK = "1us"  # per hop: an estimate of the wire + switch time; NCCL's own latency is calibrated
LATENCY_IB = "2us"  # NIC + switch + NIC, an estimate


def platform(name, p):
    lines = [
        "<?xml version='1.0'?>",
        '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">',
        "<!--",
        f"  {p['title']}; {NODES} nodes (up to {NODES * 8} GPUs).",
        "  Written by configs/platforms/make_platforms.py; edit that script, not this file.",
        "  Where the figures come from:",
        *[f"    {line}" for line in p["sources"]],
        f"  NVLink: {p['nvlink_gbps']} GB/s per GPU and direction (half the bidirectional figure); NVSwitch backbone",
        f"  {p['nvswitch_gbps']} GB/s in all (non-blocking). InfiniBand: {p['nic_gbps']} GB/s per flow (one NIC per GPU),",
        f"  {8 * p['nic_gbps']} GB/s per node, non-blocking spine (a rail-optimised fat tree). These are datasheet",
        "  peaks; the fraction NCCL reaches of them is measured by `starbench calibrate` (hardware profile,",
        "  comm.p2p) and applied by the simulator to every transfer. Latencies are estimates (1 us per NVLink hop,",
        "  2 us across InfiniBand); NCCL's per-call latency comes from the profile.",
        "  Hosts compute at 1 flop/s: the simulator executes each operation's calibrated seconds as flops.",
        "-->",
        '<platform version="4.1">',
        '  <zone id="fabric" routing="Floyd">',
        '    <prop id="gpus_per_node" value="8"/>',
        f'    <prop id="hardware" value="{p["hardware"]}"/>',
    ]
    for n in range(NODES):
        lines.append(
            f'    <cluster id="node{n}" prefix="node{n}-gpu" radical="0-7" suffix="" speed="1f" '
            f'bw="{p["nvlink_gbps"]}GBps" lat="{LATENCY_NVLINK}" sharing_policy="SPLITDUPLEX" '
            f'bb_bw="{p["nvswitch_gbps"]}GBps" bb_lat="0us" router_id="node{n}-router"/>')
    lines.append('    <zone id="spine" routing="None">')
    lines.append('      <router id="spine-router"/>')
    lines.append("    </zone>")
    for n in range(NODES):
        lines.append(f'    <link id="node{n}-nic" bandwidth="{p["nic_gbps"]}GBps" latency="{LATENCY_IB}" '
                     'sharing_policy="FATPIPE"/>')
        lines.append(f'    <link id="node{n}-ib" bandwidth="{8 * p["nic_gbps"]}GBps" latency="0us"/>')
    for n in range(NODES):
        lines.append(f'    <zoneRoute src="node{n}" dst="spine" gw_src="node{n}-router" gw_dst="spine-router">'
                     f'<link_ctn id="node{n}-nic"/><link_ctn id="node{n}-ib"/></zoneRoute>')
    lines += ["  </zone>", "</platform>", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for name, p in PLATFORMS.items():
        with open(os.path.join(here, name), "w", encoding="utf-8") as out:
            out.write(platform(name, p))
        print(f"wrote {name}")
