// starbench forward: one forward pass on given tokens, logits to HDF5. This is
// how the numerics are checked from outside, so its flags stay stable.
#include <memory>

#include <fmt/core.h>

#include "attention/method.h"
#include "cli/commands.h"
#include "comm/comm.h"
#include "experiment/forward_pass.h"
#include "experiment/host_setup.h"
#include "experiment/model_loader.h"
#include "io/array_file.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

struct ForwardSettings {
  ModelChoice model;
  std::string backend = "auto";
  HostOptions hosts;
  std::vector<int64_t> tokens;
  int64_t context_len = 0;
  std::string method = "global";
  int64_t block_size = 0;
  int64_t anchor_size = -1;
  std::string anchor_source = "first", anchor_positions = "original";
  std::string anchor_mode = "auto", ring_layout = "zigzag";
  DuoOptions duo;
  int64_t generate = 0;
  std::string output = "forward.h5";
};

void run_forward(const ForwardSettings& settings) {
  const int64_t total = int64_t(settings.tokens.size());
  std::string problem;
  try {
    SB_REQUIRE(total > 0, "--tokens is empty");
    SB_REQUIRE(settings.context_len >= 0 && settings.context_len < total,
               "--context-len {} must be in [0, {}): the query (tokens after the context) must not be empty",
               settings.context_len, total);
    SB_REQUIRE(settings.generate >= 0, "--generate must be >= 0");
    SB_REQUIRE(runs_on_one_rank(settings.method) || settings.context_len > 0,
               "--method {} needs a context: --context-len 0 runs only with --method global or duo",
               settings.method);
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);

  ModelConfig config = resolve_model_config(settings.model);
  problem.clear();
  for (int64_t token : settings.tokens) {
    if (token < 0 || token >= config.vocab_size) {
      problem = fmt::format("token id {} is outside the vocabulary [0, {}) of {}", token, config.vocab_size,
                            config.name);
      break;
    }
  }
  Control::agree(problem.empty(), problem);
  const std::shared_ptr<const DuoPattern> duo = resolve_duo_pattern(settings.duo, config, {settings.method});
  const HostLayout layout = resolve_host_layout(settings.hosts, config);

  std::unique_ptr<Backend> backend = create_backend(settings.backend);
  HostModel host = load_host_model(settings.model, config, *backend, layout);
  Transformer* model = host.model.get();
  Comm* world = host.comms.between.get();  // the methods run between hosts
  const bool one_rank = runs_on_one_rank(settings.method);  // global or duo: host 0 alone
  std::unique_ptr<Comm> comm = one_rank ? make_local_comm(*backend) : nullptr;
  const bool participates = !one_rank || layout.host_of(Control::rank()) == 0;

  std::vector<int32_t> context(settings.tokens.begin(), settings.tokens.begin() + settings.context_len);
  std::vector<int32_t> query(settings.tokens.begin() + settings.context_len, settings.tokens.end());
  std::unique_ptr<AttentionMethod> method;
  problem.clear();
  try {
    if (participates) {
      method = make_method({settings.method, settings.block_size, settings.anchor_size, settings.anchor_source,
                            settings.anchor_positions, settings.anchor_mode, settings.ring_layout, duo},
                           *model,
                           one_rank ? *comm : *world, settings.context_len, int64_t(query.size()) + settings.generate);
    }
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);

  ForwardOutputs outputs;
  if (participates) outputs = run_forward_pass(*method, *model, context, query, settings.generate);
  problem.clear();
  if (Control::rank() == 0) {
    try {
      std::vector<NamedArray> arrays = {{"/logits", {int64_t(query.size()), config.vocab_size}, outputs.logits, {}}};
      if (settings.generate > 0) arrays.push_back({"/generated", {settings.generate}, {}, outputs.generated});
      write_array_file(settings.output, arrays);
    } catch (const Error& error) {
      problem = error.what();
    }
  }
  Control::agree(problem.empty(), problem);
}

}  // namespace

void add_forward_command(CLI::App& app) {
  auto settings = std::make_shared<ForwardSettings>();
  CLI::App* forward = app.add_subcommand("forward", "One forward pass on given tokens; logits of the query to HDF5");
  forward->add_option("--model", settings->model.model_dir, "HF Llama-3 checkpoint directory");
  forward->add_option("--model-preset", settings->model.preset, "Preset with synthetic weights (when no --model)")
      ->capture_default_str();
  forward->add_option("--weight-seed", settings->model.weight_seed, "Seed of the synthetic weights")
      ->capture_default_str();
  forward->add_option("--backend", settings->backend, "auto | cpu | cuda")->capture_default_str();
  add_host_options(*forward, settings->hosts);
  forward->add_option("--tokens", settings->tokens, "Token ids, comma-separated")->delimiter(',')->required();
  forward->add_option("--context-len", settings->context_len,
                      "Tokens [0, C) are the context, the rest the query (0: every position is a query)")
      ->capture_default_str();
  forward->add_option("--method", settings->method, "global | ring | star | duo")->capture_default_str();
  forward->add_option("--block-size", settings->block_size, "Star block size (0: context / ranks)")
      ->capture_default_str();
  forward->add_option("--anchor-size", settings->anchor_size, "Star anchor size (-1: the block size)")
      ->capture_default_str();
  forward->add_option("--anchor-source", settings->anchor_source, "Star ablation: first | previous")
      ->capture_default_str();
  forward->add_option("--anchor-positions", settings->anchor_positions, "Star ablation: original | adjacent")
      ->capture_default_str();
  forward->add_option("--anchor-mode", settings->anchor_mode, "Star: recompute | once | sent | auto")
      ->capture_default_str();
  forward->add_option("--ring-layout", settings->ring_layout, "Ring: zigzag | contiguous")->capture_default_str();
  add_duo_options(*forward, settings->duo);
  forward->add_option("--generate", settings->generate, "Greedy tokens after the query -> /generated")
      ->capture_default_str();
  forward->add_option("--output,-o", settings->output, "HDF5 file: /logits [T-C, vocab], /generated [G]")
      ->capture_default_str();
  forward->callback([settings] { run_forward(*settings); });
}

}  // namespace sb
