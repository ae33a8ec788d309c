#pragma once
// Each subcommand lives in its own file and registers itself on the app.
#include <CLI/CLI.hpp>

namespace sb {
struct DuoOptions;
// --duo-pattern, --duo-sink, --duo-recent, --duo-threshold, --duo-sparsity (run and forward).
void add_duo_options(CLI::App& command, DuoOptions& options);
void add_run_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
}  // namespace sb
