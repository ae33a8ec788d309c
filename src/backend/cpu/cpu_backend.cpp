#include "backend/cpu/cpu_backend.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include <omp.h>

#include "backend/cpu/cpu_attention.h"
#include "backend/head_copy.h"
#include "backend/cpu/cpu_matmul.h"
#include "kernels/lse_merge.h"
#include "util/error.h"

namespace sb {
namespace {

constexpr std::align_val_t kAlignment{64};  // a cache line; also a full AVX-512 vector

// Returns the storage to the heap and the bytes to the backend's account.
struct AccountedFree {
  std::shared_ptr<CpuBackend::MemoryCounter> counter;
  size_t bytes;
  void operator()(void* pointer) const {
    ::operator delete(pointer, kAlignment);
    counter->in_use.fetch_sub(bytes);
  }
};

void require_f32(const Tensor& t, const char* op, const char* what) {
  SB_REQUIRE(t.defined(), "{}: {} is an undefined tensor", op, what);
  SB_REQUIRE(t.dtype() == DType::F32, "{}: {} must be F32 on the cpu backend, got {}", op, what, t.describe());
}

void require_i32(const Tensor& t, const char* op, const char* what) {
  SB_REQUIRE(t.defined(), "{}: {} is an undefined tensor", op, what);
  SB_REQUIRE(t.dtype() == DType::I32, "{}: {} must be I32, got {}", op, what, t.describe());
}

int64_t last_dim(const Tensor& t) { return t.rank() == 0 ? 1 : t.shape().back(); }

class SteadyClockTimer : public PhaseTimer {
 public:
  void start() override { start_ = stop_ = std::chrono::steady_clock::now(); }
  void stop() override { stop_ = std::chrono::steady_clock::now(); }
  double elapsed_ms() override { return std::chrono::duration<double, std::milli>(stop_ - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_{}, stop_{};
};

// A causal-by-position mask as the plain offset its positions give (host
// memory here). The rows' positions must be consecutive, as every step's are,
// and agree with the host's bound: a disagreement is a bug in the caller.
AttentionMask resolved_positions(AttentionMask mask, int64_t q_len) {
  SB_REQUIRE(mask.kind == AttentionMask::Kind::Causal && mask.query_positions.dtype() == DType::I32 &&
                 mask.query_positions.numel() == q_len,
             "cpu attention: positions {} for a causal mask over {} query rows", mask.query_positions.describe(),
             q_len);
  const int32_t* positions = mask.query_positions.ptr<int32_t>();
  for (int64_t i = 1; i < q_len; ++i)
    SB_REQUIRE(positions[i] == positions[0] + i, "cpu attention: query positions {} and {} are not consecutive",
               positions[i - 1], positions[i]);
  const int64_t offset = q_len > 0 ? int64_t(positions[0]) - mask.key_position0 : mask.causal_offset;
  SB_REQUIRE(offset == mask.causal_offset, "cpu attention: positions give causal offset {}, the host expected {}",
             offset, mask.causal_offset);
  mask.query_positions = Tensor();
  return mask;
}

}  // namespace

CpuBackend::CpuBackend() : memory_(std::make_shared<MemoryCounter>()) {}

std::string CpuBackend::device_name() const {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(std::min(line.size(), colon + 2));
      break;
    }
  }
  return fmt::format("{} ({} OpenMP threads)", model, omp_get_max_threads());
}

// --- memory -------------------------------------------------------------------

Tensor CpuBackend::empty(DType dtype, std::vector<int64_t> shape) {
  for (int64_t d : shape) {
    SB_REQUIRE(d >= 0, "cpu: cannot allocate a tensor of negative shape (dimension {})", d);
  }
  Tensor shape_only(nullptr, dtype, shape);
  const size_t bytes = shape_only.nbytes();
  // A zero-element tensor still gets storage, so that it is defined().
  void* pointer = nullptr;
  try {
    pointer = ::operator new(std::max<size_t>(bytes, 1), kAlignment);
  } catch (const std::bad_alloc&) {
    fail("cpu: out of host memory allocating {} ({:.2f} GiB; {:.2f} GiB already in use)", shape_only.describe(),
         double(bytes) / double(1ull << 30), double(bytes_in_use()) / double(1ull << 30));
  }
  const size_t now = memory_->in_use.fetch_add(bytes) + bytes;
  size_t peak = memory_->peak.load();
  while (now > peak && !memory_->peak.compare_exchange_weak(peak, now)) {
  }
  return Tensor(std::shared_ptr<void>(pointer, AccountedFree{memory_, bytes}), dtype, std::move(shape));
}

Tensor CpuBackend::upload(const WeightSpec& spec) {
  for (int64_t d : spec.shape) {
    SB_REQUIRE(d > 0, "weight {}: shape has a non-positive dimension {}", spec.name, d);
  }
  const int64_t n = spec.numel();
  Tensor t = empty(DType::F32, spec.shape);
  float* dst = t.ptr<float>();
  if (spec.is_synthetic()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) dst[i] = synthetic_value(spec.seed, source_index(spec, i)) * spec.scale + spec.offset;
    return t;
  }
  // Converted straight from the mapped file: no intermediate copy (a slice's
  // rows are read where they lie, source_index).
  switch (spec.mapped_dtype) {
    case DType::F32: {
      const auto* src = static_cast<const float*>(spec.mapped_data);
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) dst[i] = src[source_index(spec, i)];
      break;
    }
    case DType::BF16: {
      const auto* src = static_cast<const uint16_t*>(spec.mapped_data);
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[source_index(spec, i)]);
      break;
    }
    case DType::F16: {
      const auto* src = static_cast<const uint16_t*>(spec.mapped_data);
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[source_index(spec, i)]);
      break;
    }
    default:
      fail("weight {} in {}: dtype {} is not a floating-point weight format (expected BF16, F16 or F32)", spec.name,
           spec.file.empty() ? std::string("<memory>") : spec.file, dtype_name(spec.mapped_dtype));
  }
  return t;
}

Tensor CpuBackend::from_host(DType dtype, std::vector<int64_t> shape, const void* host_data) {
  Tensor t = empty(dtype, std::move(shape));
  if (t.nbytes() > 0) {
    SB_REQUIRE(host_data != nullptr, "cpu from_host: null host data for {}", t.describe());
    std::memcpy(t.data(), host_data, t.nbytes());
  }
  return t;
}

std::vector<float> CpuBackend::to_host_f32(const Tensor& tensor) {
  SB_REQUIRE(tensor.defined(), "cpu to_host_f32: undefined tensor");
  const int64_t n = tensor.numel();
  std::vector<float> result(static_cast<size_t>(n));
  const auto convert = [&](auto widen, auto* source) {
    for (int64_t i = 0; i < n; ++i) result[size_t(i)] = widen(source[i]);
  };
  switch (tensor.dtype()) {
    case DType::F32: convert([](float x) { return x; }, tensor.ptr<float>()); break;
    case DType::BF16: convert(bf16_to_f32, tensor.ptr<uint16_t>()); break;
    case DType::F16: convert(f16_to_f32, tensor.ptr<uint16_t>()); break;
    case DType::I32: convert([](int32_t x) { return float(x); }, tensor.ptr<int32_t>()); break;
    case DType::I64: convert([](int64_t x) { return float(x); }, tensor.ptr<int64_t>()); break;
  }
  return result;
}

void CpuBackend::copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) {
  SB_REQUIRE(dst.defined() && src.defined(), "copy_rows: undefined tensor");
  SB_REQUIRE(dst.dtype() == src.dtype() && dst.row_numel() == src.row_numel(),
             "copy_rows: {} and {} differ in dtype or row size", dst.describe(), src.describe());
  SB_REQUIRE(dst.rank() > 0 && src.rank() > 0, "copy_rows: scalars have no rows");
  SB_REQUIRE(num_rows >= 0 && dst_row >= 0 && src_row >= 0 && dst_row + num_rows <= dst.dim(0) &&
                 src_row + num_rows <= src.dim(0),
             "copy_rows: {} rows from row {} of {} to row {} of {} is out of range", num_rows, src_row,
             src.describe(), dst_row, dst.describe());
  const size_t row_bytes = size_t(src.row_numel()) * dtype_size(src.dtype());
  // memmove: the two may be views of one buffer.
  std::memmove(static_cast<char*>(dst.data()) + size_t(dst_row) * row_bytes,
               static_cast<const char*>(src.data()) + size_t(src_row) * row_bytes, size_t(num_rows) * row_bytes);
}

void CpuBackend::copy_heads(Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src, int64_t src_row,
                            int64_t src_head, int64_t num_rows, int64_t num_heads) {
  const HeadCopy copy =
      plan_head_copy("copy_heads", dst, dst_row, dst_head, src, src_row, src_head, num_rows, num_heads);
  char* to = static_cast<char*>(dst.data()) + copy.dst_offset;
  const char* from = static_cast<const char*>(src.data()) + copy.src_offset;
  for (size_t row = 0; row < copy.height; ++row) {
    std::memmove(to + row * copy.dst_pitch, from + row * copy.src_pitch, copy.width);
  }
}

void CpuBackend::copy_from_host(Tensor& dst, const void* host_data) {
  SB_REQUIRE(dst.defined() && (host_data != nullptr || dst.nbytes() == 0), "cpu copy_from_host: {} from null",
             dst.describe());
  if (dst.nbytes() > 0) std::memcpy(dst.data(), host_data, dst.nbytes());
}

void CpuBackend::write_rows_at(Tensor& dst, const Tensor& src, const RowSlots& slots,
                               const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) {
  SB_REQUIRE(slots.positions.defined() && slots.positions.dtype() == DType::I32 && src.rank() >= 1 &&
                 slots.positions.numel() == src.dim(0),
             "cpu write_rows_at: positions {} for the rows of {}",
             slots.positions.defined() ? slots.positions.describe() : "undefined", src.describe());
  const int32_t* positions = slots.positions.ptr<int32_t>();
  for (int64_t t = 0; t < src.dim(0); ++t) {
    const int64_t row = row_slot(slots, positions[t], dst.dim(0));
    if (dst_heads.empty() && src_heads.empty())
      copy_rows(dst, row, src, t, 1);
    else
      copy_head_list(dst, row, src, t, 1, dst_heads, src_heads);
  }
}

size_t CpuBackend::bytes_in_use() const { return memory_->in_use.load(); }
size_t CpuBackend::peak_bytes() const { return memory_->peak.load(); }
void CpuBackend::reset_peak() { memory_->peak.store(memory_->in_use.load()); }

size_t CpuBackend::memory_capacity_bytes() const {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? size_t(pages) * size_t(page_size) : 0;
}

// --- ops ----------------------------------------------------------------------

void CpuBackend::embedding(const Tensor& table, const Tensor& tokens, Tensor& out) {
  require_f32(table, "embedding", "table");
  require_i32(tokens, "embedding", "tokens");
  require_f32(out, "embedding", "out");
  SB_REQUIRE(table.rank() == 2, "embedding: table must be [vocab, hidden], got {}", table.describe());
  const int64_t vocab = table.dim(0), hidden = table.dim(1), n = tokens.numel();
  SB_REQUIRE(out.numel() == n * hidden && last_dim(out) == hidden,
             "embedding: out {} does not fit {} tokens of {} values", out.describe(), n, hidden);
  const int32_t* ids = tokens.ptr<int32_t>();
  for (int64_t t = 0; t < n; ++t) {
    SB_REQUIRE(ids[t] >= 0 && ids[t] < vocab, "embedding: token id {} (position {}) is outside the table's {} rows",
               ids[t], t, vocab);
  }
  const float* src = table.ptr<float>();
  float* dst = out.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < n; ++t) std::memcpy(dst + t * hidden, src + ids[t] * hidden, sizeof(float) * size_t(hidden));
}

void CpuBackend::rmsnorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  require_f32(x, "rmsnorm", "x");
  require_f32(weight, "rmsnorm", "weight");
  require_f32(out, "rmsnorm", "out");
  const int64_t hidden = weight.numel();
  SB_REQUIRE(hidden > 0 && last_dim(x) == hidden && out.numel() == x.numel() && last_dim(out) == hidden,
             "rmsnorm: x {}, weight {} and out {} do not match", x.describe(), weight.describe(), out.describe());
  const int64_t rows = x.numel() / hidden;
  const float* w = weight.ptr<float>();
  const float* src = x.ptr<float>();
  float* dst = out.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_row = src + r * hidden;
    double squares = 0.0;  // double: cheap here and exact enough for any hidden size
    for (int64_t i = 0; i < hidden; ++i) squares += double(x_row[i]) * double(x_row[i]);
    const float inverse_rms = float(1.0 / std::sqrt(squares / double(hidden) + double(eps)));
    float* out_row = dst + r * hidden;
    for (int64_t i = 0; i < hidden; ++i) out_row[i] = w[i] * (x_row[i] * inverse_rms);  // HF order
  }
}

void CpuBackend::matmul(const Tensor& x, const Tensor& w, Tensor& out, bool accumulate) {
  require_f32(x, "matmul", "x");
  require_f32(w, "matmul", "w");
  require_f32(out, "matmul", "out");
  SB_REQUIRE(w.rank() == 2, "matmul: weight must be [out_features, in_features], got {}", w.describe());
  const int64_t n = w.dim(0), k = w.dim(1);
  SB_REQUIRE(last_dim(x) == k, "matmul: x {} does not have {} input features of weight {}", x.describe(), k,
             w.describe());
  const int64_t tokens = k == 0 ? (x.rank() > 0 ? x.dim(0) : 1) : x.numel() / k;
  SB_REQUIRE(last_dim(out) == n && out.numel() == tokens * n, "matmul: out {} is not [{}, {}] (x {}, weight {})",
             out.describe(), tokens, n, x.describe(), w.describe());
  SB_REQUIRE(!bytes_overlap(out, x) && !bytes_overlap(out, w), "matmul: out {} overlaps an input", out.describe());
  count_matmul(tokens, n, k);
  cpu::matmul(x.ptr<float>(), w.ptr<float>(), out.ptr<float>(), tokens, n, k, accumulate);
}

void CpuBackend::set_rope_frequencies(const std::vector<double>& inverse_frequencies) {
  inverse_frequencies_ = inverse_frequencies;
}

void CpuBackend::rope(Tensor& x, const Tensor& positions) {
  require_f32(x, "rope", "x");
  require_i32(positions, "rope", "positions");
  SB_REQUIRE(x.rank() == 3, "rope: x must be [tokens, heads, head_dim], got {}", x.describe());
  const int64_t tokens = x.dim(0), heads = x.dim(1), d = x.dim(2), half = d / 2;
  SB_REQUIRE(positions.numel() == tokens, "rope: {} positions for {} tokens", positions.numel(), tokens);
  SB_REQUIRE(d % 2 == 0 && int64_t(inverse_frequencies_.size()) == half,
             "rope: head_dim {} needs {} inverse frequencies, {} were set (set_rope_frequencies)", d, half,
             inverse_frequencies_.size());
  const int32_t* pos = positions.ptr<int32_t>();
  float* data = x.ptr<float>();
#pragma omp parallel
  {
    std::vector<float> cosines(static_cast<size_t>(half)), sines(static_cast<size_t>(half));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle = double(pos[t]) * inverse_frequencies_[size_t(i)];
        cosines[size_t(i)] = float(std::cos(angle));
        sines[size_t(i)] = float(std::sin(angle));
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* head = data + (t * heads + h) * d;
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = head[i], x2 = head[i + half];
          head[i] = x1 * cosines[size_t(i)] - x2 * sines[size_t(i)];
          head[i + half] = x2 * cosines[size_t(i)] + x1 * sines[size_t(i)];
        }
      }
    }
  }
}

void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale,
                           Tensor& out, Tensor& lse) {
  require_f32(q, "attention", "q");
  require_f32(k, "attention", "k");
  require_f32(v, "attention", "v");
  require_f32(out, "attention", "out");
  require_f32(lse, "attention", "lse");
  SB_REQUIRE(q.rank() == 3 && k.rank() == 3 && v.rank() == 3,
             "attention: q, k, v must be [tokens, heads, head_dim], got {}, {}, {}", q.describe(), k.describe(),
             v.describe());
  const int64_t tq = q.dim(0), hq = q.dim(1), d = q.dim(2), tk = k.dim(0), hkv = k.dim(1);
  SB_REQUIRE(v.shape() == k.shape() && k.dim(2) == d, "attention: k {} and v {} do not match q {}", k.describe(),
             v.describe(), q.describe());
  SB_REQUIRE(hkv > 0 && hq % hkv == 0, "attention: {} query heads are not a multiple of {} kv heads", hq, hkv);
  SB_REQUIRE(out.numel() == q.numel() && last_dim(out) == d, "attention: out {} does not match q {}", out.describe(),
             q.describe());
  SB_REQUIRE(lse.numel() == tq * hq, "attention: lse {} is not [{}, {}]", lse.describe(), tq, hq);
  SB_REQUIRE(mask.kind != AttentionMask::Kind::Streaming || (mask.window >= 1 && mask.sink >= 0),
             "attention: streaming mask with window {} and sink {} (window must be >= 1, sink >= 0)", mask.window,
             mask.sink);
  SB_REQUIRE(!bytes_overlap(out, q) && !bytes_overlap(out, k) && !bytes_overlap(out, v),
             "attention: out {} overlaps an input", out.describe());
  if (mask.query_positions.defined()) mask = resolved_positions(mask, tq);
  count_attention(mask, tq, tk, hq, d);
  cpu::attention(q.ptr<float>(), k.ptr<float>(), v.ptr<float>(), tq, tk, hq, hkv, d, mask, scale, out.ptr<float>(),
                 lse.ptr<float>());
}

void CpuBackend::lse_merge(Tensor& out, Tensor& lse, const Tensor& other_out, const Tensor& other_lse) {
  require_f32(out, "lse_merge", "out");
  require_f32(lse, "lse_merge", "lse");
  require_f32(other_out, "lse_merge", "other_out");
  require_f32(other_lse, "lse_merge", "other_lse");
  const int64_t rows = lse.numel();
  SB_REQUIRE(other_lse.numel() == rows && other_out.numel() == out.numel() && rows > 0 && out.numel() % rows == 0,
             "lse_merge: out {}, lse {}, other_out {}, other_lse {} do not match", out.describe(), lse.describe(),
             other_out.describe(), other_lse.describe());
  const int64_t d = out.numel() / rows;
  float* o1 = out.ptr<float>();
  float* l1 = lse.ptr<float>();
  const float* o2 = other_out.ptr<float>();
  const float* l2 = other_lse.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const LseMergeWeights weights = lse_merge_weights(l1[r], l2[r]);
    for (int64_t c = 0; c < d; ++c) o1[r * d + c] = lse_merge_value(weights, o1[r * d + c], o2[r * d + c]);
    l1[r] = weights.lse;
  }
}

void CpuBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  require_f32(gate, "swiglu", "gate");
  require_f32(up, "swiglu", "up");
  require_f32(out, "swiglu", "out");
  SB_REQUIRE(gate.numel() == up.numel() && out.numel() == gate.numel(),
             "swiglu: gate {}, up {} and out {} differ in size", gate.describe(), up.describe(), out.describe());
  const float* g = gate.ptr<float>();
  const float* u = up.ptr<float>();
  float* o = out.ptr<float>();
  const int64_t n = gate.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) o[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
}

std::vector<int64_t> CpuBackend::argmax_rows(const Tensor& logits) {
  require_f32(logits, "argmax_rows", "logits");
  const int64_t cols = last_dim(logits);
  SB_REQUIRE(cols > 0, "argmax_rows: logits {} have no columns", logits.describe());
  const int64_t rows = logits.numel() / cols;
  const float* data = logits.ptr<float>();
  std::vector<int64_t> result(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * cols;
    // Like torch.argmax (and the cuda kernel): the first index of a tie wins,
    // and NaN counts as the largest value.
    int64_t best = 0;
    for (int64_t c = 1; c < cols && !std::isnan(row[best]); ++c) {
      if (row[c] > row[best] || std::isnan(row[c])) best = c;
    }
    result[size_t(r)] = best;
  }
  return result;
}

std::unique_ptr<PhaseTimer> CpuBackend::make_timer() { return std::make_unique<SteadyClockTimer>(); }

}  // namespace sb
