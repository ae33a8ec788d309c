#pragma once
// `starbench calibrate`: times the operations the methods issue, through the
// same Backend and Comm interfaces they use, and writes the hardware profile
// the simulator charges them from (costmodel/hardware_profile.h).
#include <string>
#include <vector>

#include "comm/host_layout.h"
#include "costmodel/hardware_profile.h"

namespace sb {

struct CalibrationSettings {
  std::string backend = "auto";
  // Models whose weight shapes are timed (GEMM); the first one's head layout
  // is used for the attention grid.
  std::vector<std::string> presets = {"llama3.1-8b", "llama3.1-70b"};
  // Hosts of G GPUs: under the tensor split the GEMMs of each preset's shard
  // are timed too, so that a simulation of such hosts reads measured shapes.
  HostOptions hosts;
  std::string output;  // default: configs/hardware/<gpu>.json
  bool quick = false;  // a small grid (tests, CPU)
  // Instead of measuring: a profile for another GPU derived from a measured one
  // by datasheet ratios (compute, memory bandwidth, NVLink bandwidth).
  std::string derive_from;
  std::string derive_gpu;
  double derive_memory_gib = 0;
  DatasheetRatios derive_ratios;
  std::string derive_note;  // where the ratios come from, written into the profile
};

// Writes the derived profile (rank 0); the file's origin names the source
// profile, the ratios and the note.
HardwareProfile derive_calibration(const CalibrationSettings& settings);

// Collective over 1 or 2 ranks (2: NCCL/MPI point-to-point and broadcast
// between them, and the overlap of a transfer with attention). Rank 0 writes
// the file; returns the profile on every rank.
HardwareProfile run_calibration(const CalibrationSettings& settings);

// "NVIDIA H200" -> "h200"; the default file name.
std::string hardware_file_stem(const std::string& device_name);

}  // namespace sb
