#pragma once
// Each subcommand lives in its own file and registers itself on the app.
#include <string>

#include <CLI/CLI.hpp>

#include "experiment/sweep.h"

namespace sb {
struct ApbOptions;
struct DuoOptions;
struct HostOptions;
// --gpus-per-host, --host-split (run, forward, simulate, calibrate).
void add_host_options(CLI::App& command, HostOptions& options);
// --duo-pattern, --duo-sink, --duo-recent, --duo-threshold, --duo-sparsity (run and forward).
void add_duo_options(CLI::App& command, DuoOptions& options);
// --apb-anchor, --apb-passing, --apb-query-in-anchor, --apb-compressor (run, forward, simulate).
void add_apb_options(CLI::App& command, ApbOptions& options);
// A parse-time check: an integer number of tokens >= 0 (duo_flags.cpp).
const CLI::Validator& non_negative_tokens();
void add_run_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_tasks_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_simulate_command(CLI::App& app);
// The flags of `run` (every one also a config key), shared by `simulate`.
void add_sweep_options(CLI::App* command, SweepSettings& settings);
// The subcommand a --config file's keys belong to (main.cpp sets it).
std::string& config_subcommand();
}  // namespace sb
