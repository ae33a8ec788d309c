#pragma once
// Turns a run's outcome into the HDF5 record (docs/HDF5_SCHEMA.md) and back.
#include <string>

#include "comm/host_layout.h"
#include "experiment/fidelity.h"
#include "experiment/placement.h"
#include "experiment/run_spec.h"
#include "io/results_store.h"

namespace sb {

struct RunContext {
  std::string model_name;
  std::string backend;
  std::string device;
  int job_world_size = 1;
  // Backend::provenance(): recorded as text attributes and keyed (simulated
  // runs carry their platform and hardware profile; "simulated" = 1).
  std::vector<std::pair<std::string, std::string>> provenance = {};
  bool simulated = false;
  Placement placement;  // hosts, devices, driver, Slurm job (gather_placement)
  HostLayout hosts = {};  // hosts x GPUs per host of the job (job_world_size ranks)
};

// Ranks a run of this method uses in this job (global and duo: one host's).
int ranks_of_run(const RunSpec& spec, const RunContext& context);
// A stored run's ranks for tables: "4", or hosts x GPUs per host ("2x2").
std::string ranks_label(const RunRecord& record);

// Identifies a run's parameters for resume: equal keys mean the same run. Ends
// with the hardware it ran on (hardware_key: device model, nodes x ranks).
std::string params_key(const RunSpec& spec, const RunContext& context);
// The key's name of star's block rule (";block_rule=C/4", before the anchor settings).
inline constexpr const char* kBlockRuleKey = "block_rule";
// A star key written before keys named the block rule (no ";block_rule="), as
// this version writes it: the rule inserted before ";anchor_source=". Other
// keys, and keys that name it, are returned as they are. ResumeIndex reads
// older files' star runs through it (they are counted, never reused).
std::string star_key_with_block_rule(const std::string& key, const std::string& block_rule);
// The tail of every key: the backend's provenance (simulated: platform and
// profile) and, for runs that ran here, the hardware (hardware_key over `ranks`).
std::string hardware_key_suffix(const RunContext& context, int ranks);
// A duo pattern's part of a key (source, threshold applied, sink, recent); "" for none.
std::string duo_params_key(const DuoPattern* duo);

// Median over repeats of the slowest rank's time.
double median_of_slowest(const std::vector<std::vector<double>>& per_repeat_per_rank);

RunRecord make_run_record(const RunOutcome& outcome, const RunContext& context, const Fidelity* fidelity);

// Global timing runs store their query outputs (reference/query_logits and
// reference/query_hidden) so that a resumed sweep can still compare later
// methods against them. Task samples do not: with a 128K vocabulary that is
// megabytes per sample, and a resumed task sweep re-runs global instead.
// Throws sb::Error naming the run and the dataset when they hold a NaN or an
// infinity (a damaged or overflowed reference is no reference).
RunOutcome reference_outputs_from_record(const RunRecord& record);
// "" when the record's reference/* datasets (if any) are finite, else why not.
std::string reference_outputs_problem(const RunRecord& record);

}  // namespace sb
