#pragma once
// The attention methods by name: make_method checks the settings and builds
// the method they name (global, ring, star, duo, star + duo).
#include <memory>
#include <string>
#include <vector>

#include "attention/method.h"

namespace sb {

// Checks the settings against the context length and world size (clear
// sb::Error otherwise) and builds the method.
std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, Transformer& model, Comm& comm,
                                             int64_t context_len, int64_t max_tail_tokens);
std::vector<std::string> method_names();
// global and duo run on one rank (rank 0 of a job, with a one-rank communicator).
bool runs_on_one_rank(const std::string& method);

}  // namespace sb
