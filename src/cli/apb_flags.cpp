// APB's flags, shared by `run`, `simulate` (lists: a grid of anchor x passing
// sizes) and `forward` (one size each, checked there).
#include <string>
#include <vector>

#include <fmt/format.h>

#include "attention/apb_settings.h"
#include "cli/commands.h"
#include "cli/setting_options.h"

namespace sb {
namespace {

std::string size_list_name(const std::vector<ApbSize>& sizes) {
  std::vector<std::string> labels;
  for (const ApbSize& size : sizes) labels.push_back(size.label());
  return fmt::format("{}", fmt::join(labels, ","));
}

}  // namespace

void add_apb_options(CLI::App& command, ApbOptions& options) {
  add_parsed_list_option<ApbSize>(
      command, "--apb-anchor", options.anchors,
      [](const std::string& text) { return parse_apb_size(text, "--apb-anchor"); },
      "APB: context tokens in the anchor of hosts 1..H-1, tokens or C/k (default C/32: the paper's Table 8 "
      "ratio from 32K to 256K); the query comes on top with --apb-query-in-anchor on",
      size_list_name(options.anchors));
  add_parsed_list_option<ApbSize>(
      command, "--apb-passing", options.passings,
      [](const std::string& text) { return parse_apb_size(text, "--apb-passing"); },
      "APB: rows per KV head each host passes to the later hosts per layer, tokens or C/k, at most a block "
      "(default C/64, Table 8's ratio; 0: none, no compressor work)",
      size_list_name(options.passings));
  add_setting_option(command, "--apb-query-in-anchor", options.query_in_anchor,
                     "APB: the query tokens follow the anchor's context tokens (on, the paper's) or not (off)");
  add_parsed_option<ApbCompressorSource>(
      command, "--apb-compressor", options.compressor, parse_apb_compressor_source,
      "APB's compressor (required by --method apb): DIR with compressor.safetensors (from "
      "jobs/apb/convert_compressor.py) or random:SEED (synthetic weights, hidden 1024, for timing)",
      "");
}

}  // namespace sb
