#include "experiment/calibrate.h"

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <fmt/core.h>

#include "comm/comm_factory.h"
#include "costmodel/op_bytes.h"
#include "engine/model_shard.h"
#include "engine/transformer.h"
#include "experiment/model_loader.h"
#include "experiment/placement.h"
#include "model/config.h"
#include "util/control.h"
#include "util/error.h"
#include "util/utc_time.h"
#include "util/version.h"

namespace sb {
namespace {

// Random values (uniform in [-scale, scale)) in the backend's activation dtype:
// timings on zeros can be optimistic.
Tensor random_tensor(Backend& backend, std::vector<int64_t> shape, uint64_t seed, float scale = 1.0f) {
  WeightSpec spec;
  spec.name = "calibration input";
  spec.shape = std::move(shape);
  spec.seed = seed;
  spec.scale = scale;
  return backend.upload(spec);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

class Stopwatch {
 public:
  Stopwatch(Backend& backend, int samples) : backend_(backend), timer_(backend.make_timer()), samples_(samples) {}

  // Median milliseconds per call, timed over back-to-back calls (as in a layer
  // loop) after one untimed call (plans, caches). A collective op (a transfer
  // between the ranks) is called the same number of times on every rank.
  double per_call_ms(const std::function<void()>& op, bool collective = false) {
    op();
    backend_.synchronize();
    timer_->start();
    op();
    timer_->stop();
    double once = std::max(timer_->elapsed_ms(), 1e-4);
    if (collective) once = Control::max(once);
    const int calls = std::clamp(int(std::ceil(2.0 / once)), 1, 64);  // a sample lasts ~2 ms at least
    std::vector<double> samples;
    for (int sample = 0; sample < samples_; ++sample) {
      timer_->start();
      for (int call = 0; call < calls; ++call) op();
      timer_->stop();
      samples.push_back(timer_->elapsed_ms() / calls);
    }
    return median(samples);
  }

 private:
  Backend& backend_;
  std::unique_ptr<PhaseTimer> timer_;
  int samples_;
};

}  // namespace

LinearCost fit_linear(std::vector<std::pair<double, double>> points) {
  std::sort(points.begin(), points.end());
  const auto& [small_bytes, small_ms] = points.front();
  const auto& [large_bytes, large_ms] = points.back();
  double seconds_per_byte = (large_ms - small_ms) * 1e-3 / std::max(large_bytes - small_bytes, 1.0);
  if (seconds_per_byte <= 0) seconds_per_byte = large_ms * 1e-3 / std::max(large_bytes, 1.0);  // noise
  const double latency = std::max(0.0, small_ms * 1e-3 - small_bytes * seconds_per_byte);
  return {latency, 1.0 / seconds_per_byte};
}

namespace {

void progress(const std::string& what) {
  if (Control::is_root()) fmt::print(stderr, "starbench calibrate: {}\n", what);
}

void time_gemms(Backend& backend, Stopwatch& watch, const CalibrationSettings& settings, HardwareProfile& profile) {
  struct Shape {
    int64_t n, k, max_tokens;
  };
  std::vector<Shape> shapes;
  auto add = [&](int64_t n, int64_t k, int64_t max_tokens) {
    for (Shape& shape : shapes) {
      if (shape.n == n && shape.k == k) {
        shape.max_tokens = std::max(shape.max_tokens, max_tokens);
        return;
      }
    }
    shapes.push_back({n, k, max_tokens});
  };
  const int64_t long_rows = settings.quick ? 256 : 65536;   // q/k/v/o see a rank's whole share
  const int64_t mlp_rows = settings.quick ? 256 : Transformer::kMlpChunkTokens;  // the MLP runs in chunks
  const int64_t head_rows = settings.quick ? 64 : 1024;     // the LM head sees the query and generated tokens
  std::vector<ModelConfig> models;
  for (const std::string& preset : settings.presets) {
    models.push_back(preset_config(preset));
    const int gpus = settings.hosts.gpus_per_host;
    // A layer split runs whole layers: its shapes are the model's.
    if (gpus > 1 && settings.hosts.split == HostSplit::Tensor) {
      models.push_back(shard_config(models.back(), make_tensor_shard(models.back(), 0, gpus)));
    }
  }
  for (const ModelConfig& c : models) {
    add(c.num_heads * c.head_dim, c.hidden_size, long_rows);
    add(c.num_kv_heads * c.head_dim, c.hidden_size, long_rows);
    add(c.hidden_size, c.num_heads * c.head_dim, long_rows);
    add(c.intermediate_size, c.hidden_size, mlp_rows);
    add(c.hidden_size, c.intermediate_size, mlp_rows);
    add(c.vocab_size, c.hidden_size, head_rows);
  }
  uint64_t seed = 1;
  for (const Shape& shape : shapes) {
    GemmCurve curve{shape.n, shape.k, {}};
    Tensor w = random_tensor(backend, {shape.n, shape.k}, seed++, 0.05f);
    for (int64_t tokens = 1; tokens <= shape.max_tokens; tokens *= 4) {
      Tensor x = random_tensor(backend, {tokens, shape.k}, seed++);
      Tensor out = backend.empty(backend.act_dtype(), {tokens, shape.n});
      curve.tokens_ms.emplace_back(double(tokens), watch.per_call_ms([&] { backend.matmul(x, w, out); }));
    }
    if (curve.tokens_ms.back().first < double(shape.max_tokens)) {
      Tensor x = random_tensor(backend, {shape.max_tokens, shape.k}, seed++);
      Tensor out = backend.empty(backend.act_dtype(), {shape.max_tokens, shape.n});
      curve.tokens_ms.emplace_back(double(shape.max_tokens), watch.per_call_ms([&] { backend.matmul(x, w, out); }));
    }
    const auto& [tokens, ms] = curve.tokens_ms.back();
    progress(fmt::format("GEMM N={} K={}: {} points, {:.0f} TFLOP/s at {:.0f} tokens", shape.n, shape.k,
                         curve.tokens_ms.size(), 2.0 * tokens * double(shape.n * shape.k) / (ms * 1e-3) / 1e12,
                         tokens));
    profile.gemm.push_back(std::move(curve));
  }
}

void time_attention(Backend& backend, Stopwatch& watch, const CalibrationSettings& settings,
                    HardwareProfile& profile) {
  const ModelConfig c = preset_config(settings.presets.at(0));
  const int64_t hq = c.num_heads, hkv = c.num_kv_heads, d = c.head_dim;
  const float scale = attention_scale(d);
  const std::vector<int64_t> squares =
      settings.quick ? std::vector<int64_t>{64, 256} : std::vector<int64_t>{128, 512, 2048, 8192, 16384, 32768, 65536, 131072};
  const std::vector<int64_t> queries =
      settings.quick ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 16, 128, 1024, 4096, 16384, 65536};
  const std::vector<int64_t> keys =
      settings.quick ? std::vector<int64_t>{64, 256} : std::vector<int64_t>{1024, 4096, 16384, 65536, 262144};
  const double max_pairs = settings.quick ? 1e6 : 4294967296.0;  // keeps each point under ~0.2 s
  uint64_t seed = 1000;
  auto measure = [&](const std::string& mask_name, int64_t q_len, int64_t k_len) {
    const AttentionMask mask = mask_name == "none"     ? AttentionMask::none()
                               : mask_name == "causal" ? AttentionMask::causal(0)
                                                       : AttentionMask::bottom_right(q_len, k_len);
    Tensor q = random_tensor(backend, {q_len, hq, d}, seed++);
    Tensor k = random_tensor(backend, {k_len, hkv, d}, seed++);
    Tensor v = random_tensor(backend, {k_len, hkv, d}, seed++);
    Tensor out = backend.empty(backend.act_dtype(), {q_len, hq, d});
    Tensor lse = backend.empty(DType::F32, {q_len, hq});
    const double ms = watch.per_call_ms([&] { backend.attention(q, k, v, mask, scale, out, lse); });
    profile.attention.push_back({mask_name, q_len, k_len, hq, hkv, d, ms});
  };
  for (int64_t s : squares) measure("causal", s, s);
  for (int64_t q_len : queries) {
    for (int64_t k_len : keys) {
      if (double(q_len) * double(k_len) > max_pairs) continue;
      measure("none", q_len, k_len);
      if (k_len > q_len) measure("bottom_right", q_len, k_len);  // k = q is the causal square
    }
  }
  const AttentionPoint& largest = *std::find_if(profile.attention.rbegin(), profile.attention.rend(),
                                                [](const AttentionPoint& p) { return p.mask == "causal"; });
  progress(fmt::format("attention: {} points; causal {}: {:.1f} ms ({:.0f} TFLOP/s)", profile.attention.size(),
                       largest.q_len, largest.ms,
                       4.0 * AttentionMask::causal(0).visible_pairs(largest.q_len, largest.k_len) * double(hq * d) /
                           (largest.ms * 1e-3) / 1e12));
}

void time_elementwise(Backend& backend, Stopwatch& watch, const CalibrationSettings& settings,
                      HardwareProfile& profile) {
  const ModelConfig c = preset_config(settings.presets.at(0));
  const std::vector<int64_t> token_counts =
      settings.quick ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 256, 4096, 16384};
  std::map<ElementwiseOp, std::vector<std::pair<double, double>>> points;
  uint64_t seed = 5000;
  for (int64_t t : token_counts) {
    const DType act = backend.act_dtype();
    Tensor x = random_tensor(backend, {t, c.hidden_size}, seed++);
    Tensor norm_weight = random_tensor(backend, {c.hidden_size}, seed++);
    Tensor out = backend.empty(act, {t, c.hidden_size});
    points[ElementwiseOp::RmsNorm].emplace_back(op_bytes::rmsnorm(x),
                                                watch.per_call_ms([&] { backend.rmsnorm(x, norm_weight, 1e-5f, out); }));
    Tensor q = random_tensor(backend, {t, c.num_heads, c.head_dim}, seed++);
    std::vector<int32_t> position_ids(static_cast<size_t>(t));
    for (int64_t i = 0; i < t; ++i) position_ids[size_t(i)] = int32_t(i);
    Tensor positions = backend.from_host(DType::I32, {t}, position_ids.data());
    backend.set_rope_frequencies(rope_inverse_frequencies(c));
    points[ElementwiseOp::Rope].emplace_back(op_bytes::rope(q), watch.per_call_ms([&] { backend.rope(q, positions); }));
    const int64_t chunk = std::min<int64_t>(t, Transformer::kMlpChunkTokens);
    Tensor gate = random_tensor(backend, {chunk, c.intermediate_size}, seed++);
    Tensor up = random_tensor(backend, {chunk, c.intermediate_size}, seed++);
    points[ElementwiseOp::Swiglu].emplace_back(op_bytes::swiglu(gate),
                                               watch.per_call_ms([&] { backend.swiglu(gate, up, gate); }));
    Tensor attn_out = random_tensor(backend, {t, c.num_heads, c.head_dim}, seed++);
    Tensor other_out = random_tensor(backend, {t, c.num_heads, c.head_dim}, seed++);
    Tensor lse = random_tensor(backend, {t, c.num_heads}, seed++);
    std::vector<float> lse_values(size_t(t * c.num_heads), 1.0f);
    Tensor lse_a = backend.from_host(DType::F32, {t, c.num_heads}, lse_values.data());
    Tensor lse_b = backend.from_host(DType::F32, {t, c.num_heads}, lse_values.data());
    points[ElementwiseOp::LseMerge].emplace_back(
        op_bytes::lse_merge(attn_out, lse_a), watch.per_call_ms([&] { backend.lse_merge(attn_out, lse_a, other_out, lse_b); }));
    Tensor copy_dst = backend.empty(act, {t, c.hidden_size});
    points[ElementwiseOp::Copy].emplace_back(op_bytes::copy_rows(x, t),
                                             watch.per_call_ms([&] { backend.copy_rows(copy_dst, 0, x, 0, t); }));
    std::vector<int32_t> token_ids(static_cast<size_t>(t));
    for (int64_t i = 0; i < t; ++i) token_ids[size_t(i)] = int32_t((i * 7919) % c.vocab_size);
    Tensor tokens = backend.from_host(DType::I32, {t}, token_ids.data());
    Tensor table = random_tensor(backend, {c.vocab_size, c.hidden_size}, seed++);
    points[ElementwiseOp::Embedding].emplace_back(op_bytes::embedding(out),
                                                  watch.per_call_ms([&] { backend.embedding(table, tokens, out); }));
    std::vector<float> host(size_t(t * c.hidden_size), 0.5f);
    points[ElementwiseOp::HostToDevice].emplace_back(
        double(host.size() * sizeof(float)),
        watch.per_call_ms([&] { Tensor uploaded = backend.from_host(DType::F32, {t, c.hidden_size}, host.data()); }));
    points[ElementwiseOp::DeviceToHost].emplace_back(double(x.numel()) * 4.0,
                                                     watch.per_call_ms([&] { backend.to_host_f32(x); }));
    const int64_t logit_rows = std::min<int64_t>(t, 64);
    Tensor logits = random_tensor(backend, {logit_rows, c.vocab_size}, seed++);
    points[ElementwiseOp::Argmax].emplace_back(op_bytes::argmax(logits),
                                               watch.per_call_ms([&] { backend.argmax_rows(logits); }));
  }
  for (ElementwiseOp op : elementwise_ops()) {
    profile.elementwise[elementwise_name(op)] = fit_linear(points.at(op));
  }
  const LinearCost& norm = profile.elementwise.at("rmsnorm");
  progress(fmt::format("element-wise: rmsnorm {:.1f} us + {:.0f} GB/s", norm.latency_s * 1e6, norm.bytes_per_s / 1e9));
}

void time_comm(Backend& backend, Stopwatch& watch, const CalibrationSettings& settings, HardwareProfile& profile) {
  std::unique_ptr<Comm> comm = make_comm(backend);
  const int peer = 1 - comm->rank();
  const std::vector<double> sizes = settings.quick ? std::vector<double>{4096, 1 << 20}
                                                   : std::vector<double>{4096, 262144, 16777216, 268435456};
  std::vector<std::pair<double, double>> p2p, broadcast, all_reduce;
  for (double bytes : sizes) {
    const int64_t elements = int64_t(bytes) / int64_t(dtype_size(backend.act_dtype()));
    Tensor send = random_tensor(backend, {elements}, 9000);
    Tensor recv = backend.empty(backend.act_dtype(), {elements});
    const double exchange = watch.per_call_ms(
        [&] {
          comm->ring_start(send, peer, recv, peer);
          comm->ring_wait();
        },
        true);
    p2p.emplace_back(bytes, Control::max(exchange));
    const double bcast = watch.per_call_ms([&] { comm->broadcast(recv, 0); }, true);
    broadcast.emplace_back(bytes, Control::max(bcast));
    // The tensor split's all-reduce of the residual stream (sums grow; the time does not depend on values).
    const double reduce = watch.per_call_ms([&] { comm->all_reduce_sum(recv); }, true);
    all_reduce.emplace_back(bytes, Control::max(reduce));
  }
  profile.p2p = fit_linear(p2p);
  profile.broadcast = fit_linear(broadcast);
  profile.all_reduce = fit_linear(all_reduce);
  profile.has_all_reduce = true;

  // Overlap: attention alone, a transfer alone (about half as long), both.
  const ModelConfig c = preset_config(settings.presets.at(0));
  const int64_t s = settings.quick ? 256 : 16384;
  Tensor q = random_tensor(backend, {s, c.num_heads, c.head_dim}, 9100);
  Tensor k = random_tensor(backend, {s, c.num_kv_heads, c.head_dim}, 9101);
  Tensor out = backend.empty(backend.act_dtype(), {s, c.num_heads, c.head_dim});
  Tensor lse = backend.empty(DType::F32, {s, c.num_heads});
  const float scale = attention_scale(c.head_dim);
  auto attend = [&] { backend.attention(q, k, k, AttentionMask::causal(0), scale, out, lse); };
  const double attention_ms = Control::max(watch.per_call_ms(attend, true));
  const double transfer_bytes = std::max(4096.0, 0.5 * attention_ms * 1e-3 * profile.p2p.bytes_per_s);
  const int64_t elements = int64_t(transfer_bytes) / int64_t(dtype_size(backend.act_dtype()));
  Tensor send = random_tensor(backend, {elements}, 9102);
  Tensor recv = backend.empty(backend.act_dtype(), {elements});
  const double both_ms = Control::max(watch.per_call_ms(
      [&] {
        comm->ring_start(send, peer, recv, peer);
        attend();
        comm->ring_wait();
      },
      true));
  profile.overlap_slowdown = std::clamp(both_ms / attention_ms, 1.0, 3.99);
  profile.has_comm = true;
  progress(fmt::format("comm: all-reduce {:.1f} us + {:.0f} GB/s", profile.all_reduce.latency_s * 1e6,
                       profile.all_reduce.bytes_per_s / 1e9));
  progress(fmt::format("comm: p2p {:.1f} us + {:.0f} GB/s, broadcast {:.1f} us + {:.0f} GB/s; attention {:.2f} ms "
                       "alone, {:.2f} ms beside a {:.0f} MB transfer (slowdown {:.2f})",
                       profile.p2p.latency_s * 1e6, profile.p2p.bytes_per_s / 1e9, profile.broadcast.latency_s * 1e6,
                       profile.broadcast.bytes_per_s / 1e9, attention_ms, both_ms, transfer_bytes / 1e6,
                       profile.overlap_slowdown));
}

}  // namespace

std::string hardware_file_stem(const std::string& device_name) {
  std::string name = device_name;
  for (const char* prefix : {"NVIDIA ", "nvidia "}) {
    if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
  }
  std::string stem;
  for (char ch : name) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      stem += char(std::tolower(static_cast<unsigned char>(ch)));
    } else if (!stem.empty() && stem.back() != '-') {
      stem += '-';
    }
    if (ch == '(') break;  // "AMD EPYC (1 OpenMP threads)": the name, not the thread count
  }
  while (!stem.empty() && stem.back() == '-') stem.pop_back();
  return stem.empty() ? "device" : stem;
}

std::vector<std::string> calibration_presets(const CalibrationSettings& settings) {
  if (!settings.presets.empty()) return settings.presets;
  if (settings.quick) return {"tiny"};
  return {"llama3.1-8b", "llama3.1-70b"};
}

std::string default_profile_path(const std::string& device_name) {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  std::filesystem::path base;
  if (cache != nullptr && *cache != '\0') {
    base = cache;
  } else {
    SB_REQUIRE(home != nullptr && *home != '\0',
               "calibrate: neither XDG_CACHE_HOME nor HOME is set, so the profile has no default place: pass "
               "--output FILE");
    base = std::filesystem::path(home) / ".cache";
  }
  return (base / "starbench" / "hardware" / (hardware_file_stem(device_name) + ".json")).string();
}

namespace {

void write_profile(HardwareProfile& profile, const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << hardware_profile_json(profile);
    SB_REQUIRE(out.good(), "cannot write {}", temporary);
  }
  std::filesystem::rename(temporary, path);
  profile.path = path;
  fmt::print("hardware profile written to {}\n", path);
}

}  // namespace

HardwareProfile derive_calibration(const CalibrationSettings& settings) {
  const DatasheetRatios& r = settings.derive_ratios;
  SB_REQUIRE(!settings.derive_gpu.empty(), "--derive-from needs --gpu NAME (the GPU the profile is for)");
  SB_REQUIRE(settings.derive_memory_gib > 0, "--derive-from needs --memory-gib (usable memory of that GPU)");
  SB_REQUIRE(r.compute > 0 && r.memory > 0 && r.interconnect > 0,
             "--compute-ratio, --memory-ratio and --interconnect-ratio must be > 0");
  const HardwareProfile measured = load_hardware_profile(settings.derive_from);
  HardwareProfile derived = derive_profile(
      measured, settings.derive_gpu, settings.derive_memory_gib * double(1ull << 30), r,
      fmt::format("derived, not measured: {} ({}, measured {} at commit {}) with compute-bound times / {}, "
                  "memory-bound times / {}, NCCL bandwidth x {}{}{}",
                  std::filesystem::path(settings.derive_from).filename().string(), measured.gpu, measured.date,
                  measured.commit, r.compute, r.memory, r.interconnect, settings.derive_note.empty() ? "" : "; ",
                  settings.derive_note));
  derived.date = utc_timestamp();
  derived.commit = STARBENCH_GIT_COMMIT;
  if (Control::is_root()) {
    write_profile(derived, settings.output.empty() ? default_profile_path(derived.gpu) : settings.output);
  }
  return derived;
}

HardwareProfile run_calibration(const CalibrationSettings& given) {
  if (!given.derive_from.empty()) return derive_calibration(given);
  CalibrationSettings settings = given;
  settings.presets = calibration_presets(given);
  Control::agree_on([&] {
    SB_REQUIRE(Control::size() <= 2, "calibrate runs on 1 rank (compute) or 2 ranks (compute and communication), got {}",
               Control::size());
    SB_REQUIRE(!settings.presets.empty(), "--model-preset lists no model");
    for (const std::string& preset : settings.presets) {
      const ModelConfig config = preset_config(preset);  // an unknown name ends here
      // and a model that does not split over the GPUs
      make_model_shard(config, settings.hosts.split, 0, settings.hosts.gpus_per_host);
    }
  });

  std::unique_ptr<Backend> backend = create_backend(settings.backend);
  HardwareProfile profile;
  profile.gpu = backend->device_name();
  profile.backend = backend->name();
  // Where the profile goes, settled before the measurements (a missing default place ends them all now).
  std::string output = settings.output;
  Control::agree_on_root([&] {
    if (output.empty()) output = default_profile_path(profile.gpu);
  });
  profile.origin = fmt::format("measured by starbench calibrate ({}{})", settings.quick ? "quick grid, " : "",
                               Control::size() == 2 ? "2 ranks" : "1 rank, no communication");
  profile.date = utc_timestamp();
  profile.driver = nvidia_driver_version();
  profile.commit = STARBENCH_GIT_COMMIT;
  profile.memory_bytes = double(backend->memory_capacity_bytes());
  if (profile.memory_bytes <= 0) profile.memory_bytes = 1.0;
  progress(fmt::format("{} on {} ({} rank(s)), shapes of {}", backend->name(), profile.gpu, Control::size(),
                       fmt::join(settings.presets, ", ")));

  Stopwatch watch(*backend, settings.quick ? 3 : 5);
  const auto start = std::chrono::steady_clock::now();
  time_gemms(*backend, watch, settings, profile);
  time_attention(*backend, watch, settings, profile);
  time_elementwise(*backend, watch, settings, profile);
  if (Control::size() == 2) time_comm(*backend, watch, settings, profile);
  progress(fmt::format("measured in {:.0f} s",
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));

  Control::agree_on_root([&] {
    try {
      write_profile(profile, output);
    } catch (const std::exception& error) {
      throw Error(error.what());  // a JSON or file error too ends every rank with its message
    }
  });
  return profile;
}

}  // namespace sb
