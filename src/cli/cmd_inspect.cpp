// starbench inspect: lists the runs a results file holds, with their identity;
// --verify checks every run's checksums; --run prints one run's attributes.
#include <optional>

#include <fmt/core.h>

#include "cli/commands.h"
#include "experiment/record.h"
#include "io/results_store.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

struct InspectArgs {
  std::string path;
  bool verify = false;
  std::string run;
};

void print_run(const ResultsStore& store, const std::string& id) {
  const RunRecord record = store.read(id);
  fmt::print("{} in {}\n", id, store.path());
  for (const auto& [key, value] : record.text) fmt::print("  {} = {}\n", key, value);
  for (const auto& [key, value] : record.integers) fmt::print("  {} = {}\n", key, value);
  for (const auto& [key, value] : record.numbers) fmt::print("  {} = {:.9g}\n", key, value);
  for (const RunRecord::Array& array : record.arrays) {
    std::string shape;
    for (int64_t dim : array.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(dim);
    fmt::print("  /{} [{}]\n", array.path, shape.empty() ? "scalar" : shape);
  }
}

void inspect(const InspectArgs& args) {
  ResultsStore store = ResultsStore::open_for_reading(args.path);
  if (!args.run.empty()) return print_run(store, args.run);
  std::vector<std::string> ids = store.run_ids();
  fmt::print("{} run(s) in {}\n", ids.size(), args.path);
  // The label names the ring layout and star's settings; ranks: hosts x GPUs per host for hosts of several GPUs
  // ("2x4") with the split; sim: 1 for a simulated run; the device it ran on.
  fmt::print("{:<12} {:<26} {:<12} {:>8} {:>5} {:>7} {:>7} {:>7} {:>11} {:>10} {:>3}  {:<12}  {}\n", "run", "label",
             "kind", "seq_len", "ranks", "split", "block", "anchor", "context_ms", "query_ms", "sim", "identity",
             "device");
  int damaged = 0;
  for (const std::string& id : ids) {
    // A checksum that does not match or a dataset that does not read; with
    // --verify also reference outputs that are not finite.
    std::optional<RunRecord> read;
    std::string problem;
    try {
      read = store.read(id);
      if (args.verify) problem = reference_outputs_problem(*read);
    } catch (const Error& error) {
      problem = error.what();
    }
    if (!problem.empty()) {
      ++damaged;
      fmt::print("{:<12} DAMAGED{}\n", id, args.verify ? ": " + problem : " (starbench inspect --verify says why)");
      continue;
    }
    RunRecord& record = *read;
    auto integer = [&](const char* key) { return record.integers.count(key) ? record.integers.at(key) : -1; };
    auto number = [&](const char* key) { return record.numbers.count(key) ? record.numbers.at(key) : 0.0; };
    const std::string identity = record.text.count("identity") ? record.text.at("identity").substr(0, 12) : "-";
    // Files written before the label: the method, and the ring's layout.
    std::string label = record.text.count("label") ? record.text["label"] : record.text["method"];
    if (!record.text.count("label") && record.text.count("ring_layout")) {
      label = fmt::format("{}({})", label, record.text["ring_layout"]);
    }
    const bool split = integer("gpus_per_host") > 1;
    fmt::print("{:<12} {:<26} {:<12} {:>8} {:>5} {:>7} {:>7} {:>7} {:>11.2f} {:>10.2f} {:>3}  {:<12}  {}\n", id, label,
               record.text["kind"], integer("seq_len"), ranks_label(record),
               split ? record.text["host_split"] : std::string("-"), integer("block_size"), integer("anchor_size"),
               number("context_ms"), number("query_ms"), integer("simulated") == 1 ? 1 : 0, identity,
               record.text["device"]);
  }
  if (args.verify) {
    fmt::print("{} run(s) verified: {} intact, {} damaged\n", ids.size(), ids.size() - size_t(damaged), damaged);
    if (damaged > 0) throw CLI::RuntimeError(1);
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* command = app.add_subcommand("inspect", "List the runs stored in a results file (identity, damage)");
  command->add_option("file", args->path, "HDF5 results file")->required();
  command->add_flag("--verify", args->verify,
                    "Check every run's checksums and reference outputs; name each damaged run and dataset, exit 1 "
                    "if any");
  command->add_option("--run", args->run, "Print one run's attributes (identity and its components) and datasets");
  command->callback([args] {
    if (Control::rank() != 0) return;
    inspect(*args);
  });
}

}  // namespace sb
