#pragma once
// How a task sample becomes the token ids a model sees, shared by `run --task`
// (which runs them) and `starbench tasks` (which writes them out, e.g. as
// training data), so both frame prompts identically: BOS + context | query, or
// the Llama-3 chat template split where Star Attention splits the prompt.
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task_sample.h"
#include "tokenizer/tokenizer.h"

namespace sb {

struct PromptTokens {
  std::vector<int32_t> context, query;  // context (with BOS / template header) | query (with template tail)
};

// Plain prompts: BOS + context | query. With the chat template the whole
// prompt is one user message with the assistant header appended; the split
// keeps the template's header in the context and its tail in the query.
PromptTokens tokenize_task_prompt(const Tokenizer& tokenizer, const TaskSample& sample, bool chat_template);

// Tokens the framing adds around a sample's text (BOS, or the template's
// scaffolding): a prompt of L tokens holds a sample generated for L minus this.
int64_t prompt_scaffold_tokens(const Tokenizer& tokenizer, bool chat_template);

// RULER's answer budgets (tokens_to_generate in its task configs).
int64_t ruler_answer_tokens(const std::string& task);

}  // namespace sb
