// starbench inspect: lists the runs a results file holds.
#include <fmt/core.h>

#include "cli/commands.h"
#include "io/results_store.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

void add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* inspect = app.add_subcommand("inspect", "List the runs stored in a results file");
  inspect->add_option("file", *path, "HDF5 results file")->required();
  inspect->callback([path] {
    if (Control::rank() != 0) return;
    ResultsStore store = ResultsStore::open_for_reading(*path);
    std::vector<std::string> ids = store.run_ids();
    fmt::print("{} run(s) in {}\n", ids.size(), *path);
    // The label names the ring layout and star's settings; sim: 1 for a simulated run; the device it ran on.
    fmt::print("{:<12} {:<26} {:<12} {:>8} {:>5} {:>7} {:>7} {:>11} {:>10} {:>3}  {}\n", "run", "label", "kind",
               "seq_len", "ranks", "block", "anchor", "context_ms", "query_ms", "sim", "device");
    for (const std::string& id : ids) {
      RunRecord record = store.read(id);
      auto integer = [&](const char* key) { return record.integers.count(key) ? record.integers.at(key) : -1; };
      auto number = [&](const char* key) { return record.numbers.count(key) ? record.numbers.at(key) : 0.0; };
      // Files written before the label: the method, and the ring's layout.
      std::string label = record.text.count("label") ? record.text["label"] : record.text["method"];
      if (!record.text.count("label") && record.text.count("ring_layout")) {
        label = fmt::format("{}({})", label, record.text["ring_layout"]);
      }
      fmt::print("{:<12} {:<26} {:<12} {:>8} {:>5} {:>7} {:>7} {:>11.2f} {:>10.2f} {:>3}  {}\n", id, label,
                 record.text["kind"], integer("seq_len"), integer("world_size"), integer("block_size"),
                 integer("anchor_size"), number("context_ms"), number("query_ms"),
                 integer("simulated") == 1 ? 1 : 0, record.text["device"]);
    }
  });
}

}  // namespace sb
