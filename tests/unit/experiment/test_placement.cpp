// Placement: what a run record says about its hardware, and the hardware part of
// the resume key (device model and nodes x ranks per node; not the job or hosts).
#include "experiment/placement.h"

#include <gtest/gtest.h>

#include "experiment/record.h"

namespace sb {
namespace {

Placement placement_of(std::vector<std::string> hosts, const std::string& device) {
  Placement placement;
  placement.hosts = std::move(hosts);
  placement.devices.assign(placement.hosts.size(), device);
  placement.drivers.assign(placement.hosts.size(), "550.54.15");
  return placement;
}

TEST(Placement, NodeLayoutCountsRanksPerNodeOfTheRanksThatTookPart) {
  const Placement one_node = placement_of({"a", "a", "a", "a", "a", "a", "a", "a"}, "H200");
  const Placement two_nodes = placement_of({"a", "a", "a", "a", "b", "b", "b", "b"}, "H200");
  EXPECT_EQ(node_layout(one_node, 8), "1x8");
  EXPECT_EQ(node_layout(two_nodes, 8), "2x4");
  EXPECT_EQ(node_layout(two_nodes, 1), "1x1");  // global: rank 0 alone
  EXPECT_EQ(node_layout(placement_of({"a", "a", "a", "b", "b", "c"}, "H200"), 6), "3+2+1");
}

TEST(Placement, ResumeKeySeparatesDevicesAndLayoutsButNotJobsOrHosts) {
  RunSpec ring;
  ring.method.method = Method::Ring;
  ring.context_len = 4096;
  RunContext h200_1x8{"llama", "cuda", "H200", 8, {}, false, placement_of({"a", "a", "a", "a", "a", "a", "a", "a"}, "H200")};
  RunContext h200_2x4{"llama", "cuda", "H200", 8, {}, false, placement_of({"a", "a", "a", "a", "b", "b", "b", "b"}, "H200")};
  RunContext h100_1x8{"llama", "cuda", "H100", 8, {}, false, placement_of({"a", "a", "a", "a", "a", "a", "a", "a"}, "H100")};
  RunContext other_job = h200_1x8;
  other_job.placement.hosts.assign(8, "z");  // another node of the same kind, another job
  other_job.placement.slurm_integers["slurm_job_id"] = 99;
  EXPECT_NE(params_key(ring, h200_1x8), params_key(ring, h200_2x4));
  EXPECT_NE(params_key(ring, h200_1x8), params_key(ring, h100_1x8));
  EXPECT_EQ(params_key(ring, h200_1x8), params_key(ring, other_job));  // a resubmitted job resumes
  // The hardware is the key's tail, so other fields can be added before it.
  const std::string key = params_key(ring, h200_2x4);
  EXPECT_EQ(key.substr(key.size() - hardware_key(h200_2x4.placement, 8).size()), ";device=H200;node_layout=2x4");
  // Global runs on rank 0 alone: the job's layout does not change it.
  RunSpec global = ring;
  global.method.method = Method::Global;
  EXPECT_EQ(params_key(global, h200_1x8), params_key(global, h200_2x4));
  EXPECT_NE(params_key(global, h200_1x8), params_key(global, h100_1x8));
}

TEST(Placement, RecordHoldsHostsLayoutDriverAndSlurmIds) {
  Placement placement = placement_of({"gpu01", "gpu01", "gpu02", "gpu02"}, "H200");
  placement.slurm_integers = {{"slurm_job_id", 1234}, {"slurm_array_task_id", 3}};
  placement.slurm_text = {{"slurm_job_name", "starbench"}};
  RunRecord record;
  add_placement(record, placement, 4);
  EXPECT_EQ(record.text.at("hosts"), "gpu01,gpu02");
  EXPECT_EQ(record.text.at("node_layout"), "2x2");
  EXPECT_EQ(record.text.at("gpu_driver"), "550.54.15");
  EXPECT_EQ(record.text.at("slurm_job_name"), "starbench");
  EXPECT_EQ(record.integers.at("node_count"), 2);
  EXPECT_EQ(record.integers.at("ranks_per_node"), 2);
  EXPECT_EQ(record.integers.at("slurm_job_id"), 1234);
  EXPECT_EQ(record.integers.at("slurm_array_task_id"), 3);
  EXPECT_FALSE(record.text.count("devices"));  // one model: `device` says it
  RunRecord global;
  add_placement(global, placement, 1);
  EXPECT_EQ(global.text.at("hosts"), "gpu01");
  EXPECT_EQ(global.integers.at("node_count"), 1);
}

}  // namespace
}  // namespace sb
