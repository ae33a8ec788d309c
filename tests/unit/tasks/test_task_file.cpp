#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tasks/task_file.h"
#include "util/error.h"

namespace sb {
namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& path) {
  try {
    read_task_file(path, "all");
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(TaskFile, ReadsStarAttentionFormatWithStringOrListOutputs) {
  const std::string path = write_file(
      "star_sb_test.jsonl",
      "{\"index\": 7, \"input_context\": \"Alpha beta.\", \"input_query\": \"Q?\", \"output\": \"beta\"}\n"
      "\n"
      "{\"input_context\": \"Gamma.\", \"input_query\": \"R?\", \"output\": [\"x\", \"y\"]}\n");
  const TaskFile file = read_task_file(path, "part");
  EXPECT_EQ(file.format, TaskFileFormat::star_attention);
  EXPECT_EQ(file.name, "file:star_sb_test");
  EXPECT_TRUE(is_task_file_task(file.samples[0].task));
  EXPECT_FALSE(is_task_file_task("niah_single_1"));
  ASSERT_EQ(file.samples.size(), 2u);
  EXPECT_EQ(file.samples[0].index, 7);
  EXPECT_EQ(file.samples[0].context, "Alpha beta.");
  EXPECT_EQ(file.samples[0].query, "Q?");
  EXPECT_EQ(file.samples[0].answers, std::vector<std::string>{"beta"});
  EXPECT_EQ(file.samples[0].metric, "part");
  EXPECT_EQ(file.samples[1].index, 1);  // its position in the file
  EXPECT_EQ(file.samples[1].answers, (std::vector<std::string>{"x", "y"}));
}

TEST(TaskFile, SplitsRulerInputAtItsLastNonEmptyLine) {
  const std::string path = write_file(
      "ruler_sb_test.jsonl",
      "{\"index\": 0, \"input\": \"Memorize it.\\nThe number is 42.\\nWhat is the number?\", \"outputs\": "
      "[\"42\"], \"answer_prefix\": \" Answer:\"}\n"
      "{\"index\": 1, \"input\": \"Intro\\nHay.\\nQuestion?<|eot_id|>\\n\\n\", \"outputs\": [\"a\"]}\n");
  const TaskFile file = read_task_file(path, "all");
  EXPECT_EQ(file.format, TaskFileFormat::ruler);
  ASSERT_EQ(file.samples.size(), 2u);
  EXPECT_EQ(file.samples[0].context, "Memorize it.\nThe number is 42.\n");
  EXPECT_EQ(file.samples[0].query, "What is the number? Answer:");
  EXPECT_EQ(file.samples[1].context, "Intro\nHay.\n");
  EXPECT_EQ(file.samples[1].query, "Question?<|eot_id|>\n\n");
  EXPECT_EQ(ruler_query_start("one line"), 0u);
}

TEST(TaskFile, RefusesMalformedLinesNamingTheLine) {
  const std::string ok = "{\"input_context\": \"c\", \"input_query\": \"q\", \"output\": \"a\"}\n";
  struct Case {
    std::string text, expected;
  };
  const Case cases[] = {
      {ok + "{not json\n", ":2: not a JSON object"},
      {ok + "[1, 2]\n", ":2: not a JSON object"},
      {ok + "{\"input_context\": \"c\", \"input_query\": \"q\"}\n", ":2: no 'output' field"},
      {ok + "{\"input_context\": \"c\", \"input_query\": \"q\", \"output\": 5}\n", ":2: 'output' must be a string"},
      {ok + "{\"input_context\": \"c\", \"input_query\": \"q\", \"output\": []}\n", ":2: 'output' must be a string"},
      {ok + "{\"input_context\": 3, \"input_query\": \"q\", \"output\": \"a\"}\n", ":2: 'input_context' must be"},
      {ok + "{\"question\": \"q\"}\n", ":2: neither Star Attention's fields"},
      {ok + "{\"input\": \"c\\nq\", \"outputs\": [\"a\"]}\n", ":2: a ruler line in a file whose first sample is"},
      {"{\"input\": \"just one line\", \"outputs\": [\"a\"]}\n", ":1: the context is empty"},
      {"{\"index\": 1, " + ok.substr(1) + "{\"index\": 1, " + ok.substr(1), ":2: index 1 appears twice"},
      {"{\"index\": -1, " + ok.substr(1), ":1: 'index' must be a non-negative integer"},
      {"\n\n", "holds no sample"},
  };
  int number = 0;
  for (const Case& c : cases) {
    const std::string path = write_file("bad_sb_test_" + std::to_string(number++) + ".jsonl", c.text);
    const std::string message = error_of(path);
    EXPECT_NE(message.find(c.expected), std::string::npos) << "file:\n" << c.text << "message: " << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
  }
  EXPECT_NE(error_of("/nonexistent/x.jsonl").find("cannot be read"), std::string::npos);
}

}  // namespace
}  // namespace sb
