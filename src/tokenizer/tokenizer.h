#pragma once
// Llama-3 byte-level BPE tokenizer read from a Hugging Face tokenizer.json.
// encode() never adds BOS; callers (chat template, tasks) decide what to prepend.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb {

class Tokenizer {
 public:
  // Throws sb::Error naming the file when it is missing, not JSON, or not a
  // byte-level BPE tokenizer with the Llama-3 pre-tokenizer.
  static Tokenizer load(const std::string& tokenizer_json_path);
  // The same from JSON text already in memory (tests build small vocabularies);
  // source names it in error messages.
  static Tokenizer from_json_text(std::string_view json_text, const std::string& source);

  // parse_special: text like "<|eot_id|>" becomes its added-token id; otherwise it
  // is encoded as ordinary bytes.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  // Special tokens decode as their text. Throws sb::Error on an id out of range.
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t vocab_size() const;
  // Id of a token as tokenizer.json writes it (byte-level form, e.g. "Ġthe", or an
  // added token such as "<|eot_id|>").
  std::optional<int32_t> token_id(std::string_view token) const;
  int32_t bos_id() const;                 // <|begin_of_text|>
  std::vector<int32_t> eos_ids() const;   // those of <|end_of_text|>, <|eom_id|>, <|eot_id|> present

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Llama-3 instruct chat template (the tokenizer_config.json template that ships
// with Llama-3.1): BOS, then per message
// "<|start_header_id|>ROLE<|end_header_id|>\n\n" + trimmed content + "<|eot_id|>",
// then the assistant header when add_generation_prompt.
std::string apply_llama3_chat_template(const std::vector<std::pair<std::string, std::string>>& role_content,
                                       bool add_generation_prompt);

}  // namespace sb
