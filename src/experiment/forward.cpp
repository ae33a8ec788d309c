#include "experiment/forward.h"

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/core.h>

#include "attention/apb_compressor.h"
#include "attention/method_factory.h"
#include "comm/comm_factory.h"
#include "comm/comm.h"
#include "experiment/forward_pass.h"
#include "experiment/host_setup.h"
#include "io/array_file.h"
#include "tokenizer/tokenizer.h"
#include "util/sha256.h"
#include "util/version.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

namespace {

// Token ids of a --tokens-file: integers separated by white space or commas.
std::vector<int64_t> read_token_file(const std::string& path) {
  std::ifstream in(path);
  SB_REQUIRE(in.good(), "--tokens-file {}: cannot be read", path);
  std::vector<int64_t> tokens;
  std::string line;
  for (int64_t line_number = 1; std::getline(in, line); ++line_number) {
    for (char& c : line) {
      if (c == ',') c = ' ';
    }
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      size_t used = 0;
      int64_t id = -1;
      try {
        id = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      SB_REQUIRE(used == word.size(), "--tokens-file {}:{}: '{}' is not a token id", path, line_number, word);
      tokens.push_back(id);
    }
  }
  SB_REQUIRE(!in.bad(), "--tokens-file {}: read error", path);
  return tokens;
}

std::string tokens_digest(const std::vector<int64_t>& tokens) {
  Sha256 hash;
  for (int64_t token : tokens) hash.update(fmt::format("{},", token));
  return hash.finish_hex();
}

// What produced the file: enough to rerun it and to tell two files apart.
FileAttributes forward_attributes(const ForwardSettings& settings, const MethodSettings& method,
                                  const ModelConfig& config, const Backend& backend, int ranks,
                                  const std::vector<int64_t>& tokens) {
  FileAttributes attributes;
  attributes.text = {{"command", "forward"},
                     {"model", config.name},
                     {"model_dir", settings.model.model_dir},
                     {"backend", backend.name()},
                     {"device", backend.device_name()},
                     {"method", setting_name(method.method)},
                     {"label", method_label(method)},
                     {"block_rule", method.block_rule.label()},
                     {"anchor_source", setting_name(method.anchor_source)},
                     {"anchor_positions", setting_name(method.anchor_positions)},
                     {"anchor_mode", setting_name(method.anchor_mode)},
                     {"ring_layout", setting_name(method.ring_layout)},
                     {"duo_pattern", settings.duo.pattern},
                     {"tokens_sha256", tokens_digest(tokens)},
                     {"version", STARBENCH_VERSION},
                     {"git_commit", STARBENCH_GIT_COMMIT}};
  attributes.integers = {{"tokens", int64_t(tokens.size())},
                         {"context_len", settings.context_len},
                         {"generate", settings.generate},
                         {"block_tokens", method.block_rule.tokens},
                         {"block_divisor", method.block_rule.divisor},
                         {"anchor_size", method.anchor_size},
                         {"world_size", ranks}};
  if (method.method == Method::Apb) {
    const ApbSettings& apb = method.apb;
    attributes.text.push_back({"apb_anchor", apb.anchor.label()});
    attributes.text.push_back({"apb_passing", apb.passing.label()});
    attributes.text.push_back({"apb_query_in_anchor", setting_name(apb.query_in_anchor)});
    attributes.text.push_back({"apb_compressor", apb.source.label()});
    if (apb.compressor) attributes.text.push_back({"apb_compressor_digest", apb.compressor->digest()});
  }
  if (settings.model.model_dir.empty()) {
    attributes.text.push_back({"model_preset", settings.model.preset});
    attributes.integers.push_back({"weight_seed", int64_t(settings.model.weight_seed)});
  }
  return attributes;
}

}  // namespace

void run_forward(const ForwardSettings& given) {
  ForwardSettings settings = given;
  Control::agree_on([&] {
    SB_REQUIRE(settings.tokens.empty() != settings.tokens_file.empty(),
               "give the tokens with --tokens or --tokens-file (one of them)");
  });
  if (!settings.tokens_file.empty()) {
    std::vector<int64_t> read;
    Control::agree_on_root([&] { read = read_token_file(settings.tokens_file); });
    settings.tokens = Control::broadcast_ints(read, 0);
  }
  std::optional<Tokenizer> tokenizer;
  if (!settings.tokenizer.empty()) Control::agree_on_root([&] { tokenizer.emplace(Tokenizer::load(settings.tokenizer)); });
  const int64_t total = int64_t(settings.tokens.size());
  const Method method_kind = settings.method.method;
  Control::agree_on([&] {
    SB_REQUIRE(total > 0, "{} holds no token", settings.tokens_file.empty() ? "--tokens" : settings.tokens_file);
    SB_REQUIRE(settings.context_len >= 0 && settings.context_len < total,
               "--context-len {} must be in [0, {}): the query (tokens after the context) must not be empty",
               settings.context_len, total);
    SB_REQUIRE(settings.generate >= 0, "--generate must be >= 0");
    SB_REQUIRE(settings.apb.anchors.size() == 1 && settings.apb.passings.size() == 1,
               "forward runs one setting: give --apb-anchor and --apb-passing one size each");
    SB_REQUIRE(runs_on_one_rank(method_kind) || settings.context_len > 0,
               "--method {} needs a context: --context-len 0 runs only with --method global or duo",
               setting_name(method_kind));
  });

  ModelConfig config = resolve_model_config(settings.model);
  Control::agree_on([&] {
    for (int64_t token : settings.tokens) {
      SB_REQUIRE(token >= 0 && token < config.vocab_size, "token id {} is outside the vocabulary [0, {}) of {}", token,
                 config.vocab_size, config.name);
    }
  });
  MethodSettings method_settings = settings.method;
  method_settings.duo = resolve_duo_pattern(settings.duo, config, {method_kind});
  method_settings.apb.anchor = settings.apb.anchors.front();
  method_settings.apb.passing = settings.apb.passings.front();
  method_settings.apb.query_in_anchor = settings.apb.query_in_anchor;
  method_settings.apb.source = settings.apb.compressor;
  const HostLayout layout = resolve_host_layout(settings.hosts, config);

  std::unique_ptr<Backend> backend = create_backend(settings.backend);
  method_settings.apb.compressor = resolve_apb_compressor(settings.apb.compressor, config, *backend, {method_kind});
  HostModel host = load_host_model(settings.model, config, *backend, layout);
  Transformer* model = host.model.get();
  Comm* world = host.comms.between.get();  // the methods run between hosts
  const bool one_rank = runs_on_one_rank(method_kind);  // global or duo: host 0 alone
  std::unique_ptr<Comm> comm = one_rank ? make_local_comm(*backend) : nullptr;
  const bool participates = !one_rank || layout.host_of(Control::rank()) == 0;

  std::vector<int32_t> context(settings.tokens.begin(), settings.tokens.begin() + settings.context_len);
  std::vector<int32_t> query(settings.tokens.begin() + settings.context_len, settings.tokens.end());
  std::unique_ptr<AttentionMethod> method;
  Control::agree_on([&] {
    if (participates) {
      method = make_method(method_settings, *model, one_rank ? *comm : *world, settings.context_len,
                           int64_t(query.size()) + settings.generate);
    }
  });

  ForwardOutputs outputs;
  if (participates) outputs = run_forward_pass(*method, *model, context, query, settings.generate);
  Control::agree_on_root([&] {
    std::vector<NamedArray> arrays = {{"/logits", {int64_t(query.size()), config.vocab_size}, outputs.logits, {}}};
    if (settings.generate > 0) arrays.push_back({"/generated", {settings.generate}, {}, outputs.generated});
    const int ranks = one_rank ? 1 : Control::size();
    write_array_file(settings.output, arrays,
                     forward_attributes(settings, method_settings, config, *backend, ranks, settings.tokens));
  });
  if (tokenizer && settings.generate > 0) {
    std::vector<int32_t> generated(outputs.generated.begin(), outputs.generated.end());
    fmt::print("generated: {:?}\n", tokenizer->decode(generated));
  }
}

}  // namespace sb
