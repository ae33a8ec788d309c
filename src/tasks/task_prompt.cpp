#include "tasks/task_prompt.h"

#include "util/error.h"

namespace sb {

PromptTokens tokenize_task_prompt(const Tokenizer& tokenizer, const TaskSample& sample, bool chat_template) {
  PromptTokens prompt;
  std::string context_text = sample.context, query_text = sample.query;
  if (chat_template) {
    const std::string templated =
        apply_llama3_chat_template({{"user", sample.context + sample.query}}, /*add_generation_prompt=*/true);
    const size_t split = templated.find(sample.context);
    SB_REQUIRE(split != std::string::npos, "chat template lost the context of {} sample {}", sample.task,
               sample.index);
    context_text = templated.substr(0, split + sample.context.size());
    query_text = templated.substr(split + sample.context.size());
  }
  // The template already starts with <|begin_of_text|>; plain prompts get it here.
  if (!chat_template) prompt.context.push_back(tokenizer.bos_id());
  for (int32_t id : tokenizer.encode(context_text)) prompt.context.push_back(id);
  prompt.query = tokenizer.encode(query_text);
  return prompt;
}

int64_t prompt_scaffold_tokens(const Tokenizer& tokenizer, bool chat_template) {
  const PromptTokens scaffold = tokenize_task_prompt(tokenizer, TaskSample{}, chat_template);
  return static_cast<int64_t>(scaffold.context.size() + scaffold.query.size());
}

int64_t ruler_answer_tokens(const std::string& task) {
  if (task.rfind("niah", 0) == 0) return 128;
  if (task == "vt") return 30;
  if (task == "cwe") return 120;
  if (task == "fwe") return 50;
  return 32;  // qa_1, qa_2
}

}  // namespace sb
