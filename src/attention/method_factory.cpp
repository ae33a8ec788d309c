// Builds a method by name: the one file that knows every method.
#include "attention/method_factory.h"

#include "attention/duo_method.h"
#include "attention/global_method.h"
#include "attention/ring_method.h"
#include "attention/star_method.h"
#include "util/error.h"

namespace sb {

std::vector<std::string> method_names() { return {"global", "ring", "star", "duo"}; }

bool runs_on_one_rank(const std::string& method) { return method == "global" || method == "duo"; }

std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, Transformer& model, Comm& comm,
                                             int64_t context_len, int64_t max_tail_tokens) {
  if (settings.name == "global") {
    SB_REQUIRE(context_len >= 0, "negative context length {}", context_len);
    SB_REQUIRE(comm.size() == 1, "global attention runs on one rank, got a communicator of {}", comm.size());
    return std::make_unique<GlobalMethod>(model, comm, context_len, max_tail_tokens);
  }
  if (settings.name == "duo") {
    SB_REQUIRE(settings.duo, "duo needs a head pattern (--duo-pattern DIR, FILE.tsv or random:SEED)");
    SB_REQUIRE(context_len >= 0, "negative context length {}", context_len);
    SB_REQUIRE(comm.size() == 1, "duo runs on one rank, got a communicator of {}", comm.size());
    return std::make_unique<DuoMethod>(model, comm, context_len, max_tail_tokens, settings.duo);
  }
  SB_REQUIRE(context_len > 0, "{}: the context is empty (context length {})", settings.name, context_len);
  if (settings.name == "ring") {
    return std::make_unique<RingMethod>(model, comm, make_ring_layout(context_len, comm.size(), settings.ring_layout),
                                        max_tail_tokens);
  }
  if (settings.name == "star") {
    SB_REQUIRE(settings.anchor_source == "first" || settings.anchor_source == "previous",
               "star: --anchor-source '{}' is not one of first, previous", settings.anchor_source);
    SB_REQUIRE(settings.anchor_positions == "original" || settings.anchor_positions == "adjacent",
               "star: --anchor-positions '{}' is not one of original, adjacent", settings.anchor_positions);
    StarLayout layout = make_star_layout(context_len, settings.block_size, settings.anchor_size, comm.size());
    if (settings.duo) return make_star_duo_method(model, comm, layout, max_tail_tokens, settings);
    return std::make_unique<StarMethod>(model, comm, layout, max_tail_tokens, settings.anchor_source,
                                        settings.anchor_positions, settings.anchor_mode);
  }
  fail("unknown attention method '{}' (valid: global, ring, star, duo)", settings.name);
}

}  // namespace sb
