#pragma once
// A small byte-level BPE tokenizer.json for tests that must not need the real
// 9 MB Llama-3 file: the 256 byte tokens, merges that build each listed word
// left to right, and the Llama-3 special tokens.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace sb::testing {

inline std::string tiny_tokenizer_json(const std::vector<std::string>& words) {
  nlohmann::json vocab = nlohmann::json::object();
  nlohmann::json merges = nlohmann::json::array();
  int next_id = 0;
  for (int b = 0; b < 256; ++b) vocab[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = next_id++;
  for (const std::string& word : words) {
    std::string prefix = bytes_to_byte_level(word.substr(0, 1));
    for (size_t i = 1; i < word.size(); ++i) {
      const std::string next = bytes_to_byte_level(word.substr(i, 1));
      if (!vocab.contains(prefix + next)) {
        merges.push_back(prefix + " " + next);
        vocab[prefix + next] = next_id++;
      }
      prefix += next;
    }
  }
  nlohmann::json added = nlohmann::json::array();
  int special_id = next_id;
  for (const char* name : {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                           "<|eom_id|>", "<|eot_id|>"}) {
    added.push_back({{"id", special_id++}, {"content", name}, {"special", true}});
  }
  nlohmann::json root = {
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", std::string(kLlama3SplitPattern)}}}, {"behavior", "Isolated"}},
          {{"type", "ByteLevel"}}}}}},
      {"model", {{"type", "BPE"}, {"ignore_merges", true}, {"vocab", vocab}, {"merges", merges}}}};
  return root.dump();
}

inline Tokenizer tiny_tokenizer(const std::vector<std::string>& words) {
  return Tokenizer::from_json_text(tiny_tokenizer_json(words), "tiny test tokenizer");
}

}  // namespace sb::testing
