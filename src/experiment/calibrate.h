#pragma once
// `starbench calibrate`: times the operations the methods issue, through the
// same Backend and Comm interfaces they use, and writes the hardware profile
// the simulator charges them from (costmodel/hardware_profile.h).
#include <string>
#include <utility>
#include <vector>

#include "comm/host_layout.h"
#include "costmodel/hardware_profile.h"

namespace sb {

struct CalibrationSettings {
  std::string backend = "auto";
  // Models whose weight shapes are timed (GEMM); the first one's head layout
  // is used for the attention grid. Empty: calibration_presets' default.
  std::vector<std::string> presets;
  // Hosts of G GPUs: under the tensor split the GEMMs of each preset's shard
  // are timed too, so that a simulation of such hosts reads measured shapes.
  HostOptions hosts;
  std::string output;  // default: default_profile_path (a user cache directory, never the repository)
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

// The linear cost (latency + bytes / bandwidth) of measured (bytes, milliseconds)
// points: the line through the smallest and the largest point. A least-squares line is
// pulled by the large points (their residuals are the large ones) and its intercept says nothing
// about small calls: the first H200 profile got 277 us of NCCL latency that way, where its phase-2
// collectives take about 100 us. Sizes are measured a factor 16-64 apart, so the two ends pin down
// both terms. A line that does not rise (noise) takes the bandwidth of the largest point
// alone (its bytes / its time); the latency is never negative. At least one point.
LinearCost fit_linear(std::vector<std::pair<double, double>> points);

// "NVIDIA H200" -> "h200"; the default file name.
std::string hardware_file_stem(const std::string& device_name);

// The presets whose shapes are timed: those given, else llama3.1-8b and
// llama3.1-70b (the simulator's models), or with --quick the tiny model's
// (a grid of seconds on a CPU; 8B and 70B GEMMs take minutes there).
std::vector<std::string> calibration_presets(const CalibrationSettings& settings);

// Where a profile goes without --output: $XDG_CACHE_HOME/starbench/hardware/<gpu>.json
// (~/.cache/... without it), outside any checkout, so that a calibration never
// overwrites a committed profile (configs/hardware/) unless told to with -o.
// Throws sb::Error when neither XDG_CACHE_HOME nor HOME is set.
std::string default_profile_path(const std::string& device_name);

}  // namespace sb
