#include "tasks/word_list.h"

#include <fstream>
#include <map>
#include <mutex>

#include "util/error.h"

namespace sb {

const std::vector<std::string>& load_word_list(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::vector<std::string>> cache;  // loaded once per path
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  std::ifstream in(path);
  if (!in) fail("tasks: cannot read word list {} (install the Debian package wamerican, or pass another word list)", path);
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 3 || line.size() > 10) continue;
    bool plain = true;
    for (char c : line) plain = plain && c >= 'a' && c <= 'z';
    if (plain) words.push_back(line);
  }
  if (words.size() < 1000) fail("tasks: word list {} has only {} lower-case words of 3-10 letters (need 1000)", path, words.size());
  return cache.emplace(path, std::move(words)).first->second;
}

}  // namespace sb
