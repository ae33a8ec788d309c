#pragma once
// `starbench simulate`: the sweep of `starbench run`, executed by the same code
// (sweep, runner, methods, model) on a simulated cluster. Every rank is a
// SimGrid actor on one GPU host of a SimGrid platform; the backend charges each
// operation its time from a hardware profile (`starbench calibrate`), the comm
// moves bytes over the platform's links, and the control plane (barriers,
// agreement on errors, gathers of timings) runs between the actors. Results go
// to the same HDF5 schema, marked simulated = 1 with their platform and profile.
#include <string>

#include "experiment/sweep.h"

namespace sb::sim {

struct SimulationSettings {
  SweepSettings sweep;      // backend is forced to "sim"
  int ranks = 0;            // simulated ranks (one per GPU)
  std::string platform;     // SimGrid platform file (configs/platforms/*.xml)
  std::string hardware;     // hardware profile; default: the platform's "hardware" property
  int gpus_per_node = 0;    // where the platform leaves it open
};

// Runs the simulated sweep; returns the number of runs executed. Errors (bad
// platform or profile, a refused setting) are sb::Error / CollectiveError
// with the message a real run would give.
int run_simulation(const SimulationSettings& settings, const std::string& program_name);

}  // namespace sb::sim
