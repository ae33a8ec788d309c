// starbench tokenize: the Llama-3 token ids of a text file, comma-separated
// (no BOS added). Used by the tokenizer script test against a reference.
#include <chrono>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "cli/commands.h"
#include "tokenizer/tokenizer.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

namespace {
struct TokenizeArgs {
  std::string tokenizer_path;
  std::string text_path;
  bool no_special = false;
  bool timing = false;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("tokenize: cannot open --text-file {}", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}
}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text file, comma-separated");
  cmd->add_option("--tokenizer", args->tokenizer_path, "tokenizer.json of a Llama-3 model")->required();
  cmd->add_option("--text-file", args->text_path, "UTF-8 text to encode")->required();
  cmd->add_flag("--no-special", args->no_special, "encode <|...|> special-token text as plain bytes");
  cmd->add_flag("--timing", args->timing, "print token count and tokens/s to stderr");
  cmd->callback([args] {
    if (Control::rank() != 0) return;
    const Tokenizer tokenizer = Tokenizer::load(args->tokenizer_path);
    const std::string text = read_text_file(args->text_path);
    const auto start = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tokenizer.encode(text, !args->no_special);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string out;
    out.reserve(ids.size() * 7);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(ids[i]);
    }
    out += '\n';
    fmt::print("{}", out);
    if (args->timing) {
      fmt::print(stderr, "tokenize: {} bytes -> {} tokens in {:.3f} s ({:.0f} tokens/s)\n", text.size(), ids.size(),
                 seconds, ids.size() / std::max(seconds, 1e-9));
    }
  });
}

}  // namespace sb
