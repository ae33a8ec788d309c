// RULER needle-in-a-haystack family: needles "One of the special magic {type}
// for {key} is: {value}." hidden in a haystack; the query asks for the values
// of one or more keys.
#include <set>

#include <fmt/format.h>

#include "tasks/haystack.h"
#include "tasks/rng.h"
#include "tasks/sizing.h"
#include "tasks/task_generators.h"
#include "tasks/word_list.h"
#include "util/error.h"

namespace sb {
namespace {

enum class Kind { kWords, kNumbers, kUuids };

struct NiahConfig {
  HaystackKind haystack;
  Kind key, value;
  int num_keys = 1, num_values = 1, num_queries = 1;
};

// RULER's synthetic.yaml settings for the eight NIAH tasks.
NiahConfig config_for(const std::string& task) {
  using H = HaystackKind;
  if (task == "niah_single_1") return {H::kNoise, Kind::kWords, Kind::kNumbers};
  if (task == "niah_single_2") return {H::kEssay, Kind::kWords, Kind::kNumbers};
  if (task == "niah_single_3") return {H::kEssay, Kind::kWords, Kind::kUuids};
  if (task == "niah_multikey_1") return {H::kEssay, Kind::kWords, Kind::kNumbers, 4, 1, 1};
  if (task == "niah_multikey_2") return {H::kNeedle, Kind::kWords, Kind::kNumbers};
  if (task == "niah_multikey_3") return {H::kNeedle, Kind::kUuids, Kind::kUuids};
  if (task == "niah_multivalue") return {H::kEssay, Kind::kWords, Kind::kNumbers, 1, 4, 1};
  if (task == "niah_multiquery") return {H::kEssay, Kind::kWords, Kind::kNumbers, 4, 1, 4};
  fail("tasks: unknown needle-in-a-haystack task \"{}\"", task);
}

std::string random_uuid(TaskRng& rng) {
  const uint64_t a = rng.next(), b = rng.next();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFF,
                     0x8000 | ((b >> 48) & 0x3FFF), b & 0xFFFFFFFFFFFFull);
}

std::string random_item(Kind kind, TaskRng& rng, const std::vector<std::string>& words) {
  switch (kind) {
    case Kind::kWords: return rng.pick(words) + "-" + rng.pick(words);  // RULER: adjective-noun keys
    case Kind::kNumbers: return std::to_string(rng.between(1000000, 9999999));
    case Kind::kUuids: return random_uuid(rng);
  }
  return {};
}

const char* type_name(Kind kind) {
  switch (kind) {
    case Kind::kWords: return "words";
    case Kind::kNumbers: return "numbers";
    case Kind::kUuids: return "uuids";
  }
  return "";
}

std::string needle_text(Kind value, const std::string& key, const std::string& v) {
  return fmt::format("One of the special magic {} for {} is: {}.", type_name(value), key, v);
}

std::string join_keys(const std::vector<std::string>& keys) {
  if (keys.size() == 1) return keys[0];
  std::string out;
  for (size_t i = 0; i + 1 < keys.size(); ++i) out += keys[i] + ", ";
  return out + "and " + keys.back();
}

}  // namespace

TaskSample make_niah_sample(const SampleRequest& r) {
  const NiahConfig cfg = config_for(r.task);
  const auto& words = load_word_list(r.options.words_path);
  TaskRng rng(r.seed);
  std::set<std::string> used_keys;
  std::vector<std::string> keys;
  while (static_cast<int>(keys.size()) < cfg.num_keys) {
    std::string key = random_item(cfg.key, rng, words);
    if (used_keys.insert(key).second) keys.push_back(key);
  }
  std::vector<std::vector<std::string>> values(cfg.num_keys);
  std::vector<Needle> needles;
  for (int k = 0; k < cfg.num_keys; ++k) {
    for (int v = 0; v < cfg.num_values; ++v) {
      values[k].push_back(random_item(cfg.value, rng, words));
      // The first needle sits at the requested depth; the others anywhere.
      const double depth = needles.empty() ? r.depth : rng.uniform();
      needles.push_back({depth, needle_text(cfg.value, keys[k], values[k].back())});
    }
  }
  // The first num_queries keys are asked for; their values are the answers.
  const std::vector<std::string> queried(keys.begin(), keys.begin() + cfg.num_queries);
  std::vector<std::string> answers;
  for (int k = 0; k < cfg.num_queries; ++k) answers.insert(answers.end(), values[k].begin(), values[k].end());

  // Distractor needles (multikey_2/3) never reuse a real key.
  auto distractor = [&, cfg](TaskRng& g) {
    std::string key;
    do key = random_item(cfg.key, g, words); while (used_keys.count(key));
    return needle_text(cfg.value, key, random_item(cfg.value, g, words));
  };
  Haystack haystack(cfg.haystack, rng.next(), &words, distractor);
  const std::string type = type_name(cfg.value);
  const std::string query_keys = join_keys(queried);
  const PromptBuilder build = [&](int64_t units, int64_t fine) {
    BuiltPrompt p;
    std::vector<double> depths;
    p.context = fmt::format(
        "Some special magic {0} are hidden within the following text. Make sure to memorize it. I will quiz you "
        "about the {0} afterwards.\n{1}\n",
        type, haystack_with_needles(haystack, units, needles, &depths) + noise_padding(fine));
    p.query = fmt::format(
        "What are all the special magic {0} for {1} mentioned in the provided text? The special magic {0} for {1} "
        "mentioned in the provided text are",
        type, query_keys);
    p.depth = depths.empty() ? r.depth : depths[0];
    return p;
  };
  // A distractor needle is tens of tokens: let a few noise sentences make up the rest.
  const SizeLimits limits{int64_t{1} << 40, cfg.haystack == HaystackKind::kNeedle ? 64 : 0};
  const SizedPrompt sized = fit_to_target(build, limits, r.target_tokens, r.options.tolerance, r.tokenizer,
                                          r.task + " sample " + std::to_string(r.index));
  return make_task_sample(sized, answers, "all");
}

}  // namespace sb
