#pragma once
// A job's hosts (comm/host_layout.h) set up for a command: the layout checked
// against the world and the nodes, the rank's two communicators, and the model
// as this rank's GPU of its host runs it (its tensor shard).
#include <memory>

#include "comm/comm.h"
#include "comm/host_layout.h"
#include "engine/transformer.h"
#include "experiment/model_loader.h"

namespace sb {

// Collective: --gpus-per-host over this job's ranks; refuses (every rank, one
// message) a rank count that is not a multiple of G, a host whose ranks are on
// two nodes, and a model whose heads, MLP or layers do not split over G GPUs.
HostLayout resolve_host_layout(const HostOptions& options, const ModelConfig& config);

// This rank's communicators and model. Collective.
struct HostModel {
  HostComms comms;
  std::unique_ptr<Transformer> model;
};
HostModel load_host_model(const ModelChoice& choice, const ModelConfig& config, Backend& backend,
                          const HostLayout& layout);

// The most GPUs a host can have here (a node's GPUs: the simulated platform's,
// or the GPUs this process sees on cuda); 0 when unknown (cpu).
int max_gpus_per_host(const Backend& backend);

// Checks the layout against a model's config (sb::Error naming both): the
// tensor split's divisibility (engine/model_shard.h).
void check_host_split(const HostLayout& layout, const ModelConfig& config);

}  // namespace sb
