#pragma once
// A run's identity: a SHA-256 over its params_key (every method setting, the
// input seed, the backend, the device and node layout) and the digests of the
// inputs that are not settings: the model (config and weights), the tokenizer,
// word list and task data of accuracy runs, the library versions of the cuda
// backend, and a simulation's platform and hardware profile. Resume and
// `analysis merge` take a stored run for a new one only when the identities are
// equal, so a result never stands for another (docs/HDF5_SCHEMA.md, "Run
// identity"). The inputs' digests are taken once per sweep.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "experiment/placement.h"
#include "experiment/record.h"
#include "experiment/run_spec.h"
#include "io/results_store.h"

namespace sb {

class Backend;
struct ModelConfig;
struct SweepSettings;

// Digests of a sweep's inputs (rank 0 takes them; other ranks hold an empty set).
struct IdentityInputs {
  std::string model_digest, model_weights;  // sha256; how it was taken (weight_digest.h)
  int64_t weight_seed = -1;                 // synthetic weights; -1 for a checkpoint
  Placement placement;                      // library versions per rank (cuda: CUDA runtime, cuDNN, NCCL)
  int job_world_size = 1;
  std::vector<std::pair<std::string, std::string>> backend_inputs;  // Backend::input_digests()
  // Accuracy runs (--task).
  bool tasks = false;
  std::string tokenizer_digest;
  std::string words_path, words_digest;  // when a task of the sweep reads the word list
  std::string squad_digest, hotpot_digest;  // qa_1, qa_2
  std::string task_file_digest;             // --task-file (its runs' task is "file:<stem>")
  int64_t task_samples = 0;  // samples per task and length: a sample's depth depends on it
  bool chat_template = false;
};

// The tokenizer a task sweep loads: --tokenizer, else <model dir>/tokenizer.json ("" when neither).
std::string task_tokenizer_path(const SweepSettings& settings);

// Collective: rank 0 takes the digests (a file that cannot be read ends every
// rank with its name and reason; a word list or task file that cannot be read
// is recorded as unreadable, and the task generator then says why).
IdentityInputs identity_inputs(const SweepSettings& settings, const ModelConfig& config, const RunContext& context,
                               const Backend& backend);

// The components of one run's identity, in order (name, value): those that
// apply to it (duo heads for a duo pattern, task inputs for a task run, ...).
std::vector<std::pair<std::string, std::string>> identity_components(const RunSpec& spec,
                                                                     const IdentityInputs& inputs);
// The run's identity: SHA-256 (hex) over "starbench-identity/1", params_key and
// identity_components, one "name=value" line each.
std::string identity_of(const std::string& params_key, const RunSpec& spec, const IdentityInputs& inputs);
// A task summary's identity: SHA-256 (hex) over "starbench-summary-identity/1",
// its params_key and the identities of the samples it summarises, in order, one
// line each: a summary is reused only for the very samples it was computed from
// (samples measured anew, with another word list say, give a new summary).
std::string summary_identity(const std::string& params_key, const std::vector<std::string>& sample_identities);
// Writes `identity` and its components into a record as readable attributes
// (library_versions comes with the placement, add_placement).
void add_identity(RunRecord& record, const std::string& params_key, const RunSpec& spec,
                  const IdentityInputs& inputs);

// Resume's view of a results file, read once per sweep (rank 0): runs by
// identity, and older runs by params_key, which are never reused: runs written
// before identities (no `identity` attribute), and star runs written before
// keys named the block rule.
class ResumeIndex {
 public:
  explicit ResumeIndex(const ResultsStore& store);
  // The last stored run with this identity that reads back intact (checksums
  // verified, reference outputs finite), or none. A damaged one is passed over
  // with a line on stderr naming it and why (the run is measured again).
  // count_older: a run of this params_key without identity is counted as not
  // reused (older_runs_not_reused).
  std::optional<RunRecord> reusable(const std::string& identity, const std::string& params_key,
                                    bool count_older = true);
  // Older runs whose params_key a run of this sweep had: runs without identity,
  // and star runs keyed before keys named the block rule (their key read as
  // today's by star_key_with_block_rule).
  int older_runs_not_reused() const;
  // Prints how many older runs were not reused, if any, and why.
  void report() const;

 private:
  enum class Older { NoIdentity = 0, StarKeyWithoutRule = 1 };
  const ResultsStore& store_;
  std::map<std::string, std::vector<std::string>> by_identity_;
  std::map<std::string, std::vector<std::pair<std::string, Older>>> older_by_key_;  // params_key -> older runs
  std::array<std::vector<std::string>, 2> older_not_reused_;  // by Older
  std::vector<std::string> reported_damaged_;
};

}  // namespace sb
