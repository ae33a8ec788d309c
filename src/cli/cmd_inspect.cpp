// starbench inspect: lists the runs a results file holds.
#include <fmt/core.h>

#include "cli/commands.h"
#include "experiment/record.h"
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
    // ranks: hosts x GPUs per host for hosts of several GPUs ("2x4"), with the split.
    fmt::print("{:<12} {:<7} {:<12} {:>8} {:>5} {:>7} {:>7} {:>7} {:>11} {:>10}\n", "run", "method", "kind", "seq_len",
               "ranks", "split", "block", "anchor", "context_ms", "query_ms");
    for (const std::string& id : ids) {
      RunRecord record = store.read(id);
      auto integer = [&](const char* key) { return record.integers.count(key) ? record.integers.at(key) : -1; };
      auto number = [&](const char* key) { return record.numbers.count(key) ? record.numbers.at(key) : 0.0; };
      const bool split = integer("gpus_per_host") > 1;
      fmt::print("{:<12} {:<7} {:<12} {:>8} {:>5} {:>7} {:>7} {:>7} {:>11.2f} {:>10.2f}\n", id, record.text["method"],
                 record.text["kind"], integer("seq_len"), ranks_label(record),
                 split ? record.text["host_split"] : std::string("-"), integer("block_size"), integer("anchor_size"),
                 number("context_ms"), number("query_ms"));
    }
  });
}

}  // namespace sb
