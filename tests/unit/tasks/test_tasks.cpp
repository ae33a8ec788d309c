#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../tokenizer/tiny_tokenizer.h"
#include "tasks/rng.h"
#include "tasks/task_export.h"
#include "tasks/task_prompt.h"
#include "tasks/tasks.h"
#include "util/error.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

// A hermetic word list (the real one is /usr/share/dict/words from wamerican).
std::string test_word_file() {
  const fs::path path = fs::temp_directory_path() / ("starbench_test_words_" + std::to_string(::getpid()) + ".txt");
  if (!fs::exists(path)) {
    std::ofstream out(path);
    TaskRng rng(7);
    std::set<std::string> seen;
    while (seen.size() < 3000) {
      std::string w;
      const int64_t n = rng.between(3, 9);
      for (int64_t i = 0; i < n; ++i) w.push_back(static_cast<char>('a' + rng.below(26)));
      if (seen.insert(w).second) out << w << "\n";
    }
    out << "Capitalized\nit's\n";  // skipped by the loader
  }
  return path.string();
}

const Tokenizer& tiny() {
  static const Tokenizer tok = testing::tiny_tokenizer(
      {" the", " The", " special", " magic", " numbers", " for", " is", " grass", " green", " sky", " blue", " sun",
       " yellow", " Here", " we", " go", " There", " and", " back", " again", " VAR", " One", " of", "10", "20"});
  return tok;
}

TaskOptions test_options() {
  TaskOptions o;
  o.words_path = test_word_file();
  return o;
}

int64_t total_tokens(const Tokenizer& tok, const TaskSample& s) {
  return static_cast<int64_t>(tok.encode(s.context, false).size() + tok.encode(s.query, false).size());
}

// Every "One of the special magic T for KEY is: VALUE." in the context, by key.
std::map<std::string, std::vector<std::string>> parse_needles(const std::string& context) {
  std::map<std::string, std::vector<std::string>> out;
  const std::string marker = "One of the special magic ";
  for (size_t pos = context.find(marker); pos != std::string::npos; pos = context.find(marker, pos + 1)) {
    const size_t for_pos = context.find(" for ", pos) + 5;
    const size_t is_pos = context.find(" is: ", for_pos);
    const size_t end = context.find('.', is_pos);
    out[context.substr(for_pos, is_pos - for_pos)].push_back(context.substr(is_pos + 5, end - is_pos - 5));
  }
  return out;
}

std::vector<std::string> split_keys(std::string keys) {
  std::vector<std::string> out;
  size_t pos;
  while ((pos = keys.find(", ")) != std::string::npos) {
    out.push_back(keys.substr(0, pos));
    keys = keys.substr(pos + 2);
  }
  if (keys.rfind("and ", 0) == 0) keys = keys.substr(4);
  out.push_back(keys);
  return out;
}

std::multiset<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

class NiahTasks : public ::testing::TestWithParam<std::string> {};

TEST_P(NiahTasks, SizedAndAnswerRecoverable) {
  const std::string task = GetParam();
  const int64_t target = 3000;
  const auto samples = generate_task_samples(task, target, 3, 11, tiny(), test_options());
  ASSERT_EQ(samples.size(), 3u);
  for (const auto& s : samples) {
    EXPECT_EQ(s.task, task);
    EXPECT_EQ(s.metric, "all");
    const int64_t total = total_tokens(tiny(), s);
    EXPECT_EQ(total, s.context_tokens + s.query_tokens);
    EXPECT_LE(std::abs(total - target), target / 100) << total;
    // Parse the question back: "... for KEYS mentioned in the provided text?"
    const size_t for_pos = s.query.find(" for ") + 5;
    const auto keys = split_keys(s.query.substr(for_pos, s.query.find(" mentioned") - for_pos));
    const auto needles = parse_needles(s.context);
    std::vector<std::string> recovered;
    for (const auto& key : keys) {
      ASSERT_TRUE(needles.count(key)) << "key " << key << " has no needle in the context";
      recovered.insert(recovered.end(), needles.at(key).begin(), needles.at(key).end());
    }
    EXPECT_EQ(as_set(recovered), as_set(s.answers));
    for (const auto& answer : s.answers) EXPECT_NE(s.context.find(answer), std::string::npos);
    EXPECT_GE(s.depth, 0.0);
    EXPECT_LE(s.depth, 1.0);
  }
}

INSTANTIATE_TEST_SUITE_P(All, NiahTasks,
                         ::testing::Values("niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1",
                                           "niah_multikey_2", "niah_multikey_3", "niah_multivalue",
                                           "niah_multiquery"));

TEST(Tasks, NeedleDepthFollowsRequest) {
  TaskOptions o = test_options();
  for (double depth : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    o.depth = depth;
    const auto s = generate_task_samples("niah_single_1", 4000, 1, 3, tiny(), o)[0];
    const size_t start = s.context.find('\n'), pos = s.context.find("One of the special magic");
    const double relative = double(pos - start) / double(s.context.size() - start);
    EXPECT_NEAR(relative, depth, 0.03) << "depth " << depth;
    EXPECT_NEAR(s.depth, depth, 0.01);
  }
}

TEST(Tasks, VariableTrackingChainResolves) {
  for (const auto& s : generate_task_samples("vt", 3000, 2, 5, tiny(), test_options())) {
    EXPECT_LE(std::abs(total_tokens(tiny(), s) - 3000), 30);
    // Parse every "VAR X = Y" and follow assignments from the queried value.
    std::map<std::string, std::string> assign;
    for (size_t pos = s.context.find("VAR "); pos != std::string::npos;) {
      const size_t eq = s.context.find(" = ", pos);
      const std::string lhs = s.context.substr(pos + 4, eq - pos - 4);
      std::string rhs = s.context.substr(eq + 3, s.context.find_first_of(" \n", eq + 3) - eq - 3);
      if (rhs == "VAR") rhs = s.context.substr(eq + 7, 5);
      assign[lhs] = rhs;
      pos = s.context.find("VAR ", s.context.find_first_of(" \n", eq + 3 + (rhs.size() == 5 ? 4 : 0)));
    }
    const size_t value_pos = s.query.find("the value ") + 10;
    std::set<std::string> holders = {s.query.substr(value_pos, s.query.find(' ', value_pos) - value_pos)};
    std::vector<std::string> found;
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& [lhs, rhs] : assign) {
        if (holders.count(rhs) && !holders.count(lhs)) {
          holders.insert(lhs);
          found.push_back(lhs);
          grew = true;
        }
      }
    }
    EXPECT_EQ(found.size(), 5u);
    EXPECT_EQ(as_set(found), as_set(s.answers));
  }
}

TEST(Tasks, CommonWordsAreTheTopTen) {
  for (const auto& s : generate_task_samples("cwe", 3000, 2, 5, tiny(), test_options())) {
    EXPECT_LE(std::abs(total_tokens(tiny(), s) - 3000), 30);
    std::map<std::string, int> counts;
    const std::string list = s.context.substr(s.context.find('\n') + 1);
    size_t pos = 0;
    int expected_number = 1;
    while ((pos = list.find(". ", pos)) != std::string::npos) {
      const size_t num_start = list.rfind(' ', pos) == std::string::npos ? 0 : list.rfind(' ', pos) + 1;
      EXPECT_EQ(std::stoi(list.substr(num_start, pos - num_start)), expected_number++);
      const size_t end = list.find_first_of(" \n", pos + 2);
      ++counts[list.substr(pos + 2, end - pos - 2)];
      pos = end;
    }
    std::vector<std::pair<int, std::string>> ranked;
    for (const auto& [w, c] : counts) ranked.emplace_back(-c, w);
    std::sort(ranked.begin(), ranked.end());
    ASSERT_GT(ranked.size(), 10u);
    EXPECT_LT(ranked[9].first, ranked[10].first);  // strict gap after the tenth
    std::vector<std::string> top;
    for (int i = 0; i < 10; ++i) top.push_back(ranked[i].second);
    EXPECT_EQ(as_set(top), as_set(s.answers));
  }
}

TEST(Tasks, FrequentWordsAreTheTopThree) {
  for (const auto& s : generate_task_samples("fwe", 3000, 2, 5, tiny(), test_options())) {
    EXPECT_LE(std::abs(total_tokens(tiny(), s) - 3000), 30);
    std::map<std::string, int> counts;
    std::string text = s.context.substr(s.context.find("coded words. ") + 13);
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find_first_of(" \n", pos);
      if (end == std::string::npos) end = text.size();
      const std::string w = text.substr(pos, end - pos);
      if (!w.empty() && w != "....") ++counts[w];
      pos = end + 1;
    }
    std::vector<std::pair<int, std::string>> ranked;
    for (const auto& [w, c] : counts) ranked.emplace_back(-c, w);
    std::sort(ranked.begin(), ranked.end());
    ASSERT_EQ(s.answers.size(), 3u);
    EXPECT_EQ(as_set({ranked[0].second, ranked[1].second, ranked[2].second}), as_set(s.answers));
  }
}

TEST(Tasks, DeterministicBySeed) {
  for (const std::string task : {"niah_single_2", "niah_multikey_3", "vt", "cwe", "fwe"}) {
    const auto a = generate_task_samples(task, 2000, 2, 42, tiny(), test_options());
    const auto b = generate_task_samples(task, 2000, 2, 42, tiny(), test_options());
    const auto c = generate_task_samples(task, 2000, 2, 43, tiny(), test_options());
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(a[i].context, b[i].context) << task;
      EXPECT_EQ(a[i].query, b[i].query) << task;
      EXPECT_EQ(a[i].answers, b[i].answers) << task;
      EXPECT_NE(a[i].context, c[i].context) << task;
    }
    EXPECT_NE(a[0].context, a[1].context) << task;
  }
}

TEST(Tasks, QaFromUserData) {
  TaskOptions o = test_options();
  try {
    generate_task_samples("qa_1", 2000, 1, 1, tiny(), o);
    FAIL() << "qa_1 without data must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SQuAD"), std::string::npos) << e.what();
  }
  // A small SQuAD-shaped file: 60 paragraphs, one question each.
  nlohmann::json paragraphs = nlohmann::json::array();
  for (int i = 0; i < 60; ++i) {
    paragraphs.push_back({{"context", "Paragraph " + std::to_string(i) + " says the grass is green and city " +
                                          std::to_string(i) + " is called Town" + std::to_string(i) + "."},
                          {"qas", {{{"question", "What is city " + std::to_string(i) + " called?"},
                                    {"answers", {{{"text", "Town" + std::to_string(i)}}}}}}}});
  }
  const fs::path path = fs::temp_directory_path() / ("starbench_test_squad_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << nlohmann::json{{"data", {{{"paragraphs", paragraphs}}}}}.dump();
  o.squad_path = path.string();
  const auto samples = generate_task_samples("qa_1", 1500, 3, 1, tiny(), o);
  for (const auto& s : samples) {
    EXPECT_EQ(s.metric, "part");
    ASSERT_EQ(s.answers.size(), 1u);
    EXPECT_NE(s.context.find(s.answers[0] + "."), std::string::npos);
    EXPECT_NE(s.query.find("What is city"), std::string::npos);
    EXPECT_LE(std::abs(total_tokens(tiny(), s) - 1500), 15);
  }
  fs::remove(path);
  o.hotpot_path = "/nonexistent/hotpot.json";
  EXPECT_THROW(generate_task_samples("qa_2", 2000, 1, 1, tiny(), o), Error);
}

TEST(Tasks, BadRequests) {
  EXPECT_THROW(generate_task_samples("niah_single_9", 2000, 1, 1, tiny(), test_options()), Error);
  EXPECT_THROW(generate_task_samples("vt", 2000, 0, 1, tiny(), test_options()), Error);
  EXPECT_THROW(generate_task_samples("vt", 10, 1, 1, tiny(), test_options()), Error);
  TaskOptions o = test_options();
  o.words_path = "/nonexistent/words";
  try {
    generate_task_samples("niah_single_2", 2000, 1, 1, tiny(), o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wamerican"), std::string::npos);
  }
}

// With the real Llama-3 tokenizer (set by tests/tokenizer/check_tokenizer.sh) and
// the system word list: sizes within 1% at a realistic length.
TEST(TasksRealTokenizer, SizedWithin1Percent) {
  const char* dir = std::getenv("STARBENCH_TOKENIZER_REF_DIR");
  if (!dir) GTEST_SKIP() << "STARBENCH_TOKENIZER_REF_DIR not set";
  std::ifstream in(fs::path(dir) / "reference.json");
  ASSERT_TRUE(in);
  const Tokenizer tok = Tokenizer::load(nlohmann::json::parse(in)["tokenizer_json"].get<std::string>());
  TaskOptions o;  // the system word list
  for (const std::string task : {"niah_single_2", "niah_multikey_2", "vt", "cwe", "fwe"}) {
    for (int64_t target : {4096, 32768}) {
      const auto s = generate_task_samples(task, target, 1, 9, tok, o)[0];
      EXPECT_LE(std::abs(total_tokens(tok, s) - target), target / 100) << task << " " << target;
      for (const auto& answer : s.answers) EXPECT_NE(s.context.find(answer), std::string::npos) << task;
    }
  }
}


// ---- generation one sample at a time and the JSON lines of `starbench tasks`

TEST(TaskExport, OneSampleEqualsItsSet) {
  for (const std::string task : {"niah_multikey_1", "vt", "fwe"}) {
    const auto set = generate_task_samples(task, 2000, 3, 17, tiny(), test_options());
    for (int64_t i = 0; i < 3; ++i) {
      const TaskSample one = generate_task_sample(task, 2000, i, 3, 17, tiny(), test_options());
      EXPECT_EQ(one.context, set[i].context) << task << " " << i;
      EXPECT_EQ(one.query, set[i].query) << task << " " << i;
      EXPECT_EQ(one.answers, set[i].answers) << task << " " << i;
      EXPECT_EQ(one.depth, set[i].depth) << task << " " << i;
      EXPECT_EQ(one.index, i);
    }
  }
  EXPECT_THROW(generate_task_sample("vt", 2000, 3, 3, 1, tiny(), test_options()), Error);
  EXPECT_THROW(generate_task_sample("vt", 2000, -1, 3, 1, tiny(), test_options()), Error);
}

TEST(TaskExport, JsonLineHoldsTheSampleAndItsPromptIds) {
  const TaskSample s = generate_task_sample("niah_single_1", 1500, 1, 3, 5, tiny(), test_options());
  for (bool chat : {false, true}) {
    const auto line = nlohmann::json::parse(task_sample_json(s, 1501, 3, 5, tiny(), chat, true));
    EXPECT_EQ(line["task"], "niah_single_1");
    EXPECT_EQ(line["target_tokens"], 1501);
    EXPECT_EQ(line["index"], 1);
    EXPECT_EQ(line["samples"], 3);
    EXPECT_EQ(line["seed"], 5);
    EXPECT_EQ(line["sample_seed"].get<uint64_t>(), sample_seed("niah_single_1", 5, 1));
    EXPECT_EQ(line["chat_template"], chat);
    EXPECT_EQ(line["context"], s.context);
    EXPECT_EQ(line["query"], s.query);
    EXPECT_EQ(line["answers"].get<std::vector<std::string>>(), s.answers);
    EXPECT_EQ(line["metric"], "all");
    EXPECT_DOUBLE_EQ(line["depth"].get<double>(), s.depth);
    EXPECT_EQ(line["context_tokens"], s.context_tokens);
    EXPECT_EQ(line["query_tokens"], s.query_tokens);
    EXPECT_EQ(line["answer_tokens"], 128);
    const PromptTokens prompt = tokenize_task_prompt(tiny(), s, chat);
    EXPECT_EQ(line["context_ids"].get<std::vector<int32_t>>(), prompt.context);
    EXPECT_EQ(line["query_ids"].get<std::vector<int32_t>>(), prompt.query);
    EXPECT_EQ(line["prompt_tokens"].get<int64_t>(), int64_t(prompt.context.size() + prompt.query.size()));
    EXPECT_EQ(prompt.context.front(), tiny().bos_id());  // plain: BOS first; chat: the template starts with it
    EXPECT_EQ(line["prompt_tokens"].get<int64_t>(),
              s.context_tokens + s.query_tokens + prompt_scaffold_tokens(tiny(), chat));
  }
  EXPECT_FALSE(nlohmann::json::parse(task_sample_json(s, 1501, 3, 5, tiny(), false, false)).contains("context_ids"));
}

TEST(TaskExport, SameLinesWhateverTheThreadCount) {
  TaskExportSettings settings;
  settings.tasks = {"niah_single_2", "vt"};
  settings.seq_lens = {800, 1200};
  settings.samples = 5;
  settings.seed = 3;
  settings.options = test_options();
  std::vector<std::string> outputs;
  for (int threads : {1, 3}) {
    settings.threads = threads;
    std::ostringstream out;
    EXPECT_EQ(write_task_samples_jsonl(settings, tiny(), out), 20);
    outputs.push_back(out.str());
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  // (task, length, index) order, each sample sized for its length minus BOS.
  std::istringstream lines(outputs[0]);
  std::string text;
  size_t n = 0;
  while (std::getline(lines, text)) {
    const auto line = nlohmann::json::parse(text);
    EXPECT_EQ(line["task"], settings.tasks[n / 10]);
    EXPECT_EQ(line["target_tokens"], settings.seq_lens[(n / 5) % 2]);
    EXPECT_EQ(line["index"], int64_t(n % 5));
    const int64_t target = line["target_tokens"].get<int64_t>();
    EXPECT_LE(std::abs(line["prompt_tokens"].get<int64_t>() - target), target / 100 + 1);
    ++n;
  }
  EXPECT_EQ(n, 20u);
}

TEST(TaskExport, BadSettingsFailBeforeAnyOutput) {
  const auto expect_error = [](TaskExportSettings settings, const std::string& fragment) {
    std::ostringstream out;
    try {
      write_task_samples_jsonl(settings, tiny(), out);
      ADD_FAILURE() << "no error, expected " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
    EXPECT_TRUE(out.str().empty()) << fragment;
  };
  TaskExportSettings good;
  good.tasks = {"vt"};
  good.seq_lens = {600};
  good.options = test_options();
  TaskExportSettings s = good;
  s.tasks = {"vt", "niah_single_9"};
  expect_error(s, "unknown task 'niah_single_9'");
  s = good;
  s.seq_lens = {600, 256};
  expect_error(s, "--seq-len 256 leaves 255 tokens");
  s = good;
  s.samples = 0;
  expect_error(s, "--samples must be >= 1");
  s = good;
  s.tasks = {"niah_single_1"};
  s.options.words_path = "/nonexistent/words";
  expect_error(s, "wamerican");
}

TEST(TaskExport, AGeneratorErrorOnAWorkerReachesTheCaller) {
  TaskExportSettings s;
  s.tasks = {"vt", "qa_1"};  // qa_1 without --squad fails inside a worker thread
  s.seq_lens = {600};
  s.samples = 4;
  s.threads = 3;
  s.options = test_options();
  std::ostringstream out;
  try {
    write_task_samples_jsonl(s, tiny(), out);
    FAIL() << "qa_1 without data must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SQuAD"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sb
