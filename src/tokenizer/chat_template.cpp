#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sb {
namespace {
// Jinja's trim: strips leading and trailing whitespace.
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\v\f";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}
}  // namespace

std::string apply_llama3_chat_template(const std::vector<std::pair<std::string, std::string>>& role_content,
                                       bool add_generation_prompt) {
  std::string out;
  for (const auto& [role, content] : role_content) {
    if (out.empty()) out = "<|begin_of_text|>";  // the template puts BOS before the first message
    out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + trim(content) + "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

}  // namespace sb
