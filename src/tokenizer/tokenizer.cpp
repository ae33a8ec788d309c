#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenize.h"
#include "util/error.h"

namespace sb {

struct Tokenizer::Impl {
  BpeModel bpe;
  bool ignore_merges = false;
  std::unordered_map<std::string, int32_t> piece_to_id;  // raw bytes -> id (BPE vocabulary)
  std::unordered_map<std::string, int32_t> text_to_id;   // tokenizer.json spelling -> id
  std::vector<std::string> id_to_bytes;                  // what each id decodes to
  std::vector<std::pair<std::string, int32_t>> added;    // added tokens, longest first
  bool starts_added[256] = {};                           // first bytes of added tokens

  // Longest added token at text[pos], or nullptr.
  const std::pair<std::string, int32_t>* added_at(std::string_view text, size_t pos) const {
    if (!starts_added[static_cast<uint8_t>(text[pos])]) return nullptr;
    for (const auto& token : added) {
      if (text.compare(pos, token.first.size(), token.first) == 0) return &token;
    }
    return nullptr;
  }

  void encode_ordinary(std::string_view text, std::vector<int32_t>* out,
                       std::unordered_map<std::string_view, std::vector<int32_t>>* cache) const;
};

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  fail("tokenizer {}: {}", source, what);
}

// Finds the Split pre-tokenizer's regex, wherever the Sequence nests it.
const json* find_split_pattern(const json& node) {
  if (!node.is_object()) return nullptr;
  if (node.value("type", "") == "Split" && node.contains("pattern") && node["pattern"].contains("Regex")) {
    return &node["pattern"]["Regex"];
  }
  if (node.contains("pretokenizers")) {
    for (const auto& child : node["pretokenizers"]) {
      if (const json* found = find_split_pattern(child)) return found;
    }
  }
  return nullptr;
}

std::pair<std::string, std::string> merge_pair(const json& entry, const std::string& source) {
  if (entry.is_string()) {
    const std::string s = entry.get<std::string>();
    const size_t space = s.find(' ', 1);
    if (space == std::string::npos) bad(source, "merge \"" + s + "\" is not two tokens separated by a space");
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
    return {entry[0].get<std::string>(), entry[1].get<std::string>()};
  }
  bad(source, "a merge is neither \"a b\" nor [\"a\", \"b\"]: " + entry.dump());
}

}  // namespace

void Tokenizer::Impl::encode_ordinary(std::string_view text, std::vector<int32_t>* out,
                                      std::unordered_map<std::string_view, std::vector<int32_t>>* cache) const {
  std::vector<std::string_view> pieces;
  llama3_pretokenize(text, &pieces);
  for (std::string_view piece : pieces) {
    if (auto hit = cache->find(piece); hit != cache->end()) {
      out->insert(out->end(), hit->second.begin(), hit->second.end());
      continue;
    }
    std::vector<int32_t> ids;
    // ignore_merges: a piece that is itself a vocabulary entry is taken whole.
    auto whole = ignore_merges ? piece_to_id.find(std::string(piece)) : piece_to_id.end();
    if (whole != piece_to_id.end()) {
      ids.push_back(whole->second);
    } else {
      bpe.encode_piece(piece, &ids);
    }
    out->insert(out->end(), ids.begin(), ids.end());
    if (piece.size() <= 256) cache->emplace(piece, std::move(ids));  // long pieces rarely repeat
  }
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("tokenizer {}: cannot open file (pass the tokenizer.json of a Llama-3 model)", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return from_json_text(buffer.str(), path);
}

Tokenizer Tokenizer::from_json_text(std::string_view json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    bad(source, std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) bad(source, "no \"model\" object");
  const json& model = root["model"];
  if (model.value("type", "") != "BPE") bad(source, "model type is not BPE (only byte-level BPE, as in Llama-3, is supported)");
  if (!model.contains("vocab") || !model["vocab"].is_object()) bad(source, "model has no \"vocab\" object");
  if (!model.contains("merges") || !model["merges"].is_array()) bad(source, "model has no \"merges\" array");
  if (root.contains("normalizer") && !root["normalizer"].is_null()) bad(source, "a normalizer is set; Llama-3 has none and none is implemented");
  const json* pattern = root.contains("pre_tokenizer") ? find_split_pattern(root["pre_tokenizer"]) : nullptr;
  if (!pattern || !pattern->is_string() || pattern->get<std::string>() != kLlama3SplitPattern) {
    bad(source, "pre_tokenizer is not the Llama-3 Split regex, the only one this tokenizer implements");
  }

  auto impl = std::make_shared<Impl>();
  impl->ignore_merges = model.value("ignore_merges", false);
  int32_t max_id = -1;
  std::vector<std::pair<int32_t, std::string>> entries;
  entries.reserve(model["vocab"].size());
  impl->piece_to_id.reserve(model["vocab"].size());
  impl->text_to_id.reserve(model["vocab"].size() + 512);
  impl->bpe.reserve(model["merges"].size());
  for (const auto& [text, id_json] : model["vocab"].items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 || id_json.get<int64_t>() > INT32_MAX)
      bad(source, "vocab entry \"" + text + "\" has no valid id");
    const auto id = id_json.get<int32_t>();
    auto bytes = byte_level_to_bytes(text);
    if (!bytes) bad(source, "vocab entry \"" + text + "\" is not in the byte-level alphabet");
    impl->piece_to_id.emplace(*bytes, id);
    impl->text_to_id.emplace(text, id);
    entries.emplace_back(id, std::move(*bytes));
    max_id = std::max(max_id, id);
  }
  std::vector<std::pair<std::string, int32_t>> added;
  if (root.contains("added_tokens")) {
    for (const auto& token : root["added_tokens"]) {
      if (!token.contains("content") || !token.contains("id")) bad(source, "an added token lacks content or id");
      const auto content = token["content"].get<std::string>();
      const auto id = token["id"].get<int32_t>();
      if (content.empty()) bad(source, "an added token has empty content");
      added.emplace_back(content, id);
      impl->text_to_id[content] = id;
      max_id = std::max(max_id, id);
    }
  }
  impl->id_to_bytes.assign(static_cast<size_t>(max_id) + 1, std::string());
  for (auto& [id, bytes] : entries) impl->id_to_bytes[id] = std::move(bytes);
  for (const auto& [content, id] : added) impl->id_to_bytes[id] = content;
  std::sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [content, id] : added) impl->starts_added[static_cast<uint8_t>(content[0])] = true;
  impl->added = std::move(added);

  for (int b = 0; b < 256; ++b) {
    auto it = impl->piece_to_id.find(std::string(1, static_cast<char>(b)));
    if (it == impl->piece_to_id.end()) bad(source, "vocabulary lacks the single-byte token for byte " + std::to_string(b));
    impl->bpe.set_byte_id(static_cast<uint8_t>(b), it->second);
  }
  int32_t rank = 0;
  for (const auto& entry : model["merges"]) {
    const auto [left, right] = merge_pair(entry, source);
    const auto l = impl->text_to_id.find(left), r = impl->text_to_id.find(right);
    const auto merged = impl->text_to_id.find(left + right);
    if (l == impl->text_to_id.end() || r == impl->text_to_id.end() || merged == impl->text_to_id.end()) {
      bad(source, "merge \"" + left + " " + right + "\" (rank " + std::to_string(rank) + ") names a token not in the vocabulary");
    }
    impl->bpe.add_merge(l->second, r->second, rank++, merged->second);
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3);
  std::unordered_map<std::string_view, std::vector<int32_t>> cache;  // per call: repeated words are common
  size_t start = 0;
  if (parse_special) {
    for (size_t pos = 0; pos < text.size(); ++pos) {
      if (const auto* token = impl_->added_at(text, pos)) {
        impl_->encode_ordinary(text.substr(start, pos - start), &out, &cache);
        out.push_back(token->second);
        pos += token->first.size() - 1;
        start = pos + 1;
      }
    }
  }
  impl_->encode_ordinary(text.substr(start), &out, &cache);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) fail("tokenizer: cannot decode id {} (vocabulary size {})", id, vocab_size());
    out += impl_->id_to_bytes[id];
  }
  return out;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_to_bytes.size()); }

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  auto it = impl_->text_to_id.find(std::string(token));
  if (it == impl_->text_to_id.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::bos_id() const {
  auto id = token_id("<|begin_of_text|>");
  if (!id) fail("tokenizer: no <|begin_of_text|> token (is this a Llama-3 tokenizer.json?)");
  return *id;
}

std::vector<int32_t> Tokenizer::eos_ids() const {
  std::vector<int32_t> ids;
  for (const char* name : {"<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"}) {
    if (auto id = token_id(name)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace sb
