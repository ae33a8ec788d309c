#include "tasks/task_file.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace sb {
namespace {

using json = nlohmann::json;

std::vector<std::string> answers_of(const json& value, const char* field, const std::string& where) {
  if (value.is_string()) return {value.get<std::string>()};
  SB_REQUIRE(value.is_array() && !value.empty(), "{}: '{}' must be a string or a non-empty list of strings", where,
             field);
  std::vector<std::string> answers;
  for (const json& item : value) {
    SB_REQUIRE(item.is_string(), "{}: '{}' must be a string or a non-empty list of strings", where, field);
    answers.push_back(item.get<std::string>());
  }
  return answers;
}

std::string string_field(const json& line, const char* field, const std::string& where) {
  const auto found = line.find(field);
  SB_REQUIRE(found != line.end(), "{}: no '{}' field", where, field);
  SB_REQUIRE(found->is_string(), "{}: '{}' must be a string", where, field);
  return found->get<std::string>();
}

bool is_blank(const std::string& text) { return text.find_first_not_of(" \t\r\n") == std::string::npos; }

}  // namespace

const char* task_file_format_name(TaskFileFormat format) {
  return format == TaskFileFormat::ruler ? "ruler" : "star_attention";
}

bool is_task_file_task(const std::string& task) { return task.rfind("file:", 0) == 0; }

std::string task_file_task_name(const std::string& path) {
  return "file:" + std::filesystem::path(path).stem().string();
}

size_t ruler_query_start(const std::string& input) {
  size_t end = input.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return 0;
  const size_t newline = input.rfind('\n', end);
  return newline == std::string::npos ? 0 : newline + 1;
}

TaskFile read_task_file(const std::string& path, const std::string& metric) {
  std::ifstream in(path);
  SB_REQUIRE(in.good(), "--task-file {}: cannot be read", path);
  TaskFile file;
  file.path = path;
  file.name = task_file_task_name(path);
  std::set<int64_t> indices;
  std::string text;
  int64_t line_number = 0;
  bool format_known = false;
  while (std::getline(in, text)) {
    ++line_number;
    if (is_blank(text)) continue;
    const std::string where = path + ":" + std::to_string(line_number);
    json line;
    try {
      line = json::parse(text);
    } catch (const json::parse_error& error) {
      fail("{}: not a JSON object ({})", where, error.what());
    }
    SB_REQUIRE(line.is_object(), "{}: not a JSON object", where);
    const bool star = line.contains("input_context") || line.contains("input_query");
    const bool ruler = line.contains("input");
    SB_REQUIRE(star != ruler, "{}: {}", where,
               star ? "holds both Star Attention's (input_context, input_query) and RULER's (input) fields"
                    : "neither Star Attention's fields (input_context, input_query, output) nor RULER's (input, "
                      "outputs)");
    const TaskFileFormat format = star ? TaskFileFormat::star_attention : TaskFileFormat::ruler;
    SB_REQUIRE(!format_known || format == file.format, "{}: a {} line in a file whose first sample is {}", where,
               task_file_format_name(format), task_file_format_name(file.format));
    file.format = format;
    format_known = true;

    TaskSample sample;
    sample.task = file.name;
    sample.metric = metric;
    if (star) {
      sample.context = string_field(line, "input_context", where);
      sample.query = string_field(line, "input_query", where);
      SB_REQUIRE(line.contains("output"), "{}: no 'output' field (the reference answer)", where);
      sample.answers = answers_of(line["output"], "output", where);
    } else {
      const std::string input = string_field(line, "input", where);
      SB_REQUIRE(line.contains("outputs"), "{}: no 'outputs' field (the reference answers)", where);
      sample.answers = answers_of(line["outputs"], "outputs", where);
      const size_t split = ruler_query_start(input);
      sample.context = input.substr(0, split);
      sample.query = input.substr(split);
      if (line.contains("answer_prefix")) sample.query += string_field(line, "answer_prefix", where);
    }
    SB_REQUIRE(!is_blank(sample.context), "{}: the context is empty", where);
    SB_REQUIRE(!is_blank(sample.query), "{}: the query is empty", where);
    sample.index = int64_t(file.samples.size());
    if (line.contains("index")) {
      SB_REQUIRE(line["index"].is_number_integer() && line["index"].get<int64_t>() >= 0,
                 "{}: 'index' must be a non-negative integer", where);
      sample.index = line["index"].get<int64_t>();
    }
    SB_REQUIRE(indices.insert(sample.index).second, "{}: index {} appears twice in the file", where, sample.index);
    file.samples.push_back(std::move(sample));
  }
  SB_REQUIRE(!in.bad(), "--task-file {}: read error after line {}", path, line_number);
  SB_REQUIRE(!file.samples.empty(), "--task-file {} holds no sample", path);
  return file;
}

}  // namespace sb
