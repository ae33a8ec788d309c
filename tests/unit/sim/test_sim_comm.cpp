// SimComm::all_gather (APB's passing blocks) on the DGX H200 platform: a ring
// all-gather, so each rank's link carries (n - 1) blocks (4 ranks take three
// times as long as 2 for one block size), bytes_sent counts them, and the
// transfer overlaps compute issued between start and wait.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>

#include "costmodel/hardware_profile.h"
#include "sim/sim_backend.h"
#include "sim/sim_comm.h"
#include "sim/sim_world.h"

namespace sb::sim {
namespace {
namespace sg4 = simgrid::s4u;

struct Timings {
  double four = 0, two = 0, overlapped = 0, compute = 0;
  uint64_t bytes_four = 0, bytes_two = 0;
};

TEST(SimComm, AllGatherIsARingOfNMinusOneBlocksThatOverlapsCompute) {
  std::vector<std::string> arguments = {"test_sim", "--cfg=network/model:CM02", "--cfg=network/crosstraffic:0",
                                        "--log=root.thres:critical"};
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  int argc = int(argv.size());
  sg4::Engine engine(&argc, argv.data());
  engine.load_platform(std::string(STARBENCH_SOURCE_DIR) + "/configs/platforms/dgx-h200.xml");
  const HardwareProfile profile = load_hardware_profile(std::string(STARBENCH_SOURCE_DIR) + "/configs/hardware/h200.json");
  const int ranks = 4;
  std::vector<sg4::Host*> hosts;
  for (int r = 0; r < ranks; ++r) hosts.push_back(engine.host_by_name("node0-gpu" + std::to_string(r)));
  World world(hosts, 8, profile, 1.0);
  std::vector<Timings> timings(ranks);
  const int64_t rows = 8192, heads = 8, d = 128;  // 16 MiB of bf16 per block

  for (int rank = 0; rank < ranks; ++rank) {
    sg4::Actor::create("rank" + std::to_string(rank), hosts[size_t(rank)], [&, rank] {
      SimBackend backend(profile, {});
      SimComm all(world, {0, 1, 2, 3}, rank, backend);
      std::optional<SimComm> pair;
      if (rank < 2) pair.emplace(world, std::vector<int>{0, 1}, rank, backend);
      Tensor send = backend.empty(DType::BF16, {rows, heads, d});
      Tensor recv4 = backend.empty(DType::BF16, {4 * rows, heads, d}), recv2 = backend.empty(DType::BF16, {2 * rows, heads, d});
      Tensor work = backend.empty(DType::BF16, {1 << 28});  // about as long to silu as the 4-rank all-gather
      Timings& mine = timings[size_t(rank)];

      double start = sg4::Engine::get_clock();
      all.all_gather(send, recv4);
      mine.four = sg4::Engine::get_clock() - start;
      mine.bytes_four = all.bytes_sent();
      world.barrier->wait();

      if (pair) {
        start = sg4::Engine::get_clock();
        pair->all_gather(send, recv2);
        mine.two = sg4::Engine::get_clock() - start;
        mine.bytes_two = pair->bytes_sent();
      }
      world.barrier->wait();

      start = sg4::Engine::get_clock();
      backend.silu(work);
      backend.synchronize();
      mine.compute = sg4::Engine::get_clock() - start;
      world.barrier->wait();

      start = sg4::Engine::get_clock();
      all.all_gather_start(send, recv4);
      backend.silu(work);
      all.all_gather_wait();
      mine.overlapped = sg4::Engine::get_clock() - start;
    });
  }
  engine.run();

  const uint64_t block = uint64_t(rows * heads * d * 2);
  for (int rank = 0; rank < ranks; ++rank) {
    SCOPED_TRACE(testing::Message() << "rank " << rank);
    const Timings& t = timings[size_t(rank)];
    EXPECT_EQ(t.bytes_four, 3 * block);
    EXPECT_GT(t.four, 0.0);
    if (rank < 2) {
      EXPECT_EQ(t.bytes_two, block);
      EXPECT_NEAR(t.four / t.two, 3.0, 0.3) << t.four << " s vs " << t.two << " s";
    }
    // Overlapped: well under the sum (compute slows by the profile's factor while the transfer runs).
    EXPECT_GE(t.overlapped, std::max(t.four, t.compute) * 0.99);
    EXPECT_LT(t.overlapped, t.four + t.compute - 0.25 * std::min(t.four, t.compute))
        << "all-gather " << t.four << " s, compute " << t.compute << " s, both " << t.overlapped << " s";
  }
}

}  // namespace
}  // namespace sb::sim
