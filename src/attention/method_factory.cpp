// Builds a method from its settings and plan: the one file that knows every method.
#include "attention/method_factory.h"

#include "attention/apb_method.h"
#include "attention/duo_method.h"
#include "attention/global_method.h"
#include "attention/ring_method.h"
#include "attention/star_method.h"
#include "util/error.h"

namespace sb {

std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, const MethodPlan& plan,
                                             Transformer& model, Comm& comm, int64_t max_tail_tokens) {
  SB_REQUIRE(plan.method == settings.method, "the plan of {} was made for {}", setting_name(settings.method),
             setting_name(plan.method));
  switch (settings.method) {
    case Method::Global:
      SB_REQUIRE(comm.size() == 1, "global attention runs on one rank, got a communicator of {}", comm.size());
      return std::make_unique<GlobalMethod>(model, comm, plan.context_len, max_tail_tokens);
    case Method::Duo:
      SB_REQUIRE(settings.duo, "duo needs a head pattern (--duo-pattern DIR, FILE.tsv or random:SEED)");
      SB_REQUIRE(comm.size() == 1, "duo runs on one rank, got a communicator of {}", comm.size());
      return std::make_unique<DuoMethod>(model, comm, plan.context_len, max_tail_tokens, settings.duo);
    case Method::Ring:
      SB_REQUIRE(comm.size() == plan.ring.world_size, "ring: planned for {} ranks, got a communicator of {}",
                 plan.ring.world_size, comm.size());
      return std::make_unique<RingMethod>(model, comm, plan.ring, max_tail_tokens);
    case Method::Star:
      SB_REQUIRE(comm.size() == plan.star.world_size, "star: planned for {} ranks, got a communicator of {}",
                 plan.star.world_size, comm.size());
      if (settings.duo) return make_star_duo_method(model, comm, plan, max_tail_tokens, settings);
      return std::make_unique<StarMethod>(model, comm, plan.star, max_tail_tokens, settings.anchor_source,
                                          settings.anchor_positions, plan.anchor_mode);
    case Method::Apb:
      return std::make_unique<ApbMethod>(model, comm, plan.apb, max_tail_tokens, settings.apb.compressor);
  }
  fail("attention method {} has no factory", int(settings.method));
}

std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, Transformer& model, Comm& comm,
                                             int64_t context_len, int64_t max_tail_tokens) {
  return make_method(settings, plan_method(settings, context_len, comm.size()), model, comm, max_tail_tokens);
}

}  // namespace sb
