#pragma once
// The simulator's Comm: transfers are SimGrid communications between the ranks'
// hosts, over the platform's links (NVLink inside a node, InfiniBand between
// nodes) with their contention. Point-to-point transfers rendezvous on
// mailboxes like NCCL send/recv pairs; a broadcast travels the ring of ranks
// from the root as concurrent hops (NCCL's pipelined ring with fine chunks);
// asynchronous operations overlap the rank's compute as NCCL's stream does.
#include <map>
#include <utility>
#include <vector>

#include <simgrid/s4u.hpp>

#include "comm/comm.h"
#include "sim/sim_backend.h"
#include "sim/sim_world.h"

namespace sb::sim {

class SimComm : public Comm {
 public:
  // Over the world ranks `members` (this actor is members[rank]).
  SimComm(World& world, std::vector<int> members, int rank, SimBackend& backend);
  ~SimComm() override;

  int rank() const override { return rank_; }
  int size() const override { return int(members_.size()); }

  void ring_start(const Tensor& send, int dst, Tensor& recv, int src) override;
  void ring_wait() override;
  void broadcast(Tensor& buffer, int root) override;
  void broadcast_start(Tensor& buffer, int root) override;
  void broadcast_wait() override;
  void gather(const Tensor& send, Tensor& recv, int root) override;
  // A ring all-gather (NCCL's): in n - 1 steps every rank forwards one block
  // of send.nbytes() to its successor, so each link carries (n - 1) blocks;
  // simulated as that one transfer to the successor, asynchronous like the
  // anchor broadcast (overlapping the rank's compute until the wait).
  void all_gather_start(const Tensor& send, Tensor& recv) override;
  void all_gather_wait() override;
  // A ring all-reduce: every rank sends 2 (n - 1) / n of the buffer to its
  // successor while receiving as much from its predecessor.
  void all_reduce_sum(Tensor& buffer) override;

 private:
  double payload(double bytes) const { return bytes / world_.transfer_efficiency; }
  // How the profile's all-reduce differs from its point-to-point transfer: the
  // payload factor and the per-call latency.
  struct WorldProfileScale {
    double payload = 1.0, latency_s = 0.0;
  };
  WorldProfileScale all_reduce_scale() const;
  std::vector<simgrid::s4u::ActivityPtr> transfers_in_flight();
  // Starts the transfer into `receiver` from its predecessor in the ring from the root.
  void start_hop(int receiver, BroadcastHop& hop);

  int world_rank(int rank) const { return members_[size_t(rank)]; }
  simgrid::s4u::Host* host(int rank) const { return world_.hosts[size_t(world_rank(rank))]; }

  World& world_;
  std::vector<int> members_;
  int rank_;
  uint64_t group_key_ = 0;
  bool owns_probe_ = false;  // tells this group's broadcasts from another's in World::hops
  SimBackend& backend_;
  std::vector<simgrid::s4u::CommPtr> ring_pending_;
  std::vector<simgrid::s4u::CommPtr> all_gathers_pending_;
  std::vector<std::pair<uint64_t, int>> broadcasts_pending_;  // (sequence, receiver) this rank waits for
  uint64_t broadcast_sequence_ = 0;
  char* received_ = nullptr;
  std::map<std::pair<int, int>, simgrid::s4u::Mailbox*> ring_mailboxes_;  // mailbox gets need a target; simulated payloads carry nothing
};

}  // namespace sb::sim
