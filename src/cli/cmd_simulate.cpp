// starbench simulate: `run`'s sweep on a simulated cluster (SimGrid platform +
// hardware profile from `starbench calibrate`), written to the same HDF5 schema.
#include <fmt/core.h>

#include "cli/commands.h"
#include "util/error.h"
#ifdef STARBENCH_WITH_SIMGRID
#include "sim/simulation.h"
#endif

namespace sb {

void add_simulate_command(CLI::App& app) {
  const char* description =
      "Predict run's sweep on a cluster not at hand: SimGrid platform x calibrated GPU costs -> simulated.h5";
#ifdef STARBENCH_WITH_SIMGRID
  auto settings = std::make_shared<sim::SimulationSettings>();
  // Defaults that fit a simulation, set before the options show them: the
  // paper's model (not the 2-layer test model), one repeat and no warm-up
  // (a simulation is deterministic: repeats agree to the clock's rounding),
  // and a file of its own beside run's results.h5.
  settings->sweep.model.preset = "llama3.1-8b";
  settings->sweep.repeats = 1;
  settings->sweep.warmup = 0;
  settings->sweep.output = "simulated.h5";
  CLI::App* simulate = app.add_subcommand("simulate", description);
  simulate->fallthrough();  // --config belongs to the main app (see cmd_run.cpp)
  add_sweep_options(simulate, settings->sweep);
  simulate->add_option("--ranks", settings->ranks, "Simulated ranks, one per GPU")->required();
  simulate->add_option("--platform", settings->platform, "SimGrid platform file (configs/platforms/*.xml)")
      ->required();
  simulate->add_option("--hardware", settings->hardware,
                       "Hardware profile from `starbench calibrate` (default: the one the platform names)");
  simulate->add_option("--gpus-per-node", settings->gpus_per_node,
                       "GPUs per node, where the platform file leaves it open");
  simulate->callback([settings] { sim::run_simulation(*settings, "starbench"); });
#else
  CLI::App* simulate = app.add_subcommand("simulate", description);
  simulate->allow_extras();
  simulate->callback([] {
    fail("this starbench was built without SimGrid, so `simulate` is not available: install libsimgrid-dev "
         "(Debian/Ubuntu) and reconfigure with cmake");
  });
#endif
}

}  // namespace sb
