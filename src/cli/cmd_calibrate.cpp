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
      "Time GEMMs, attention, element-wise ops and NCCL (under mpiexec -n 2) -> ~/.cache/starbench/hardware/<gpu>.json");
  calibrate->add_option("--backend", settings->backend, "auto | cpu | cuda")->capture_default_str();
  calibrate->add_option("--model-preset", settings->presets,
                        "Models whose weight shapes are timed (the first one's heads shape the attention grid; "
                        "default llama3.1-8b,llama3.1-70b, with --quick tiny)")
      ->delimiter(',');
  add_host_options(*calibrate, settings->hosts);
  calibrate->add_option("--output,-o", settings->output,
                        "Profile file (default $XDG_CACHE_HOME/starbench/hardware/<gpu>.json, ~/.cache without it; "
                        "configs/hardware/ only when named here)");
  calibrate->add_flag("--quick", settings->quick, "A small grid on the tiny model's shapes (seconds, on a CPU too; tests)");
  calibrate->add_option("--derive-from", settings->derive_from,
                        "Measure nothing: derive a profile for --gpu from this measured one by datasheet ratios");
  calibrate->add_option("--gpu", settings->derive_gpu, "With --derive-from: the GPU's name");
  calibrate->add_option("--memory-gib", settings->derive_memory_gib, "With --derive-from: its usable memory");
  calibrate->add_option("--compute-ratio", settings->derive_ratios.compute,
                        "With --derive-from: its dense bf16 peak / the measured GPU's");
  calibrate->add_option("--memory-ratio", settings->derive_ratios.memory,
                        "With --derive-from: its memory bandwidth / the measured GPU's");
  calibrate->add_option("--interconnect-ratio", settings->derive_ratios.interconnect,
                        "With --derive-from: its NVLink bandwidth / the measured GPU's");
  calibrate->add_option("--note", settings->derive_note, "With --derive-from: where the ratios come from");
  calibrate->callback([settings] { run_calibration(*settings); });
}

}  // namespace sb
