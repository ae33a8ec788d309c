#pragma once
// Options whose values are parsed into types where they enter (command line or
// config file: both go through the option): a method setting's name through
// its name table (attention/method_settings.h), a star block size into a
// BlockRule. A bad value is refused at parse time with its reason (the valid
// names), before any rank starts work.
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "attention/method_settings.h"
#include "util/error.h"

namespace sb {

template <typename Value>
using ParseValue = std::function<Value(const std::string&)>;

// A list option ("a,b" or repeated): each item parsed by `parse` into `target`.
template <typename Value>
CLI::Option* add_parsed_list_option(CLI::App& app, const std::string& flag, std::vector<Value>& target,
                                    ParseValue<Value> parse, const std::string& help, const std::string& shown_default) {
  auto store = [&target, parse](const std::vector<std::string>& items) {
    std::vector<Value> values;
    for (const std::string& item : items) {
      try {
        values.push_back(parse(item));
      } catch (const Error& error) {
        throw CLI::ValidationError(error.what());
      }
    }
    target = std::move(values);
  };
  return app.add_option_function<std::vector<std::string>>(flag, store, help)
      ->delimiter(',')
      ->default_str(shown_default);
}

// A one-value option parsed by `parse` into `target`.
template <typename Value>
CLI::Option* add_parsed_option(CLI::App& app, const std::string& flag, Value& target, ParseValue<Value> parse,
                               const std::string& help, const std::string& shown_default) {
  auto store = [&target, parse](const std::string& item) {
    try {
      target = parse(item);
    } catch (const Error& error) {
      throw CLI::ValidationError(error.what());
    }
  };
  return app.add_option_function<std::string>(flag, store, help)->default_str(shown_default);
}

// The names of a list of setting values ("global,ring").
template <typename Setting>
std::string setting_list_name(const std::vector<Setting>& values) {
  std::vector<std::string> names;
  for (Setting value : values) names.push_back(setting_name(value));
  return fmt::format("{}", fmt::join(names, ","));
}

template <typename Setting>
CLI::Option* add_setting_list_option(CLI::App& app, const std::string& flag, std::vector<Setting>& target,
                                     const std::string& help) {
  return add_parsed_list_option<Setting>(
      app, flag, target, [](const std::string& name) { return parse_setting<Setting>(name); }, help,
      setting_list_name(target));
}

template <typename Setting>
CLI::Option* add_setting_option(CLI::App& app, const std::string& flag, Setting& target, const std::string& help) {
  return add_parsed_option<Setting>(
      app, flag, target, [](const std::string& name) { return parse_setting<Setting>(name); }, help,
      setting_name(target));
}

// "global | ring | star | duo": a setting's names for --help.
template <typename Setting>
std::string setting_choices() {
  return fmt::format("{}", fmt::join(setting_names<Setting>(), " | "));
}

}  // namespace sb
