// starbench calibrate: times the operations the methods issue on this machine's
// GPU (and NCCL between two of them) and writes the hardware profile that
// `starbench simulate` charges them from.
#include "cli/commands.h"
#include "experiment/calibrate.h"

namespace sb {

void add_calibrate_command(CLI::App& app) {
  auto settings = std::make_shared<CalibrationSettings>();
  CLI::App* calibrate = app.add_subcommand(
      "calibrate",
      "Time GEMMs, attention, element-wise ops and NCCL (under mpiexec -n 2) -> configs/hardware/<gpu>.json");
  calibrate->add_option("--backend", settings->backend, "auto | cpu | cuda")->capture_default_str();
  calibrate->add_option("--model-preset", settings->presets,
                        "Models whose weight shapes are timed (the first one's heads shape the attention grid)")
      ->delimiter(',')
      ->capture_default_str();
  calibrate->add_option("--output,-o", settings->output, "Profile file (default configs/hardware/<gpu>.json)");
  calibrate->add_flag("--quick", settings->quick, "A small grid (seconds; for tests)");
  calibrate->callback([settings] { run_calibration(*settings); });
}

}  // namespace sb
