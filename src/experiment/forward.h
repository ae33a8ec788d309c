#pragma once
// `starbench forward`: one forward pass of a method on given tokens (context,
// then query, then greedy tokens), the query's logits to an HDF5 file. This is
// how the numerics are checked from outside, so its file stays stable.
#include <cstdint>
#include <string>
#include <vector>

#include "attention/duo_pattern.h"
#include "attention/method_settings.h"
#include "comm/host_layout.h"
#include "experiment/model_loader.h"

namespace sb {

struct ForwardSettings {
  ModelChoice model;
  std::string backend = "auto";
  HostOptions hosts;  // --gpus-per-host, --host-split
  std::vector<int64_t> tokens;
  std::string tokens_file;  // instead of tokens: ids separated by white space or commas (any length)
  std::string tokenizer;    // tokenizer.json: the generated tokens are printed as text
  int64_t context_len = 0;  // tokens [0, C) are the context, the rest the query
  MethodSettings method;    // its duo pattern comes from `duo`
  DuoOptions duo;
  ApbOptions apb;  // one anchor and one passing size (apb)
  int64_t generate = 0;
  std::string output = "forward.h5";
};

// Collective: /logits [T-C, vocab] and, with generate > 0, /generated [G] to settings.output (rank 0),
// with the settings that produced them as the file's attributes.
void run_forward(const ForwardSettings& settings);

}  // namespace sb
