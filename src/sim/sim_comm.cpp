#include "sim/sim_comm.h"

#include <map>
#include <string>

#include <fmt/format.h>

#include "util/error.h"

namespace sb::sim {
namespace sg4 = simgrid::s4u;

namespace {

sg4::Mailbox* mailbox(const char* kind, int from, int to) {
  return sg4::Mailbox::by_name(fmt::format("{}:{}->{}", kind, from, to));
}

// Ring peers are few and fixed: their mailboxes are looked up once per rank.
sg4::Mailbox* cached(std::map<std::pair<int, int>, sg4::Mailbox*>& cache, int from, int to) {
  auto [slot, fresh] = cache.try_emplace({from, to}, nullptr);
  if (fresh) slot->second = mailbox("p2p", from, to);
  return slot->second;
}

bool in_flight(const sg4::CommPtr& transfer) {
  return transfer && transfer->get_state() != sg4::Activity::State::FINISHED;
}

}  // namespace

SimComm::SimComm(World& world, std::vector<int> members, int rank, SimBackend& backend)
    : world_(world), members_(std::move(members)), rank_(rank), backend_(backend) {
  SB_REQUIRE(0 <= rank_ && rank_ < int(members_.size()), "sim comm: rank {} outside its group of {}", rank_,
             members_.size());
  // Groups partition the world, so their first two members name them.
  group_key_ = uint64_t(members_.front()) * uint64_t(world_.ranks() + 1) +
               uint64_t(members_.size() > 1 ? members_[1] + 1 : 0);
  // The backend's compute slows while a transfer between hosts is in flight;
  // the comm between hosts is the first one a rank builds (make_host_comms).
  if (!backend_.has_transfer_probe()) {
    backend_.set_transfer_probe([this] { return transfers_in_flight(); });
    owns_probe_ = true;
  }
}

SimComm::~SimComm() {
  if (owns_probe_) backend_.set_transfer_probe(nullptr);
}

std::vector<sg4::ActivityPtr> SimComm::transfers_in_flight() {
  std::vector<sg4::ActivityPtr> running;
  for (const sg4::CommPtr& transfer : ring_pending_) {
    if (in_flight(transfer)) running.push_back(transfer);
  }
  for (const sg4::CommPtr& transfer : all_gathers_pending_) {
    if (in_flight(transfer)) running.push_back(transfer);
  }
  for (const auto& key : broadcasts_pending_) {
    auto found = world_.hops.find(key);
    if (found != world_.hops.end() && in_flight(found->second.transfer)) running.push_back(found->second.transfer);
  }
  return running;
}

void SimComm::ring_start(const Tensor& send, int dst, Tensor& recv, int src) {
  SB_REQUIRE(0 <= dst && dst < size() && 0 <= src && src < size(), "sim ring_start: peer {} / {} outside [0, {})",
             dst, src, size());
  backend_.flush();  // the transfer starts after the compute issued before it
  if (send.nbytes() > 0) {
    ring_pending_.push_back(cached(ring_mailboxes_, world_rank(rank_), world_rank(dst))
                                ->put_async(this, payload(double(send.nbytes()))));
  }
  if (recv.nbytes() > 0) {
    ring_pending_.push_back(cached(ring_mailboxes_, world_rank(src), world_rank(rank_))->get_async<char>(&received_));
  }
  bytes_sent_ += send.nbytes();
}

void SimComm::ring_wait() {
  backend_.flush();
  for (sg4::CommPtr& transfer : ring_pending_) transfer->wait();
  ring_pending_.clear();
}

void SimComm::start_hop(int receiver, BroadcastHop& hop) {
  const int from = (receiver - 1 + size()) % size();  // the ring from the root: root, root+1, ...
  hop.transfer = sg4::Comm::sendto_async(host(from), host(receiver), uint64_t(payload(hop.bytes)) + 1);
  world_.hop_ready->notify_all();
}

void SimComm::broadcast_start(Tensor& buffer, int root) {
  SB_REQUIRE(0 <= root && root < size(), "sim broadcast: root {} outside [0, {})", root, size());
  // Keyed by group and sequence: a world rank is in two groups (between and inside hosts).
  const uint64_t sequence = (group_key_ << 32) | broadcast_sequence_++;
  if (size() == 1 || buffer.nbytes() == 0) return;
  backend_.flush();
  const double bytes = double(buffer.nbytes());
  std::unique_lock<sg4::Mutex> lock(*world_.mutex);
  if (rank_ == root) {
    for (int receiver = 0; receiver < size(); ++receiver) {
      if (receiver == root) continue;
      BroadcastHop& hop = world_.hops[{sequence, receiver}];
      hop.root_posted = true;
      hop.bytes = bytes;
      hop.waiters = receiver == (root + 1) % size() ? 2 : 1;
      if (hop.receiver_posted) start_hop(receiver, hop);
    }
    bytes_sent_ += buffer.nbytes() * uint64_t(size() - 1);
    broadcasts_pending_.emplace_back(sequence, (root + 1) % size());  // the root's own send
  } else {
    BroadcastHop& hop = world_.hops[{sequence, rank_}];
    hop.receiver_posted = true;
    hop.bytes = bytes;
    if (hop.root_posted) start_hop(rank_, hop);
    broadcasts_pending_.emplace_back(sequence, rank_);
  }
}

void SimComm::broadcast_wait() {
  backend_.flush();
  for (const auto& key : broadcasts_pending_) {
    sg4::CommPtr transfer;
    {
      std::unique_lock<sg4::Mutex> lock(*world_.mutex);
      while (!world_.hops[key].transfer) world_.hop_ready->wait(lock);
      transfer = world_.hops[key].transfer;
    }
    transfer->wait();
  }
  // A hop is awaited by its receiver and, for the root's successor, by the
  // root too: whoever finds it finished and awaited by both drops it.
  std::unique_lock<sg4::Mutex> lock(*world_.mutex);
  for (const auto& key : broadcasts_pending_) {
    auto found = world_.hops.find(key);
    if (found != world_.hops.end() && ++found->second.waiters_done >= found->second.waiters) world_.hops.erase(found);
  }
  broadcasts_pending_.clear();
}

void SimComm::broadcast(Tensor& buffer, int root) {
  broadcast_start(buffer, root);
  broadcast_wait();
  if (size() > 1 && world_.profile.has_comm) sg4::this_actor::sleep_for(world_.profile.broadcast.latency_s);
}

void SimComm::gather(const Tensor& send, Tensor& recv, int root) {
  SB_REQUIRE(0 <= root && root < size(), "sim gather: root {} outside [0, {})", root, size());
  if (rank_ == root) {
    SB_REQUIRE(recv.nbytes() == send.nbytes() * size_t(size()), "sim gather: recv {} must hold {} x {}",
               recv.describe(), size(), send.describe());
  }
  if (send.nbytes() == 0 || size() == 1) return;
  backend_.flush();
  if (rank_ != root) {
    mailbox("gather", world_rank(rank_), world_rank(root))->put(this, uint64_t(payload(double(send.nbytes()))));
    bytes_sent_ += send.nbytes();
  } else {
    std::vector<sg4::CommPtr> receives;
    for (int peer = 0; peer < size(); ++peer) {
      if (peer != root) {
        receives.push_back(mailbox("gather", world_rank(peer), world_rank(root))->get_async<char>(&received_));
      }
    }
    for (sg4::CommPtr& receive : receives) receive->wait();
  }
  if (world_.profile.has_comm) sg4::this_actor::sleep_for(world_.profile.p2p.latency_s);
}

void SimComm::all_gather_start(const Tensor& send, Tensor& recv) {
  SB_REQUIRE(recv.nbytes() == send.nbytes() * size_t(size()), "sim all_gather: recv {} is not {} blocks of send {}",
             recv.describe(), size(), send.describe());
  if (size() == 1 || send.nbytes() == 0) return;
  backend_.flush();  // the transfer starts after the compute issued before it
  const int n = size();
  const double bytes = double(send.nbytes()) * double(n - 1);
  // Mailboxes of this group's all-gathers: a world rank is in two groups.
  const std::string kind = fmt::format("allgather{}", group_key_);
  all_gathers_pending_.push_back(mailbox(kind.c_str(), world_rank(rank_), world_rank((rank_ + 1) % n))
                                     ->put_async(this, uint64_t(payload(bytes)) + 1));
  all_gathers_pending_.push_back(
      mailbox(kind.c_str(), world_rank((rank_ - 1 + n) % n), world_rank(rank_))->get_async<char>(&received_));
  bytes_sent_ += uint64_t(bytes);
}

// No per-call latency on top, like broadcast_wait: the call overlaps compute.
void SimComm::all_gather_wait() {
  backend_.flush();
  for (sg4::CommPtr& transfer : all_gathers_pending_) transfer->wait();
  all_gathers_pending_.clear();
}

void SimComm::all_reduce_sum(Tensor& buffer) {
  if (size() == 1 || buffer.nbytes() == 0) return;
  backend_.flush();
  const int n = size();
  const double bytes = double(buffer.nbytes()) * 2.0 * double(n - 1) / double(n);
  // With a measured all-reduce (two GPUs: bytes moved = the buffer), the link
  // carries what makes its time the measured one: bytes x (p2p rate / all-reduce rate).
  const WorldProfileScale scale = all_reduce_scale();
  sg4::CommPtr send = mailbox("allreduce", world_rank(rank_), world_rank((rank_ + 1) % n))
                          ->put_async(this, uint64_t(payload(bytes) * scale.payload) + 1);
  sg4::CommPtr receive = mailbox("allreduce", world_rank((rank_ - 1 + n) % n), world_rank(rank_))
                             ->get_async<char>(&received_);
  send->wait();
  receive->wait();
  bytes_sent_ += uint64_t(bytes);
  if (world_.profile.has_comm) sg4::this_actor::sleep_for(scale.latency_s);
}

SimComm::WorldProfileScale SimComm::all_reduce_scale() const {
  const HardwareProfile& profile = world_.profile;
  if (!profile.has_comm) return {1.0, 0.0};
  if (!profile.has_all_reduce) return {1.0, profile.p2p.latency_s};  // profiles from before: a p2p exchange
  return {profile.p2p.bytes_per_s / profile.all_reduce.bytes_per_s, profile.all_reduce.latency_s};
}

}  // namespace sb::sim
