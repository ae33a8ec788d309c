#pragma once
// Where a job's ranks run, recorded with every run so that a result can be traced
// to its hardware: hosts, nodes x ranks per node, device model, GPU driver and the
// Slurm job. The part that changes a run's timing (device model and node layout)
// is also the tail of its resume / merge key (hardware_key): an H100 run does not
// stand in for an H200 run, nor one node of 8 ranks for two nodes of 4.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/results_store.h"

namespace sb {

class Backend;

struct Placement {
  std::vector<std::string> hosts;    // [rank]
  std::vector<std::string> devices;  // [rank]: the backend's device name
  std::vector<std::string> drivers;  // [rank]: NVIDIA driver version, "" where there is none
  std::vector<std::string> libraries;  // [rank]: CUDA runtime, cuDNN, NCCL versions (cuda), "" elsewhere
  std::map<std::string, std::string> slurm_text;  // slurm_job_name, slurm_cluster, slurm_partition
  std::map<std::string, int64_t> slurm_integers;  // slurm_job_id, slurm_array_job_id, slurm_array_task_id, ...
};

// The NVIDIA kernel driver's version (the digits-and-dots word of the first line
// of /proc/driver/nvidia/version, e.g. "580.159.04"); "" without the driver or
// when that line holds no version: a field that says "unknown" rather than text
// that is not a version.
std::string nvidia_driver_version();

// Collective: every rank's host, device and driver; the Slurm job from rank 0's
// environment (all ranks of a job step share it).
Placement gather_placement(const Backend& backend);

// Ranks per node of the first `participants` ranks (the ranks a run used: 1 for
// global, all for ring and star), nodes in order of their first rank; "2x4" when
// every node has as many ranks, else "4+3".
std::string node_layout(const Placement& placement, int participants);

// ";device=<model(s)>;node_layout=<layout>" for a run on `participants` ranks;
// "" for an empty placement (a RunContext made without one, in tests).
std::string hardware_key(const Placement& placement, int participants);

// The library versions of the ranks that took part ("" for none: cpu, sim).
std::string library_versions(const Placement& placement, int participants);

// Adds hosts, node_layout, node_count, ranks_per_node, gpu_driver and
// library_versions (cuda) and the Slurm ids (in a Slurm job) to a run's record.
void add_placement(RunRecord& record, const Placement& placement, int participants);

}  // namespace sb
