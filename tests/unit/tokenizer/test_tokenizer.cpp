#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tiny_tokenizer.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_class.h"
#include "util/error.h"

namespace sb {
namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string_view> pieces;
  llama3_pretokenize(text, &pieces);
  return {pieces.begin(), pieces.end()};
}

using Pieces = std::vector<std::string>;

TEST(Pretokenize, LettersNumbersAndPunctuation) {
  EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split("12345"), (Pieces{"123", "45"}));
  EXPECT_EQ(split(" 12"), (Pieces{" ", "12"}));
  EXPECT_EQ(split("Hi!!! you"), (Pieces{"Hi", "!!!", " you"}));
  EXPECT_EQ(split(" !!\n\nx"), (Pieces{" !!\n\n", "x"}));
  EXPECT_EQ(split("\tx"), (Pieces{"\tx"}));
  EXPECT_EQ(split("$x"), (Pieces{"$x"}));
}

TEST(Pretokenize, ContractionsAnyCase) {
  EXPECT_EQ(split("I'm"), (Pieces{"I", "'m"}));
  EXPECT_EQ(split("WE'LL"), (Pieces{"WE", "'LL"}));
  EXPECT_EQ(split("it'S"), (Pieces{"it", "'S"}));
  EXPECT_EQ(split("'x"), (Pieces{"'x"}));
  EXPECT_EQ(split("'Re'vE"), (Pieces{"'Re", "'vE"}));
}

TEST(Pretokenize, WhitespaceRuns) {
  EXPECT_EQ(split("a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split("a   "), (Pieces{"a", "   "}));
  EXPECT_EQ(split("a \n\n  b"), (Pieces{"a", " \n\n", " ", " b"}));
  EXPECT_EQ(split("a \n 1"), (Pieces{"a", " \n", " ", "1"}));
  EXPECT_EQ(split("\r\n"), (Pieces{"\r\n"}));
}

TEST(Pretokenize, UnicodeClasses) {
  EXPECT_TRUE(is_unicode_letter(0x00E9));   // é
  EXPECT_TRUE(is_unicode_letter(0x65E5));   // 日
  EXPECT_FALSE(is_unicode_letter(0x1F600)); // 😀
  EXPECT_TRUE(is_unicode_number(0x00B2));   // ²
  EXPECT_TRUE(is_unicode_number(0x216B));   // Ⅻ
  EXPECT_TRUE(is_unicode_number(0x0663));   // ٣
  EXPECT_TRUE(is_unicode_space(0x3000));
  EXPECT_FALSE(is_unicode_space(0x200B));   // zero width space is not White_Space
  EXPECT_EQ(split("café 日本"), (Pieces{"café", " 日本"}));
  EXPECT_EQ(split("😀😀 x"), (Pieces{"😀😀", " x"}));
}

TEST(Pretokenize, InvalidUtf8IsKeptByteForByte) {
  const std::string text = "a\xff\xfe b\xc3";
  std::string joined;
  for (const auto& piece : split(text)) joined += piece;
  EXPECT_EQ(joined, text);
}

TEST(Tokenizer, MergesFollowRank) {
  const Tokenizer tok = testing::tiny_tokenizer({"ab", "abc", " the"});
  const auto ids = tok.encode("abc the");
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(tok.decode({ids[0]}), "abc");
  EXPECT_EQ(tok.decode({ids[1]}), " the");
  EXPECT_EQ(tok.encode("x").size(), 1u);
  EXPECT_EQ(tok.encode("xyz").size(), 3u);
}

TEST(Tokenizer, SpecialTokens) {
  const Tokenizer tok = testing::tiny_tokenizer({});
  const int32_t eot = *tok.token_id("<|eot_id|>");
  const auto parsed = tok.encode("a<|eot_id|>b");
  EXPECT_EQ(parsed, (std::vector<int32_t>{'a', eot, 'b'}));
  const auto plain = tok.encode("a<|eot_id|>b", /*parse_special=*/false);
  EXPECT_EQ(plain.size(), 12u);
  EXPECT_EQ(tok.decode(parsed), "a<|eot_id|>b");
  EXPECT_EQ(tok.bos_id(), *tok.token_id("<|begin_of_text|>"));
  EXPECT_EQ(tok.eos_ids().size(), 3u);
  EXPECT_EQ(tok.vocab_size(), 256 + 6);
}

TEST(Tokenizer, RoundTripsArbitraryBytes) {
  const Tokenizer tok = testing::tiny_tokenizer({"he", "hello", " wor"});
  std::string text;
  for (int i = 0; i < 2000; ++i) text.push_back(static_cast<char>((i * 7919) % 256));
  text += " hello world <|eot_id|> \n\n\t";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  EXPECT_EQ(tok.decode(tok.encode(text, false)), text);
}

TEST(Tokenizer, ClearErrors) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.json"), Error);
  EXPECT_THROW(Tokenizer::from_json_text("{not json", "bad"), Error);
  EXPECT_THROW(Tokenizer::from_json_text(R"({"model": {"type": "Unigram"}})", "bad"), Error);
  auto j = nlohmann::json::parse(testing::tiny_tokenizer_json({}));
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
  try {
    Tokenizer::from_json_text(j.dump(), "wrong.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wrong.json"), std::string::npos);
  }
  const Tokenizer tok = testing::tiny_tokenizer({});
  EXPECT_THROW(tok.decode({1 << 20}), Error);
}

TEST(ChatTemplate, Llama3Layout) {
  const std::string out = apply_llama3_chat_template({{"system", " Be brief. "}, {"user", "Hi"}}, true);
  EXPECT_EQ(out,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Compares with ids from the JavaScript reference tokenizer. The script test
// tests/tokenizer/check_tokenizer.sh sets STARBENCH_TOKENIZER_REF_DIR; without it
// (plain ctest unit run) there is nothing to compare against.
TEST(TokenizerReference, MatchesJavaScriptTokenizerExactly) {
  const char* dir = std::getenv("STARBENCH_TOKENIZER_REF_DIR");
  if (!dir) GTEST_SKIP() << "STARBENCH_TOKENIZER_REF_DIR not set (run by tests/tokenizer/check_tokenizer.sh)";
  const std::filesystem::path base(dir);
  std::ifstream corpus_in(base / "corpus.json"), ref_in(base / "reference.json");
  ASSERT_TRUE(corpus_in && ref_in) << "missing corpus.json / reference.json in " << dir;
  const auto corpus = nlohmann::json::parse(corpus_in);
  const auto ref = nlohmann::json::parse(ref_in);
  const Tokenizer tok = Tokenizer::load(ref["tokenizer_json"].get<std::string>());
  EXPECT_EQ(tok.vocab_size(), 128256);
  EXPECT_EQ(tok.bos_id(), 128000);
  // This file names 128008 <|reserved_special_token_4|>; Llama-3.1 checkpoints call it <|eom_id|>.
  EXPECT_EQ(tok.eos_ids(), (std::vector<int32_t>{128001, 128009}));
  ASSERT_EQ(corpus.size(), ref["ids"].size());
  ASSERT_GE(corpus.size(), 300u);
  int mismatches = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const std::string text = corpus[i].get<std::string>();
    const auto expected = ref["ids"][i].get<std::vector<int32_t>>();
    const auto got = tok.encode(text);
    if (got != expected && ++mismatches <= 10) {
      ADD_FAILURE() << "string " << i << " " << nlohmann::json(text).dump() << "\n  expected "
                    << nlohmann::json(expected).dump() << "\n  got      " << nlohmann::json(got).dump();
    }
    EXPECT_EQ(tok.decode(got), text) << "round trip of string " << i;
  }
  EXPECT_EQ(mismatches, 0);
  // The chat template as the reference renders it, from the same messages.
  EXPECT_EQ(apply_llama3_chat_template({{"system", "  Be brief. "}, {"user", "Hi\n"}, {"assistant", "Hello."},
                                        {"user", "What is 2+2?"}},
                                       true),
            ref["chat_template_example"].get<std::string>());
}

}  // namespace
}  // namespace sb
