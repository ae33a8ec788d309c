// starbench: Llama-3 long-context forward passes with global, ring and star
// attention over MPI ranks; timing and fidelity to HDF5.
#include <mpi.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <fmt/core.h>

#include "cli/commands.h"
#include "util/error.h"
#include "util/version.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int exit_code = 0;
  {
    CLI::App app{"starbench: Star, Ring and global attention for Llama-3 over long contexts"};
    app.set_version_flag("--version", std::string(STARBENCH_VERSION) + " (" + STARBENCH_GIT_COMMIT + ")");
    app.require_subcommand(1);
    sb::add_run_command(app);
    sb::add_forward_command(app);
    sb::add_tokenize_command(app);
    sb::add_inspect_command(app);
    sb::add_calibrate_command(app);
    sb::add_simulate_command(app);
    sb::add_tasks_command(app);
    // A --config file's keys belong to the subcommand on the command line.
    for (int i = 1; i < argc; ++i) {
      if (std::string(argv[i]) == "run" || std::string(argv[i]) == "simulate") {
        sb::config_subcommand() = argv[i];
        break;
      }
    }
    try {
      app.parse(argc, argv);  // the chosen subcommand runs in its callback
    } catch (const CLI::ParseError& error) {
      // Every rank parsed the same arguments; rank 0 alone speaks.
      std::ofstream discard;
      exit_code = rank == 0 ? app.exit(error) : app.exit(error, discard, discard);
    } catch (const sb::CollectiveError& error) {
      if (rank == 0) fmt::print(stderr, "starbench: error: {}\n", error.what());
      exit_code = 1;
    } catch (const std::exception& error) {
      // Raised on this rank alone: the others may be waiting on it, so end the job.
      fmt::print(stderr, "starbench: rank {}: error: {}\n", rank, error.what());
      std::fflush(stderr);
      if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
      exit_code = 1;
    }
  }
  MPI_Finalize();
  return exit_code;
}
