#include "experiment/placement.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/backend.h"
#include "util/control.h"
#ifdef STARBENCH_WITH_CUDA
#include "backend/cuda/library_versions.h"
#endif

namespace sb {
namespace {

std::string backend_library_versions(const Backend& backend) {
#ifdef STARBENCH_WITH_CUDA
  if (backend.name() == "cuda") return cuda_library_versions();
#endif
  (void)backend;
  return "";
}

// The distinct values among the first `count`, in order of first appearance.
std::vector<std::string> distinct(const std::vector<std::string>& values, int count) {
  std::vector<std::string> seen;
  for (int i = 0; i < count && i < int(values.size()); ++i)
    if (std::find(seen.begin(), seen.end(), values[size_t(i)]) == seen.end()) seen.push_back(values[size_t(i)]);
  return seen;
}

std::vector<int> ranks_per_node(const Placement& placement, int participants) {
  const std::vector<std::string> hosts = distinct(placement.hosts, participants);
  std::vector<int> counts(hosts.size(), 0);
  for (int rank = 0; rank < participants && rank < int(placement.hosts.size()); ++rank)
    ++counts[size_t(std::find(hosts.begin(), hosts.end(), placement.hosts[size_t(rank)]) - hosts.begin())];
  return counts;
}

}  // namespace

std::string nvidia_driver_version() {
  // First line: "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar ..." (open modules:
  // "... Open Kernel Module for x86_64  570.86.15  Release Build ..."); older drivers have two parts (390.157).
  std::ifstream file("/proc/driver/nvidia/version");
  std::string line, word;
  std::getline(file, line);
  std::istringstream words(line);
  while (words >> word) {
    const bool version = std::isdigit(static_cast<unsigned char>(word[0])) && word.find('.') != std::string::npos &&
                         std::all_of(word.begin(), word.end(), [](char c) { return std::isdigit(c) || c == '.'; });
    if (version) return word;
  }
  return "";
}

Placement gather_placement(const Backend& backend) {
  Placement placement;
  placement.hosts = Control::gather_all_strings(Control::host_name());
  placement.devices = Control::gather_all_strings(backend.device_name());
  placement.drivers = Control::gather_all_strings(backend.name() == "cuda" ? nvidia_driver_version() : "");
  placement.libraries = Control::gather_all_strings(backend_library_versions(backend));
  for (const auto& [variable, key] : {std::pair{"SLURM_JOB_ID", "slurm_job_id"},
                                      {"SLURM_ARRAY_JOB_ID", "slurm_array_job_id"},
                                      {"SLURM_ARRAY_TASK_ID", "slurm_array_task_id"},
                                      {"SLURM_RESTART_COUNT", "slurm_restart_count"}}) {
    const char* value = std::getenv(variable);
    char* end = nullptr;
    if (value && *value) {
      const long long number = std::strtoll(value, &end, 10);
      if (*end == '\0') placement.slurm_integers[key] = number;
    }
  }
  for (const auto& [variable, key] : {std::pair{"SLURM_JOB_NAME", "slurm_job_name"},
                                      {"SLURM_CLUSTER_NAME", "slurm_cluster"},
                                      {"SLURM_JOB_PARTITION", "slurm_partition"}}) {
    if (const char* value = std::getenv(variable); value && *value) placement.slurm_text[key] = value;
  }
  return placement;
}

std::string node_layout(const Placement& placement, int participants) {
  const std::vector<int> counts = ranks_per_node(placement, participants);
  if (counts.empty()) return "";
  const bool even = std::all_of(counts.begin(), counts.end(), [&](int count) { return count == counts[0]; });
  return even ? fmt::format("{}x{}", counts.size(), counts[0]) : fmt::format("{}", fmt::join(counts, "+"));
}

std::string hardware_key(const Placement& placement, int participants) {
  if (placement.hosts.empty()) return "";
  return fmt::format(";device={};node_layout={}", fmt::join(distinct(placement.devices, participants), "+"),
                     node_layout(placement, participants));
}

std::string library_versions(const Placement& placement, int participants) {
  std::vector<std::string> versions = distinct(placement.libraries, participants);
  versions.erase(std::remove(versions.begin(), versions.end(), std::string()), versions.end());
  return fmt::format("{}", fmt::join(versions, " + "));
}

void add_placement(RunRecord& record, const Placement& placement, int participants) {
  if (placement.hosts.empty()) return;
  const std::vector<int> counts = ranks_per_node(placement, participants);
  record.text["hosts"] = fmt::format("{}", fmt::join(distinct(placement.hosts, participants), ","));
  record.text["node_layout"] = node_layout(placement, participants);
  record.integers["node_count"] = int64_t(counts.size());
  record.integers["ranks_per_node"] = counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  const std::vector<std::string> devices = distinct(placement.devices, participants);
  if (devices.size() > 1) record.text["devices"] = fmt::format("{}", fmt::join(devices, "+"));
  std::vector<std::string> drivers = distinct(placement.drivers, participants);
  drivers.erase(std::remove(drivers.begin(), drivers.end(), std::string()), drivers.end());
  if (!drivers.empty()) record.text["gpu_driver"] = fmt::format("{}", fmt::join(drivers, ","));
  if (const std::string libraries = library_versions(placement, participants); !libraries.empty())
    record.text["library_versions"] = libraries;
  for (const auto& [key, value] : placement.slurm_text) record.text[key] = value;
  for (const auto& [key, value] : placement.slurm_integers) record.integers[key] = value;
}

}  // namespace sb
