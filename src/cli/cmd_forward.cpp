// starbench forward: one forward pass on given tokens, logits to HDF5
// (experiment/forward.h). This is how the numerics are checked from outside,
// so its flags stay stable.
#include <memory>

#include "cli/commands.h"
#include "cli/setting_options.h"
#include "experiment/forward.h"

namespace sb {

void add_forward_command(CLI::App& app) {
  auto settings = std::make_shared<ForwardSettings>();
  MethodSettings& method = settings->method;
  CLI::App* forward = app.add_subcommand("forward", "One forward pass on given tokens; logits of the query to HDF5");
  forward->add_option("--model", settings->model.model_dir, "HF Llama-3 checkpoint directory");
  forward->add_option("--model-preset", settings->model.preset, "Preset with synthetic weights (when no --model)")
      ->capture_default_str();
  forward->add_option("--weight-seed", settings->model.weight_seed, "Seed of the synthetic weights")
      ->capture_default_str();
  forward->add_option("--backend", settings->backend, "auto | cpu | cuda")->capture_default_str();
  add_host_options(*forward, settings->hosts);
  CLI::Option* tokens =
      forward->add_option("--tokens", settings->tokens, "Token ids, comma-separated")->delimiter(',');
  forward->add_option("--tokens-file", settings->tokens_file,
                      "Token ids in a file, separated by white space or commas (prompts of any length)")
      ->excludes(tokens);
  forward->add_option("--tokenizer", settings->tokenizer, "tokenizer.json: print the generated tokens as text");
  forward->add_option("--context-len", settings->context_len,
                      "Tokens [0, C) are the context, the rest the query (0: every position is a query)")
      ->capture_default_str();
  add_setting_option(*forward, "--method", method.method, setting_choices<Method>());
  add_parsed_option<BlockRule>(*forward, "--block-size", method.block_rule, parse_block_rule,
                               "Star block size: tokens, 0 (context / ranks) or C/k", "0");
  forward->add_option("--anchor-size", method.anchor_size, "Star anchor size (-1: the block size)")
      ->capture_default_str();
  add_setting_option(*forward, "--anchor-source", method.anchor_source,
                     "Star ablation: " + setting_choices<AnchorSource>());
  add_setting_option(*forward, "--anchor-positions", method.anchor_positions,
                     "Star ablation: " + setting_choices<AnchorPositions>());
  add_setting_option(*forward, "--anchor-mode", method.anchor_mode, "Star: " + setting_choices<AnchorMode>());
  add_setting_option(*forward, "--ring-layout", method.ring_layout, "Ring: " + setting_choices<RingLayoutKind>());
  add_duo_options(*forward, settings->duo);
  add_apb_options(*forward, settings->apb);
  forward->add_option("--generate", settings->generate, "Greedy tokens after the query -> /generated")
      ->capture_default_str();
  forward->add_option("--output,-o", settings->output, "HDF5 file: /logits [T-C, vocab], /generated [G]; the settings as its attributes")
      ->capture_default_str();
  forward->callback([settings] { run_forward(*settings); });
}

}  // namespace sb
