#pragma once
// The attention methods by their settings: make_method checks what only a method
// can check and builds the method a plan describes (global, ring, star, duo,
// star + duo). The settings' names and plans live in attention/method_settings.h.
#include <cstdint>
#include <memory>

#include "attention/method.h"
#include "attention/method_settings.h"

namespace sb {

// Builds the method a plan describes (plan_method: `comm` has the plan's
// ranks); the settings give what the plan does not resolve (the ablations, the
// duo pattern). sb::Error for what only the method can check (star + duo).
std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, const MethodPlan& plan,
                                             Transformer& model, Comm& comm, int64_t max_tail_tokens);
// Plans the settings for `context_len` on `comm`'s ranks and builds the method
// (one-off forwards and tests).
std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, Transformer& model, Comm& comm,
                                             int64_t context_len, int64_t max_tail_tokens);

}  // namespace sb
