#include "experiment/forward.h"

#include <memory>

#include <fmt/core.h>

#include "attention/method_factory.h"
#include "comm/comm_factory.h"
#include "comm/comm.h"
#include "experiment/forward_pass.h"
#include "experiment/host_setup.h"
#include "io/array_file.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

void run_forward(const ForwardSettings& settings) {
  const int64_t total = int64_t(settings.tokens.size());
  const Method method_kind = settings.method.method;
  Control::agree_on([&] {
    SB_REQUIRE(total > 0, "--tokens is empty");
    SB_REQUIRE(settings.context_len >= 0 && settings.context_len < total,
               "--context-len {} must be in [0, {}): the query (tokens after the context) must not be empty",
               settings.context_len, total);
    SB_REQUIRE(settings.generate >= 0, "--generate must be >= 0");
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
  const HostLayout layout = resolve_host_layout(settings.hosts, config);

  std::unique_ptr<Backend> backend = create_backend(settings.backend);
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
    write_array_file(settings.output, arrays);
  });
}

}  // namespace sb
