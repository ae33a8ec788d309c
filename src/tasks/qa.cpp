// RULER QA tasks: a question over its gold document(s) hidden among distractor
// documents from the same data set. The data are user-provided: qa_1 reads a
// SQuAD dev JSON, qa_2 a HotpotQA dev (distractor setting) JSON.
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tasks/rng.h"
#include "tasks/sizing.h"
#include "tasks/task_generators.h"
#include "util/error.h"

namespace sb {
namespace {

struct QaItem {
  std::string question;
  std::vector<std::string> answers;
  std::vector<size_t> gold;  // indices into QaData::documents
};

struct QaData {
  std::vector<std::string> documents;
  std::vector<QaItem> items;
};

nlohmann::json read_json(const std::string& path, const std::string& flag, const std::string& task) {
  if (path.empty()) fail("{}: no data file given: pass {}; it is not shipped", task, flag);
  std::ifstream in(path);
  if (!in) fail("{}: cannot open {} ({})", task, path, flag);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {} is not valid JSON: {}", task, path, e.what());
  }
}

// SQuAD: {"data": [{"paragraphs": [{"context", "qas": [{"question", "answers": [{"text"}]}]}]}]}
QaData parse_squad(const nlohmann::json& root, const std::string& path) {
  QaData data;
  if (!root.contains("data") || !root["data"].is_array()) fail("qa_1: {} has no \"data\" array (not SQuAD)", path);
  for (const auto& article : root["data"]) {
    for (const auto& paragraph : article.value("paragraphs", nlohmann::json::array())) {
      data.documents.push_back(paragraph.value("context", ""));
      for (const auto& qa : paragraph.value("qas", nlohmann::json::array())) {
        QaItem item{qa.value("question", ""), {}, {data.documents.size() - 1}};
        for (const auto& answer : qa.value("answers", nlohmann::json::array())) {
          const std::string text = answer.value("text", "");
          if (!text.empty() && std::find(item.answers.begin(), item.answers.end(), text) == item.answers.end())
            item.answers.push_back(text);
        }
        if (!item.answers.empty() && !item.question.empty()) data.items.push_back(std::move(item));
      }
    }
  }
  return data;
}

// HotpotQA: [{"question", "answer", "context": [[title, [sentence, ...]], ...]}]
QaData parse_hotpot(const nlohmann::json& root, const std::string& path) {
  QaData data;
  if (!root.is_array()) fail("qa_2: {} is not a JSON array (not HotpotQA)", path);
  std::map<std::string, size_t> by_text;
  for (const auto& entry : root) {
    QaItem item{entry.value("question", ""), {entry.value("answer", "")}, {}};
    for (const auto& paragraph : entry.value("context", nlohmann::json::array())) {
      if (!paragraph.is_array() || paragraph.size() != 2) continue;
      std::string text = paragraph[0].get<std::string>() + "\n";
      for (const auto& sentence : paragraph[1]) text += sentence.get<std::string>();
      auto [it, added] = by_text.emplace(text, data.documents.size());
      if (added) data.documents.push_back(text);
      item.gold.push_back(it->second);
    }
    if (!item.question.empty() && !item.answers[0].empty() && !item.gold.empty()) data.items.push_back(std::move(item));
  }
  return data;
}

const QaData& load_qa(const std::string& task, const TaskOptions& options) {
  static std::mutex mutex;
  static std::map<std::string, QaData> cache;
  const bool squad = task == "qa_1";
  const std::string& path = squad ? options.squad_path : options.hotpot_path;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(task + "\n" + path); it != cache.end()) return it->second;
  const auto root = read_json(path, squad ? "--squad FILE (SQuAD dev JSON)" : "--hotpotqa FILE (HotpotQA dev JSON)", task);
  QaData data = squad ? parse_squad(root, path) : parse_hotpot(root, path);
  if (data.items.empty()) fail("{}: {} holds no answerable questions", task, path);
  return cache.emplace(task + "\n" + path, std::move(data)).first->second;
}

constexpr const char* kInstruction =
    "Answer the question based on the given documents. Only give me the answer and do not output any other words.";

}  // namespace

TaskSample make_qa_sample(const SampleRequest& r) {
  const QaData& data = load_qa(r.task, r.options);
  TaskRng rng(r.seed);
  const QaItem& item = data.items[rng.below(data.items.size())];
  // Distractors: every other document, in a per-sample random order.
  std::vector<size_t> distractors;
  for (size_t d = 0; d < data.documents.size(); ++d) {
    if (std::find(item.gold.begin(), item.gold.end(), d) == item.gold.end()) distractors.push_back(d);
  }
  rng.shuffle(distractors);
  // fine: the first `fine` words of one more distractor, since whole documents
  // are too coarse to land within 1% of the target.
  const std::string& partial = data.documents[distractors.empty() ? item.gold[0] : distractors.back()];
  const PromptBuilder build = [&](int64_t units, int64_t fine) {
    std::vector<size_t> docs(distractors.begin(), distractors.begin() + units);
    const auto at = static_cast<size_t>(std::llround(r.depth * static_cast<double>(units)));
    docs.insert(docs.begin() + static_cast<std::ptrdiff_t>(at), item.gold.begin(), item.gold.end());
    std::string text;
    for (size_t i = 0; i < docs.size(); ++i) {
      text += fmt::format("{}Document {}:\n{}", i ? "\n\n" : "", i + 1, data.documents[docs[i]]);
    }
    if (fine > 0) {
      size_t end = 0;
      for (int64_t w = 0; w < fine && end != std::string::npos; ++w) end = partial.find(' ', end + 1);
      text += fmt::format("\n\nDocument {}:\n{}", docs.size() + 1, partial.substr(0, end));
    }
    BuiltPrompt p;
    p.context = fmt::format("{}\n\nThe following are given documents.\n\n{}\n\n", kInstruction, text);
    p.query = fmt::format("{}\n\nQuestion: {} Answer:", kInstruction, item.question);
    p.depth = units > 0 ? static_cast<double>(at) / static_cast<double>(units) : 0.0;
    return p;
  };
  const int64_t usable = std::max<int64_t>(0, static_cast<int64_t>(distractors.size()) - 1);  // last one is `partial`
  const int64_t partial_words = static_cast<int64_t>(std::count(partial.begin(), partial.end(), ' ')) + 1;
  const SizedPrompt sized = fit_to_target(build, SizeLimits{usable, partial_words}, r.target_tokens,
                                          r.options.tolerance, r.tokenizer, r.task + " sample " + std::to_string(r.index));
  return make_task_sample(sized, item.answers, "part");
}

}  // namespace sb
