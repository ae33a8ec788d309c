#include "experiment/record.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "attention/apb_compressor.h"
#include "attention/method_factory.h"
#include "util/error.h"
#include "util/utc_time.h"
#include "util/version.h"

namespace sb {
namespace {

RunRecord::Array matrix_array(const std::string& path, const std::vector<std::vector<double>>& rows) {
  RunRecord::Array array;
  array.path = path;
  const int64_t columns = rows.empty() ? 0 : int64_t(rows[0].size());
  array.shape = {int64_t(rows.size()), columns};
  for (const auto& row : rows) array.f64.insert(array.f64.end(), row.begin(), row.end());
  return array;
}

RunRecord::Array vector_array(const std::string& path, const std::vector<double>& values) {
  RunRecord::Array array;
  array.path = path;
  array.shape = {int64_t(values.size())};
  array.f64 = values;
  return array;
}

void add_duo_attributes(const RunSpec& spec, RunRecord& record) {
  if (!spec.method.duo) return;
  const DuoPattern& duo = *spec.method.duo;
  record.text["duo_pattern"] = duo.source;
  record.numbers["duo_sparsity"] = duo.sparsity();
  record.numbers["duo_threshold"] = duo.threshold;
  if (!std::isnan(duo.requested_sparsity)) record.numbers["duo_requested_sparsity"] = duo.requested_sparsity;
  record.integers["duo_sink"] = duo.sink;
  record.integers["duo_recent"] = duo.recent;
  record.integers["duo_streaming_heads"] = duo.streaming_count();
  record.integers["duo_retrieval_heads"] = duo.retrieval_count();
}

void add_apb_attributes(const RunSpec& spec, RunRecord& record) {
  if (spec.method.method != Method::Apb) return;
  const ApbSettings& apb = spec.method.apb;
  record.text["apb_anchor_rule"] = apb.anchor.label();
  record.text["apb_passing_rule"] = apb.passing.label();
  record.text["apb_query_in_anchor"] = setting_name(apb.query_in_anchor);
  record.text["apb_compressor"] = apb.source.label();
  record.integers["apb_passing"] = spec.plan.apb.passing;
  if (apb.compressor) {
    record.text["apb_compressor_digest"] = apb.compressor->digest();
    record.integers["apb_compressor_hidden"] = apb.compressor->hidden();
  }
}

}  // namespace

std::string duo_params_key(const DuoPattern* duo) {
  if (!duo) return {};
  return fmt::format(";duo={};duo_threshold={:.17g};duo_sink={};duo_recent={}", duo->source, duo->threshold,
                     duo->sink, duo->recent);
}

// What distinguishes runs of one method beyond the common fields.
static std::string provenance_key_suffix(const RunContext& context) {
  std::string suffix;
  for (const auto& [key, value] : context.provenance) suffix += fmt::format(";{}={}", key, value);
  return suffix;
}

// Star names its block rule as given (fixed, C/ranks, C/k): C/16 and a fixed
// 65536 are one block at 1M tokens but other settings (they differ at other
// lengths), so neither is taken for the other (issue 20, item 16).
static std::string method_key_suffix(const RunSpec& spec) {
  if (spec.method.method == Method::Star) {
    return fmt::format(";{}={};anchor_source={};anchor_positions={};anchor_mode={}", kBlockRuleKey,
                       spec.method.block_rule.label(), setting_name(spec.method.anchor_source),
                       setting_name(spec.method.anchor_positions), setting_name(spec.plan.anchor_mode));
  }
  if (spec.method.method == Method::Ring) return fmt::format(";ring_layout={}", setting_name(spec.method.ring_layout));
  if (spec.method.method == Method::Apb) {
    // block_size and anchor_size hold l_b and l_a; the compressor's content is in the identity. The
    // rules as given are keyed like star's block rule: C/64 and a fixed size that agree at one length
    // are two settings (issue 20, item 16).
    const ApbSettings& apb = spec.method.apb;
    return fmt::format(";apb_anchor_rule={};apb_passing={};apb_passing_rule={};apb_query_in_anchor={};apb_compressor={}",
                       apb.anchor.label(), spec.plan.apb.passing, apb.passing.label(),
                       setting_name(apb.query_in_anchor), apb.source.label());
  }
  return {};
}

int ranks_of_run(const RunSpec& spec, const RunContext& context) {
  return runs_on_one_rank(spec.method.method) ? context.hosts.gpus_per_host : context.job_world_size;
}

// Hosts of several GPUs are another run (one-GPU hosts keep the keys they had).
static std::string host_key_suffix(const RunSpec& spec, const RunContext& context) {
  const HostLayout& layout = context.hosts;
  if (layout.gpus_per_host == 1) return {};
  return fmt::format(";hosts={};gpus_per_host={};host_split={}", ranks_of_run(spec, context) / layout.gpus_per_host,
                     layout.gpus_per_host, host_split_name(layout.split));
}

std::string ranks_label(const RunRecord& record) {
  auto integer = [&](const char* key, int64_t otherwise) {
    auto found = record.integers.find(key);
    return found == record.integers.end() ? otherwise : found->second;
  };
  const int64_t gpus = integer("gpus_per_host", 1);
  if (gpus <= 1) return std::to_string(integer("world_size", 1));
  return fmt::format("{}x{}", integer("host_count", 1), gpus);
}

std::string hardware_key_suffix(const RunContext& context, int ranks) {
  // A simulated run's hardware is its platform and profile (provenance), not the machine simulating it.
  return provenance_key_suffix(context) + (context.simulated ? std::string() : hardware_key(context.placement, ranks));
}

std::string params_key(const RunSpec& spec, const RunContext& context) {
  const Method method = spec.method.method;
  const int ranks = ranks_of_run(spec, context);
  const bool star = method == Method::Star, apb = method == Method::Apb;
  // Task sample keys have always named the anchor as the sweep was given it
  // (-1: the block), timing keys the resolved size; kept so that files written
  // before resume as they did.
  const int64_t keyed_anchor = spec.task.empty() ? spec.plan.star.anchor_size : spec.method.anchor_size;
  return fmt::format(
      "model={};backend={};method={};seq_len={};query_len={};generate={};world_size={};block_size={};"
      "anchor_size={};repeats={};warmup={};seed={};task={};sample={}{}",
      context.model_name, context.backend, setting_name(method), spec.context_len, spec.query_len, spec.generate,
      ranks, star ? spec.plan.star.block_size : apb ? spec.plan.apb.blocks.block_size : 0,
      star ? keyed_anchor : apb ? spec.plan.apb.anchor_context_tokens() : 0, spec.repeats, spec.warmup, spec.seed,
      spec.task, spec.sample, method_key_suffix(spec) + duo_params_key(spec.method.duo.get())) +
         host_key_suffix(spec, context) + hardware_key_suffix(context, ranks);
}

std::string star_key_with_block_rule(const std::string& key, const std::string& block_rule) {
  const std::string named = fmt::format(";{}=", kBlockRuleKey);
  if (key.find(";method=star;") == std::string::npos || key.find(named) != std::string::npos) return key;
  const size_t anchor = key.find(";anchor_source=");
  if (anchor == std::string::npos || block_rule.empty()) return key;
  return key.substr(0, anchor) + named + block_rule + key.substr(anchor);
}

double median_of_slowest(const std::vector<std::vector<double>>& per_repeat_per_rank) {
  std::vector<double> slowest;
  for (const auto& ranks : per_repeat_per_rank) {
    if (!ranks.empty()) slowest.push_back(*std::max_element(ranks.begin(), ranks.end()));
  }
  if (slowest.empty()) return 0.0;
  std::sort(slowest.begin(), slowest.end());
  const size_t middle = slowest.size() / 2;
  return slowest.size() % 2 ? slowest[middle] : 0.5 * (slowest[middle - 1] + slowest[middle]);
}

RunRecord make_run_record(const RunOutcome& outcome, const RunContext& context, const Fidelity* fidelity) {
  const RunSpec& spec = outcome.spec;
  RunRecord record;
  const Method method = spec.method.method;
  record.text = {{"kind", spec.task.empty() ? "timing" : "task_sample"},
                 {"method", setting_name(method)},
                 {"label", method_label(spec.method)},
                 {"backend", context.backend},
                 {"device", context.device},
                 {"model", context.model_name},
                 {"task", spec.task},
                 {"version", STARBENCH_VERSION},
                 {"git_commit", STARBENCH_GIT_COMMIT},
                 {"date", utc_timestamp()},
                 {"params_key", params_key(spec, context)}};
  const bool star = method == Method::Star, apb = method == Method::Apb;
  if (star) {
    record.text["anchor_source"] = setting_name(spec.method.anchor_source);
    record.text["anchor_positions"] = setting_name(spec.method.anchor_positions);
    record.text["anchor_mode"] = setting_name(spec.plan.anchor_mode);
    record.text["block_rule"] = spec.method.block_rule.label();
  }
  if (method == Method::Ring) record.text["ring_layout"] = setting_name(spec.method.ring_layout);
  for (const auto& [key, value] : context.provenance) record.text[key] = value;
  record.integers = {{"seq_len", spec.context_len},
                     {"query_len", spec.query_len},
                     {"generate", spec.generate},
                     {"world_size", outcome.world_size},
                     {"block_size", star ? spec.plan.star.block_size : apb ? spec.plan.apb.blocks.block_size : 0},
                     {"anchor_size", star ? spec.plan.star.anchor_size
                                          : apb ? spec.plan.apb.anchor_context_tokens() : 0},
                     {"seed", int64_t(spec.seed)},
                     {"repeats", spec.repeats},
                     {"warmup", spec.warmup},
                     {"sample", spec.sample}};
  add_apb_attributes(spec, record);
  if (context.simulated) record.integers["simulated"] = 1;
  // Hosts of the Star Attention paper's kind (groups of GPUs); "hosts" (text)
  // is where the ranks ran (placement).
  record.integers["gpus_per_host"] = context.hosts.gpus_per_host;
  record.integers["host_count"] = outcome.world_size / std::max(1, context.hosts.gpus_per_host);
  record.text["host_split"] = host_split_name(context.hosts.split);
  const double context_ms = median_of_slowest(outcome.context_ms);
  const double query_ms = median_of_slowest(outcome.query_ms);
  const double decode_ms = median_of_slowest(outcome.decode_ms);
  double comm_context = 0, comm_query = 0, peak = 0, decode_peak = 0, kv = 0;
  for (double bytes : outcome.context_comm_bytes) comm_context += bytes;
  for (double bytes : outcome.query_comm_bytes) comm_query += bytes;
  for (double bytes : outcome.peak_bytes) peak = std::max(peak, bytes);
  for (double bytes : outcome.decode_peak_bytes) decode_peak = std::max(decode_peak, bytes);
  for (double bytes : outcome.kv_bytes) kv = std::max(kv, bytes);
  record.numbers = {{"context_ms", context_ms},
                    {"query_ms", query_ms},
                    {"decode_ms_per_token", decode_ms},
                    {"total_ms", context_ms + query_ms + decode_ms * double(std::max<int64_t>(0, spec.generate - 1))},
                    {"context_tokens_per_s", context_ms > 0 ? double(spec.context_len) / context_ms * 1e3 : 0.0},
                    {"comm_bytes_context", comm_context},
                    {"comm_bytes_query", comm_query},
                    {"peak_mem_bytes", peak},
                    {"decode_peak_mem_bytes", decode_peak},
                    {"kv_cache_bytes", kv}};
  add_duo_attributes(spec, record);
  add_placement(record, context.placement, outcome.world_size);  // simulated: the platform's nodes
  if (fidelity) {
    record.numbers["kl_vs_global"] = fidelity->kl_divergence;
    record.numbers["top1_vs_global"] = fidelity->top1_agreement;
    record.numbers["gen_agree_vs_global"] = fidelity->generated_agreement;
    record.numbers["hidden_rel_err_vs_global"] = fidelity->hidden_relative_error;
  }
  record.arrays.push_back(matrix_array("timing/context_ms", outcome.context_ms));
  record.arrays.push_back(matrix_array("timing/query_ms", outcome.query_ms));
  record.arrays.push_back(matrix_array("timing/decode_ms", outcome.decode_ms));
  record.arrays.push_back(vector_array("memory/peak_bytes", outcome.peak_bytes));
  record.arrays.push_back(vector_array("memory/decode_peak_bytes", outcome.decode_peak_bytes));
  record.arrays.push_back(vector_array("memory/kv_bytes", outcome.kv_bytes));
  record.arrays.push_back(vector_array("comm/context_bytes", outcome.context_comm_bytes));
  record.arrays.push_back(vector_array("comm/query_bytes", outcome.query_comm_bytes));
  if (!outcome.context_attention_flops.empty()) {
    record.arrays.push_back(vector_array("work/context_attention_flops", outcome.context_attention_flops));
    record.arrays.push_back(vector_array("work/context_matmul_flops", outcome.context_matmul_flops));
    record.arrays.push_back(vector_array("work/context_forward_tokens", outcome.context_forward_tokens));
    // The busiest rank (most attention + matmul work) sets the phase's time.
    size_t busiest = 0;
    for (size_t rank = 1; rank < outcome.context_attention_flops.size(); ++rank) {
      auto work = [&](size_t r) { return outcome.context_attention_flops[r] + outcome.context_matmul_flops[r]; };
      if (work(rank) > work(busiest)) busiest = rank;
    }
    record.numbers["busiest_rank_attention_tflop"] = outcome.context_attention_flops[busiest] / 1e12;
    record.numbers["busiest_rank_matmul_tflop"] = outcome.context_matmul_flops[busiest] / 1e12;
    record.numbers["busiest_rank_forward_tokens"] = outcome.context_forward_tokens[busiest];
  }
  std::vector<double> local_tokens(outcome.local_context_tokens.begin(), outcome.local_context_tokens.end());
  record.arrays.push_back(vector_array("layout/local_context_tokens", local_tokens));
  if (!outcome.generated.empty()) {
    RunRecord::Array generated;
    generated.path = "generated";
    generated.shape = {int64_t(outcome.generated.size())};
    generated.i64 = outcome.generated;
    record.arrays.push_back(generated);
  }
  if (method == Method::Global && spec.task.empty() && !outcome.query_logits.empty()) {
    RunRecord::Array logits;
    logits.path = "reference/query_logits";
    logits.shape = {spec.query_len, outcome.vocab_size};
    logits.f32 = outcome.query_logits;
    record.arrays.push_back(logits);
    RunRecord::Array hidden;
    hidden.path = "reference/query_hidden";
    hidden.shape = {spec.query_len, outcome.hidden_size};
    hidden.f32 = outcome.query_hidden;
    record.arrays.push_back(hidden);
  }
  return record;
}

std::string reference_outputs_problem(const RunRecord& record) {
  for (const RunRecord::Array& array : record.arrays) {
    if (array.path.rfind("reference/", 0) != 0) continue;
    const size_t bad = size_t(std::count_if(array.f32.begin(), array.f32.end(), [](float v) { return !std::isfinite(v); })) +
                       size_t(std::count_if(array.f64.begin(), array.f64.end(), [](double v) { return !std::isfinite(v); }));
    if (bad > 0)
      return fmt::format("run {}: {} holds {} non-finite value(s) (NaN or infinity): it cannot serve as the reference",
                         record.run_id, array.path, bad);
  }
  return "";
}

RunOutcome reference_outputs_from_record(const RunRecord& record) {
  const std::string problem = reference_outputs_problem(record);
  SB_REQUIRE(problem.empty(), "{}", problem);
  RunOutcome outcome;
  for (const RunRecord::Array& array : record.arrays) {
    if (array.path == "reference/query_logits") {
      outcome.query_logits = array.f32;
      outcome.vocab_size = array.shape.at(1);
    } else if (array.path == "reference/query_hidden") {
      outcome.query_hidden = array.f32;
      outcome.hidden_size = array.shape.at(1);
    } else if (array.path == "generated") {
      outcome.generated = array.i64;
    }
  }
  SB_REQUIRE(!outcome.query_logits.empty(), "stored global run {} has no reference outputs", record.run_id);
  return outcome;
}

}  // namespace sb
