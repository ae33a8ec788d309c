#pragma once
// A sweep: the grid methods x context lengths x (star) block x anchor, run in
// order with global first at each length (the fidelity reference), appended to
// an HDF5 results file, skipping runs the file already holds (resume).
#include <cstdint>
#include <string>
#include <vector>

#include "attention/method_settings.h"
#include "experiment/run_spec.h"
#include "experiment/sweep_settings.h"
#include "util/duration.h"

namespace sb {



// The method settings of a sweep, in sweep order: global first (the fidelity
// reference of the others), each ring layout, star's grid (block rule x anchor
// x anchor source x anchor positions x anchor mode) with anchor modes resolved
// (auto -> the default for the ablation and the duo pattern) and repeats
// removed; block rules and anchors unresolved (anchor -1 = block). Throws
// sb::Error for an empty list, a bad anchor size or an anchor mode that cannot
// serve the ablation.
std::vector<MethodSettings> method_variants(const SweepSettings& settings);

// The runs of a timing sweep's grid, planned for `world_size` ranks, in
// execution order; throws sb::Error for a bad setting. A fixed star block size
// that leaves some rank without a block at one length is skipped at that
// length when it fits another length of the sweep (scaling studies list blocks
// up to the longest context); one that fits no length is an error. Star runs
// of one length that resolve to the same sizes run once. Their duo pattern is
// not set (it needs the model's shape: the sweep session sets it).
std::vector<RunSpec> expand_grid(const SweepSettings& settings, int world_size);

// Collective. Returns the number of runs executed (not counting skipped ones).
int run_sweep(const SweepSettings& settings);
// Collective: the task grid (tasks x lengths x samples x methods); called by
// run_sweep when settings.tasks or settings.task_file is not empty.
int run_task_sweep(const SweepSettings& settings);
// Answer tokens of a task file's samples when --task-generate is not given.
constexpr int64_t kTaskFileAnswerTokens = 32;

}  // namespace sb
