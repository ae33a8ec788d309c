#include "sim/simulation.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include <fmt/format.h>
#include <simgrid/s4u.hpp>

#include "backend/backend_factory.h"
#include "comm/comm_factory.h"
#include "sim/sim_backend.h"
#include "sim/sim_comm.h"
#include "sim/sim_world.h"
#include "util/error.h"
#include "util/file_digest.h"

namespace sb::sim {
namespace sg4 = simgrid::s4u;
namespace fs = std::filesystem;

// --- control plane -------------------------------------------------------------

World::World(std::vector<sg4::Host*> hosts_, int gpus_per_node_, const HardwareProfile& profile_,
             double transfer_efficiency_)
    : hosts(std::move(hosts_)),
      gpus_per_node(gpus_per_node_),
      profile(profile_),
      transfer_efficiency(transfer_efficiency_),
      barrier(sg4::Barrier::create(unsigned(hosts.size()))),
      slots(hosts.size()),
      mutex(sg4::Mutex::create()),
      hop_ready(sg4::ConditionVariable::create()) {}

int ActorControl::size() const { return world_.ranks(); }
int ActorControl::local_rank() const { return rank_ % world_.gpus_per_node; }
std::string ActorControl::host_name() const { return fmt::format("node{}", rank_ / world_.gpus_per_node); }
void ActorControl::barrier() { world_.barrier->wait(); }

std::vector<std::string> ActorControl::all_gather(const std::string& bytes) {
  world_.slots[size_t(rank_)] = bytes;
  world_.barrier->wait();
  std::vector<std::string> all = world_.slots;
  world_.barrier->wait();  // nobody overwrites a slot before everyone has read it
  return all;
}

namespace {

// What an actor carries: its rank's control plane.
struct ActorState {
  ActorControl control;
  SimBackend* backend = nullptr;
};

ControlPlane* current_plane() {
  sg4::Actor* self = sg4::Actor::self();
  if (self == nullptr) return nullptr;
  auto* state = self->get_data<ActorState>();
  return state ? &state->control : nullptr;
}

// The platform's hosts are "node<n>-gpu<g>"; rank r runs on node r / G, GPU r % G.
std::vector<sg4::Host*> rank_hosts(const sg4::Engine& engine, const std::string& platform, int ranks,
                                   int gpus_per_node) {
  std::regex name("node([0-9]+)-gpu([0-9]+)");
  int64_t nodes = 0, gpus = 0;
  for (sg4::Host* host : engine.get_all_hosts()) {
    std::smatch match;
    const std::string host_name = host->get_name();
    if (std::regex_match(host_name, match, name)) {
      nodes = std::max<int64_t>(nodes, std::stoll(match[1]) + 1);
      ++gpus;
    }
  }
  SB_REQUIRE(gpus > 0, "platform {}: no host is named node<n>-gpu<g> (one host per GPU)", platform);
  const int64_t nodes_needed = (int64_t(ranks) + gpus_per_node - 1) / gpus_per_node;
  std::vector<sg4::Host*> hosts;
  for (int rank = 0; rank < ranks; ++rank) {
    const std::string host_name = fmt::format("node{}-gpu{}", rank / gpus_per_node, rank % gpus_per_node);
    sg4::Host* host = engine.host_by_name_or_null(host_name);
    SB_REQUIRE(host != nullptr,
               "platform {} has {} node(s) and {} GPU host(s); --ranks {} at {} GPU(s) per node needs {} node(s) "
               "(host {} is missing)",
               platform, nodes, gpus, ranks, gpus_per_node, nodes_needed, host_name);
    SB_REQUIRE(host->get_speed() > 0, "platform {}: host {} has speed 0", platform, host_name);
    hosts.push_back(host);
  }
  return hosts;
}

// The bandwidth of the platform's route between two GPUs of one node (or of
// two nodes when a node has one GPU): what NCCL's measured rate is a fraction of.
double route_bandwidth(sg4::Host* from, sg4::Host* to) {
  std::vector<sg4::Link*> links;
  double latency = 0;
  from->route_to(to, links, &latency);
  double bandwidth = 1e300;
  for (sg4::Link* link : links) bandwidth = std::min(bandwidth, link->get_bandwidth());
  return links.empty() ? 0.0 : bandwidth;
}

std::string resolve_hardware(const std::string& given, const std::string& platform, const sg4::Engine& engine) {
  if (!given.empty()) return given;
  const char* property = engine.get_netzone_root()->get_property("hardware");
  SB_REQUIRE(property != nullptr,
             "platform {} names no default hardware profile (<prop id=\"hardware\" .../> in its root zone): give "
             "--hardware FILE",
             platform);
  const fs::path path = fs::path(platform).parent_path() / property;
  return path.lexically_normal().string();
}

int platform_gpus_per_node(int given, const std::string& platform, const sg4::Engine& engine) {
  const char* property = engine.get_netzone_root()->get_property("gpus_per_node");
  if (property == nullptr) {
    SB_REQUIRE(given > 0, "platform {} leaves the GPUs per node open: give --gpus-per-node N", platform);
    return given;
  }
  // The whole value must be the number: atoi would read "8x" as 8.
  char* end = nullptr;
  errno = 0;
  const long parsed = std::strtol(property, &end, 10);
  const bool whole = end != property && *end == '\0' && errno == 0 && parsed > 0 && parsed <= 1 << 20;
  SB_REQUIRE(whole, "platform {}: property gpus_per_node '{}' is not a positive whole number", platform, property);
  const int in_file = int(parsed);
  SB_REQUIRE(given == 0 || given == in_file, "platform {} has {} GPUs per node; --gpus-per-node {} contradicts it",
             platform, in_file, given);
  return in_file;
}

// SimGrid accepts a bandwidth of 0 or below and ignores it (a cluster's
// backbone with bb_bw <= 0 is silently left out): every bandwidth attribute of
// the file must be a positive number, named by its line.
void check_platform_bandwidths(const std::string& platform) {
  std::ifstream in(platform);
  const std::regex attribute(R"re(\b(bandwidth|bw|bb_bw)\s*=\s*"([^"]*)")re");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    for (std::sregex_iterator match(line.begin(), line.end(), attribute), end; match != end; ++match) {
      const std::string value = (*match)[2];
      char* rest = nullptr;
      const double amount = std::strtod(value.c_str(), &rest);
      SB_REQUIRE(rest != value.c_str() && amount > 0 && std::isfinite(amount),
                 "platform {}:{}: {}=\"{}\" is not a positive bandwidth", platform, number, (*match)[1].str(), value);
    }
  }
}

// What the platform file leaves to SimGrid's defaults is checked on the links it made.
void check_links(const sg4::Engine& engine, const std::string& platform) {
  for (const sg4::Link* link : engine.get_all_links()) {
    SB_REQUIRE(link->get_bandwidth() > 0 && std::isfinite(link->get_bandwidth()),
               "platform {}: link '{}' has bandwidth {} B/s: a link's bandwidth must be a positive number", platform,
               link->get_name(), link->get_bandwidth());
    SB_REQUIRE(link->get_latency() >= 0 && std::isfinite(link->get_latency()),
               "platform {}: link '{}' has latency {} s: a link's latency must be >= 0", platform, link->get_name(),
               link->get_latency());
  }
}

}  // namespace

int run_simulation(const SimulationSettings& settings, const std::string& program_name) {
  SB_REQUIRE(settings.ranks >= 1, "--ranks {} is not a number of simulated GPUs (>= 1)", settings.ranks);
  SB_REQUIRE(!settings.platform.empty(), "--platform FILE is required (a SimGrid platform, configs/platforms/)");
  SB_REQUIRE(fs::exists(settings.platform), "platform file {} does not exist", settings.platform);
  SB_REQUIRE(settings.sweep.tasks.empty(),
             "simulate predicts times, bytes and memory; accuracy runs (--task) need real weights on `run`");

  // SimGrid's engine takes its settings as command-line style arguments.
  std::vector<std::string> arguments = {program_name, "--cfg=network/model:CM02", "--cfg=network/crosstraffic:0"};
  if (!std::getenv("STARBENCH_SIM_VERBOSE")) arguments.push_back("--log=root.thres:critical");
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  int argc = int(argv.size());
  static std::optional<sg4::Engine> engine_storage;  // SimGrid allows one engine per process
  SB_REQUIRE(!engine_storage, "one simulation per process");
  engine_storage.emplace(&argc, argv.data());
  sg4::Engine& engine = *engine_storage;
  try {
    engine.load_platform(settings.platform);
  } catch (const std::exception& error) {
    fail("platform {}: {}", settings.platform, error.what());
  }
  check_platform_bandwidths(settings.platform);
  check_links(engine, settings.platform);
  const int gpus_per_node = platform_gpus_per_node(settings.gpus_per_node, settings.platform, engine);
  const std::string hardware_path = resolve_hardware(settings.hardware, settings.platform, engine);
  const HardwareProfile profile = load_hardware_profile(hardware_path);
  std::vector<sg4::Host*> hosts = rank_hosts(engine, settings.platform, settings.ranks, gpus_per_node);

  // NCCL's share of a link: measured p2p bandwidth over this platform's route
  // between two GPUs of a node (the pair calibrate measured).
  double efficiency = 1.0;
  sg4::Host* first = engine.host_by_name_or_null("node0-gpu0");
  sg4::Host* second = engine.host_by_name_or_null(gpus_per_node > 1 ? "node0-gpu1" : "node1-gpu0");
  if (profile.has_comm && first && second) {
    const double link = route_bandwidth(first, second);
    if (link > 0) efficiency = std::min(1.0, profile.p2p.bytes_per_s / link);
  } else if (!profile.has_comm && settings.ranks > 1) {
    fmt::print(stderr, "starbench simulate: {} has no communication measurements; transfers use the platform's "
                       "link bandwidths as they are\n", hardware_path);
  }

  World world(hosts, gpus_per_node, profile, efficiency);
  const std::vector<std::pair<std::string, std::string>> provenance = {
      {"platform", fs::path(settings.platform).filename().string()},
      {"hardware", fs::path(hardware_path).filename().string()},
      {"hardware_date", profile.date},
      {"gpus_per_node", std::to_string(gpus_per_node)}};
  // The runs' identity covers the files' content, not only their names (docs/HDF5_SCHEMA.md).
  const std::vector<std::pair<std::string, std::string>> input_digests = {
      {"platform_digest", file_sha256(settings.platform)}, {"profile_digest", file_sha256(hardware_path)}};

  register_backend("sim", [&](int) -> std::unique_ptr<Backend> {
    auto backend = std::make_unique<SimBackend>(world.profile, provenance, input_digests);
    sg4::Actor::self()->get_data<ActorState>()->backend = backend.get();
    return backend;
  });
  register_comm("sim", [&](Backend& backend, const std::vector<int>& members) -> std::unique_ptr<Comm> {
    auto* sim_backend = dynamic_cast<SimBackend*>(&backend);
    SB_REQUIRE(sim_backend != nullptr, "the simulator's comm needs its backend, got {}", backend.name());
    const int rank = int(std::find(members.begin(), members.end(), current_plane()->rank()) - members.begin());
    return std::make_unique<SimComm>(world, members, rank, *sim_backend);
  });
  Control::set_plane_lookup(current_plane);

  SweepSettings sweep = settings.sweep;
  sweep.backend = "sim";
  std::vector<std::unique_ptr<ActorState>> states;
  std::string collective_error, rank_error;
  int executed = 0;
  for (int rank = 0; rank < settings.ranks; ++rank) {
    states.push_back(std::make_unique<ActorState>(ActorState{ActorControl(world, rank)}));
    sg4::ActorPtr actor = sg4::Actor::init(fmt::format("rank{}", rank), hosts[size_t(rank)]);
    actor->set_data(states.back().get());
    actor->start([&, rank] {
      try {
        const int runs = run_sweep(sweep);
        if (rank == 0) executed = runs;
      } catch (const CollectiveError& error) {
        if (rank == 0) collective_error = error.what();
      } catch (const std::exception& error) {
        // One rank alone: a real job would MPI_Abort; end the simulation.
        if (rank_error.empty()) rank_error = fmt::format("rank {}: {}", rank, error.what());
        sg4::Actor::kill_all();
      }
    });
  }
  try {
    engine.run();
  } catch (...) {
    Control::set_plane_lookup(nullptr);
    register_backend("sim", nullptr);
    register_comm("sim", nullptr);
    throw;
  }
  Control::set_plane_lookup(nullptr);
  register_backend("sim", nullptr);
  register_comm("sim", nullptr);
  if (!rank_error.empty()) throw Error(rank_error);
  if (!collective_error.empty()) throw CollectiveError(collective_error);
  return executed;
}

}  // namespace sb::sim
