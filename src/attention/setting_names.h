#pragma once
// The name tables of the method settings (method_settings.h, layout.h): each
// setting type specialises SettingNames with its values' names, and these
// functions turn values into names and names into values, refusing an unknown
// name with the valid ones. One table per setting, used for parsing, labels,
// keys and messages alike.
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "util/error.h"

namespace sb {

// A setting's name table: its values' names in order, and the message that
// refuses a name not in it ("{name}", "{valid}").
template <typename Setting>
struct SettingNames;
template <typename Setting>
std::string setting_name(Setting value) {
  for (const auto& [entry, name] : SettingNames<Setting>::table) {
    if (entry == value) return std::string(name);
  }
  fail("setting value {} has no name", int(value));
}

template <typename Setting>
std::vector<std::string> setting_names() {
  std::vector<std::string> names;
  for (const auto& entry : SettingNames<Setting>::table) names.emplace_back(entry.second);
  return names;
}

// The value named `name`; an unknown name is refused with the valid ones (sb::Error).
template <typename Setting>
Setting parse_setting(std::string_view name) {
  for (const auto& [entry, entry_name] : SettingNames<Setting>::table) {
    if (entry_name == name) return entry;
  }
  throw Error(fmt::format(fmt::runtime(SettingNames<Setting>::unknown), fmt::arg("name", name),
                          fmt::arg("valid", fmt::join(setting_names<Setting>(), ", "))));
}

}  // namespace sb
