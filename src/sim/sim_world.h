#pragma once
// What the simulated ranks share: the hosts they run on, the hardware profile,
// the control plane (barriers and all-gathers between actors) and the
// rendezvous of broadcast transfers.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <simgrid/s4u.hpp>

#include "costmodel/hardware_profile.h"
#include "util/control.h"

namespace sb::sim {

struct World;

// One rank's view of the control plane: Control's calls in that actor go here.
class ActorControl : public ControlPlane {
 public:
  ActorControl(World& world, int rank) : world_(world), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override;
  int local_rank() const override;
  // The simulated node ("node<n>" of the platform's node<n>-gpu<g> hosts), so
  // that simulated runs record their hosts and node layout.
  std::string host_name() const override;
  void barrier() override;
  std::vector<std::string> all_gather(const std::string& bytes) override;

 private:
  World& world_;
  int rank_;
};

// One hop of a broadcast (the ring order NCCL uses: root, root+1, ...): the
// transfer from the receiver's predecessor starts once the root and the
// receiver have both posted the broadcast.
struct BroadcastHop {
  bool root_posted = false, receiver_posted = false;
  double bytes = 0;
  simgrid::s4u::CommPtr transfer;
  int waiters = 1, waiters_done = 0;  // the receiver, and the root for its successor's hop
};

struct World {
  World(std::vector<simgrid::s4u::Host*> hosts, int gpus_per_node, const HardwareProfile& profile,
        double transfer_efficiency);

  int ranks() const { return int(hosts.size()); }

  std::vector<simgrid::s4u::Host*> hosts;  // rank -> its GPU
  int gpus_per_node;
  const HardwareProfile& profile;
  // Fraction of a link's bandwidth NCCL reaches (measured p2p bandwidth over
  // the platform's intra-node route bandwidth); payloads are sized up by 1/it.
  double transfer_efficiency;

  // Control plane.
  simgrid::s4u::BarrierPtr barrier;
  std::vector<std::string> slots;

  // Broadcast rendezvous, keyed by (broadcast sequence number, receiver).
  simgrid::s4u::MutexPtr mutex;
  simgrid::s4u::ConditionVariablePtr hop_ready;
  std::map<std::pair<uint64_t, int>, BroadcastHop> hops;
};

}  // namespace sb::sim
