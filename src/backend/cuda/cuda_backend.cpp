#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime_api.h>
#include <fmt/ranges.h>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/cublaslt_gemm.h"
#include "backend/cuda/cudnn_attention.h"
#include "backend/cuda/device_allocator.h"
#include "backend/cuda/op_signature.h"
#include "backend/head_copy.h"
#include "kernels/elementwise.cuh"
#include "kernels/flash_attention.cuh"
#include "kernels/flash_decode.cuh"
#include "kernels/gemv.cuh"
#include "kernels/head_copy.cuh"
#include "kernels/synthetic.cuh"
#include "kernels/synthetic_slice.cuh"

namespace sb {
namespace {

constexpr size_t kStagingChunkBytes = size_t(16) << 20;
// cuDNN's fused kernel wins for long query blocks; for a handful of query rows
// (decode, star's query phase) our split-KV kernel fills the GPU instead.
// docs/PERFORMANCE.md has the measurements behind the threshold.
constexpr int64_t kCudnnMinQueryRows = 128;

template <typename T>
T* typed(const Tensor& t) {
  return static_cast<T*>(t.data());
}
__nv_bfloat16* bf16(const Tensor& t) { return typed<__nv_bfloat16>(t); }

void require_dtype(const Tensor& t, DType dtype, const char* op, const char* what) {
  SB_REQUIRE(t.defined(), "cuda {}: {} is an undefined tensor", op, what);
  SB_REQUIRE(t.dtype() == dtype, "cuda {}: {} must be {}, got {}", op, what, dtype_name(dtype), t.describe());
}

void require_shape(const Tensor& t, const std::vector<int64_t>& shape, const char* op, const char* what) {
  SB_REQUIRE(t.shape() == shape, "cuda {}: {} has shape {}, expected {} elements in shape [{}]", op, what,
             t.describe(), [&] {
               int64_t n = 1;
               for (int64_t d : shape) n *= d;
               return n;
             }(),
             fmt::join(shape, ", "));
}

void require_aligned16(const Tensor& t, const char* op, const char* what) {
  SB_REQUIRE(reinterpret_cast<uintptr_t>(t.data()) % 16 == 0,
             "cuda {}: {} ({}) is not 16-byte aligned (a row view at an odd offset?)", op, what, t.describe());
}

// Fewest keys one split of the split-KV path attends to (env
// STARBENCH_SPLIT_MIN_KEYS overrides, for measurements).
int64_t split_min_keys() {
  static const int64_t keys = [] {
    const char* value = std::getenv("STARBENCH_SPLIT_MIN_KEYS");
    int64_t parsed = value ? std::atoll(value) : 0;
    return parsed >= 64 ? parsed : int64_t(256);
  }();
  return keys;
}

DecodePath decode_path_from_env() {
  const char* value = std::getenv("STARBENCH_DECODE");
  if (value == nullptr || *value == 0 || std::strcmp(value, "graph") == 0) return DecodePath::Graph;
  if (std::strcmp(value, "eager") == 0) return DecodePath::Eager;
  if (std::strcmp(value, "legacy") == 0) return DecodePath::Legacy;
  fail("STARBENCH_DECODE={} is not one of graph, eager, legacy", value);
}

AttentionPath path_from_env() {
  const char* value = std::getenv("STARBENCH_ATTENTION");
  if (value == nullptr || std::strcmp(value, "auto") == 0 || *value == 0) return AttentionPath::Auto;
  if (std::strcmp(value, "cudnn") == 0) return AttentionPath::Cudnn;
  if (std::strcmp(value, "flash") == 0) return AttentionPath::Flash;
  fail("STARBENCH_ATTENTION={} is not one of auto, cudnn, flash", value);
}

class CudaTimer : public PhaseTimer {
 public:
  explicit CudaTimer(cudaStream_t stream) : stream_(stream) {
    CUDA_CHECK(cudaEventCreate(&start_));
    CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~CudaTimer() override {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  void start() override { CUDA_CHECK(cudaEventRecord(start_, stream_)); }
  void stop() override { CUDA_CHECK(cudaEventRecord(stop_, stream_)); }
  double elapsed_ms() override {
    CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0.f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return double(ms);
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace

Tensor recorded_tensor(CudaStepRecording& recording, StepMode mode, Tensor fresh_or_empty, DType dtype,
                       const std::vector<int64_t>& shape);

int cuda_device_count() {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: not an error here, just "absent"
    return 0;
  }
  return count;
}

bool cuda_device_present() { return cuda_device_count() > 0; }

std::unique_ptr<Backend> make_cuda_backend(int local_rank) { return std::make_unique<CudaBackend>(local_rank); }

CudaBackend::CudaBackend(int local_rank) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  SB_REQUIRE(status == cudaSuccess && count > 0, "rank {}: --backend cuda but no CUDA device is visible ({})",
             current_rank(), status == cudaSuccess ? "0 devices" : cudaGetErrorString(status));
  // One GPU per rank: a second rank on a device would fail late, inside NCCL
  // (create_backend refuses such a layout up front, naming the host and ranks).
  SB_REQUIRE(0 <= local_rank && local_rank < count,
             "rank {}: local rank {} but only {} GPU(s) visible: start at most one rank per GPU", current_rank(),
             local_rank, count);
  device_ = local_rank;
  CUDA_CHECK(cudaSetDevice(device_));
  cudaDeviceProp props{};
  CUDA_CHECK(cudaGetDeviceProperties(&props, device_));
  device_name_ = props.name;
  sm_count_ = props.multiProcessorCount;
  size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  capacity_bytes_ = free_bytes;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  allocator_ = std::make_shared<DeviceAllocator>(device_);
  gemm_workspace_ = DeviceAllocator::allocate(allocator_, CublasLtGemm::kWorkspaceBytes, "cuBLASLt workspace");
  gemm_ = std::make_unique<CublasLtGemm>(stream_, gemm_workspace_.get());
  attention_path_ = path_from_env();
  decode_path_ = decode_path_from_env();
  // Before any capture: a graph must not see the first launch's attribute setting.
  kernels::configure_gemv();
  kernels::configure_flash_decode();
  CUDA_CHECK(cudaGetLastError());
  try {
    auto allocator = allocator_;
    cudnn_ = std::make_unique<CudnnAttention>(
        stream_, [allocator](size_t bytes) { return DeviceAllocator::allocate(allocator, bytes, "cuDNN workspace"); });
  } catch (const Error& error) {
    cudnn_.reset();  // our own kernel covers every case; cuDNN is the fast path only
    SB_REQUIRE(attention_path_ != AttentionPath::Cudnn, "rank {}: STARBENCH_ATTENTION=cudnn but cuDNN did not start: {}",
               current_rank(), error.what());
  }
  error_flag_ = empty(DType::I32, {1});
  CUDA_CHECK(cudaMemsetAsync(error_flag_.data(), 0, sizeof(int32_t), stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CudaBackend::~CudaBackend() {
  if (stream_) cudaStreamSynchronize(stream_);
  cudnn_.reset();
  gemm_.reset();
  for (auto*& event : staging_events_)
    if (event) cudaEventDestroy(event);
  if (pinned_staging_) cudaFreeHost(pinned_staging_);
  if (stream_) cudaStreamDestroy(stream_);
}

// ---- memory ---------------------------------------------------------------------------

Tensor CudaBackend::empty(DType dtype, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    SB_REQUIRE(d >= 0, "cuda empty: negative dimension in [{}]", fmt::join(shape, ", "));
    n *= d;
  }
  if (step_mode_ == StepMode::Replaying) return recorded_tensor(*recording_, step_mode_, Tensor(), dtype, shape);
  auto storage = DeviceAllocator::allocate(allocator_, size_t(n) * dtype_size(dtype), "a tensor");
  Tensor tensor(std::move(storage), dtype, std::move(shape));
  if (step_mode_ == StepMode::Capturing) return recorded_tensor(*recording_, step_mode_, tensor, dtype, tensor.shape());
  return tensor;
}

Tensor CudaBackend::upload(const WeightSpec& spec) {
  require_eager("upload");
  SB_REQUIRE(!spec.shape.empty() && spec.numel() > 0, "weight {}: empty shape", spec.name);
  Tensor out = empty(DType::BF16, spec.shape);
  if (spec.is_synthetic() && spec.is_contiguous()) {
    kernels::launch_synthetic_bf16(bf16(out), out.numel(), spec.seed, spec.first_index, spec.scale, spec.offset,
                                   stream_);
    CUDA_CHECK_LAUNCH("synthetic_bf16");
  } else if (spec.is_synthetic()) {
    kernels::launch_synthetic_slice_bf16(bf16(out), spec.shape[0], spec.shape[1], spec.seed, spec.first_index,
                                         spec.source_row_stride, spec.scale, spec.offset, stream_);
    CUDA_CHECK_LAUNCH("synthetic_slice_bf16");
  } else {
    upload_mapped(spec, out);
  }
  return out;
}

void CudaBackend::upload_mapped(const WeightSpec& spec, Tensor& out) {
  DType source = spec.mapped_dtype;
  SB_REQUIRE(source == DType::BF16 || source == DType::F16 || source == DType::F32,
             "weight {} in {}: dtype {} cannot be loaded (BF16, F16 or F32 only)", spec.name, spec.file,
             dtype_name(source));
  if (pinned_staging_ == nullptr) {
    CUDA_CHECK(cudaMallocHost(&pinned_staging_, 2 * kStagingChunkBytes));
    staging_device_ = DeviceAllocator::allocate(allocator_, 2 * kStagingChunkBytes, "weight staging");
    for (auto*& event : staging_events_) CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  }
  const size_t element = dtype_size(source);
  const int64_t per_chunk = int64_t(kStagingChunkBytes / element);
  const char* src = static_cast<const char*>(spec.mapped_data);
  int slot = 0;
  // Two slots: the host fills one while the copy engine drains the other.
  for (int64_t first = 0; first < out.numel(); first += per_chunk, slot ^= 1) {
    int64_t count = std::min(per_chunk, out.numel() - first);
    char* pinned = static_cast<char*>(pinned_staging_) + slot * kStagingChunkBytes;
    CUDA_CHECK(cudaEventSynchronize(staging_events_[slot]));  // that slot's previous copy is done
    if (spec.is_contiguous()) {
      std::memcpy(pinned, src + size_t(first) * element, size_t(count) * element);
    } else {
      // A column slice (row-parallel shard): its rows are gathered from the
      // mapping one run of columns at a time, never the whole tensor.
      const int64_t columns = spec.shape.back();
      for (int64_t i = first; i < first + count;) {
        const int64_t run = std::min(columns - i % columns, first + count - i);
        std::memcpy(pinned + size_t(i - first) * element, src + size_t(source_index(spec, i)) * element,
                    size_t(run) * element);
        i += run;
      }
    }
    __nv_bfloat16* dst = bf16(out) + first;
    if (source == DType::BF16) {
      CUDA_CHECK(cudaMemcpyAsync(dst, pinned, size_t(count) * element, cudaMemcpyHostToDevice, stream_));
    } else {
      char* scratch = static_cast<char*>(staging_device_.get()) + slot * kStagingChunkBytes;
      CUDA_CHECK(cudaMemcpyAsync(scratch, pinned, size_t(count) * element, cudaMemcpyHostToDevice, stream_));
      if (source == DType::F32)
        kernels::launch_f32_to_bf16(reinterpret_cast<const float*>(scratch), dst, count, stream_);
      else
        kernels::launch_f16_to_bf16(reinterpret_cast<const __half*>(scratch), dst, count, stream_);
      CUDA_CHECK_LAUNCH("convert_to_bf16");
    }
    CUDA_CHECK(cudaEventRecord(staging_events_[slot], stream_));
  }
  // The caller may unmap the file after upload() returns.
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Tensor CudaBackend::from_host(DType dtype, std::vector<int64_t> shape, const void* host_data) {
  require_eager("from_host");
  Tensor out = empty(dtype, std::move(shape));
  if (out.nbytes() > 0) {
    // On our stream: the block may have been freed by work still queued there.
    CUDA_CHECK(cudaMemcpyAsync(out.data(), host_data, out.nbytes(), cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  return out;
}

std::vector<float> CudaBackend::to_host_f32(const Tensor& tensor) {
  SB_REQUIRE(tensor.defined(), "cuda to_host_f32: undefined tensor");
  require_eager("to_host_f32");
  std::vector<float> values(size_t(tensor.numel()));
  if (values.empty()) return values;
  std::vector<char> raw(tensor.nbytes());
  CUDA_CHECK(cudaMemcpyAsync(raw.data(), tensor.data(), raw.size(), cudaMemcpyDeviceToHost, stream_));
  synchronize();
  for (size_t i = 0; i < values.size(); ++i) {
    const char* at = raw.data() + i * dtype_size(tensor.dtype());
    switch (tensor.dtype()) {
      case DType::F32: std::memcpy(&values[i], at, 4); break;
      case DType::BF16: { uint16_t b; std::memcpy(&b, at, 2); values[i] = bf16_to_f32(b); break; }
      case DType::F16: { uint16_t h; std::memcpy(&h, at, 2); values[i] = f16_to_f32(h); break; }
      case DType::I32: { int32_t v; std::memcpy(&v, at, 4); values[i] = float(v); break; }
      case DType::I64: { int64_t v; std::memcpy(&v, at, 8); values[i] = float(v); break; }
    }
  }
  return values;
}

void CudaBackend::copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) {
  SB_REQUIRE(dst.dtype() == src.dtype() && dst.row_numel() == src.row_numel(),
             "cuda copy_rows: {} and {} differ in dtype or row size", dst.describe(), src.describe());
  SB_REQUIRE(num_rows >= 0 && dst_row >= 0 && src_row >= 0 && dst_row + num_rows <= dst.dim(0) &&
                 src_row + num_rows <= src.dim(0),
             "cuda copy_rows: rows [{}, {}) of {} into rows [{}, {}) of {} out of range", src_row, src_row + num_rows,
             src.describe(), dst_row, dst_row + num_rows, dst.describe());
  if (num_rows == 0) return;
  size_t row_bytes = size_t(dst.row_numel()) * dtype_size(dst.dtype());
  if (!step_gate("copy_rows", (OpSignature("copy_rows") << dst.data() << src.data() << dst_row << src_row << num_rows
                                                        << row_bytes).value()))
    return;
  CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst.data()) + size_t(dst_row) * row_bytes,
                             static_cast<const char*>(src.data()) + size_t(src_row) * row_bytes,
                             size_t(num_rows) * row_bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::copy_heads(Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src, int64_t src_row,
                             int64_t src_head, int64_t num_rows, int64_t num_heads) {
  const HeadCopy copy =
      plan_head_copy("cuda copy_heads", dst, dst_row, dst_head, src, src_row, src_head, num_rows, num_heads);
  if (copy.width == 0 || copy.height == 0) return;
  if (!step_gate("copy_heads", (OpSignature("copy_heads") << dst.data() << src.data() << copy.dst_offset
                                                          << copy.src_offset << copy.dst_pitch << copy.src_pitch
                                                          << copy.width << copy.height).value()))
    return;
  CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(dst.data()) + copy.dst_offset, copy.dst_pitch,
                               static_cast<const char*>(src.data()) + copy.src_offset, copy.src_pitch, copy.width,
                               copy.height, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::copy_head_list(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows,
                                 const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) {
  if (dst_heads.size() > size_t(kernels::kMaxHeadList)) {
    Backend::copy_head_list(dst, dst_row, src, src_row, num_rows, dst_heads, src_heads);
    return;
  }
  check_head_list("cuda copy_head_list", dst, src, dst_heads, src_heads);
  if (dst_heads.empty()) return;
  // The whole rows' range, checked as one head of each side.
  const HeadCopy rows = plan_head_copy("cuda copy_head_list", dst, dst_row, 0, src, src_row, 0, num_rows, 1);
  kernels::HeadList list;
  reset_zeroed(list);
  list.count = int(dst_heads.size());
  for (size_t i = 0; i < dst_heads.size(); ++i) {
    list.dst[i] = int32_t(dst_heads[i]);
    list.src[i] = int32_t(src_heads[i]);
  }
  if (!step_gate("copy_head_list", OpSignature("copy_head_list")
                                       .add_struct(list)
                                       .add_struct(rows)
                                       .operator<<(dst.data())
                                       .operator<<(src.data())
                                       .value()))
    return;
  kernels::launch_copy_head_list(static_cast<char*>(dst.data()) + rows.dst_offset, int64_t(rows.dst_pitch),
                                 static_cast<const char*>(src.data()) + rows.src_offset, int64_t(rows.src_pitch),
                                 num_rows, int64_t(rows.width), list, stream_);
  CUDA_CHECK_LAUNCH("copy_head_list");
}

size_t CudaBackend::bytes_in_use() const { return allocator_->bytes_in_use(); }
size_t CudaBackend::peak_bytes() const { return allocator_->peak_bytes(); }
void CudaBackend::reset_peak() { allocator_->reset_peak(); }

// ---- ops ------------------------------------------------------------------------------

void CudaBackend::embedding(const Tensor& table, const Tensor& tokens, Tensor& out) {
  require_dtype(table, DType::BF16, "embedding", "table");
  require_dtype(tokens, DType::I32, "embedding", "tokens");
  require_dtype(out, DType::BF16, "embedding", "out");
  SB_REQUIRE(table.rank() == 2, "cuda embedding: table must be [vocab, hidden], got {}", table.describe());
  require_shape(out, {tokens.numel(), table.dim(1)}, "embedding", "out");
  last_vocab_ = table.dim(0);
  if (!step_gate("embedding", (OpSignature("embedding") << table.data() << tokens.data() << tokens.numel()
                                                        << out.data()).value()))
    return;
  kernels::launch_embedding(bf16(table), table.dim(0), table.dim(1), typed<int32_t>(tokens), tokens.numel(), bf16(out),
                            typed<int>(error_flag_), stream_);
  CUDA_CHECK_LAUNCH("embedding");
}

void CudaBackend::rmsnorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  require_dtype(x, DType::BF16, "rmsnorm", "x");
  require_dtype(weight, DType::BF16, "rmsnorm", "weight");
  require_dtype(out, DType::BF16, "rmsnorm", "out");
  int64_t hidden = weight.numel();
  SB_REQUIRE(x.rank() >= 1 && x.shape().back() == hidden && out.shape() == x.shape(),
             "cuda rmsnorm: x {} / out {} do not match weight {}", x.describe(), out.describe(), weight.describe());
  if (!step_gate("rmsnorm", (OpSignature("rmsnorm") << x.data() << weight.data() << x.numel() << hidden << eps
                                                    << out.data()).value()))
    return;
  kernels::launch_rmsnorm(bf16(x), bf16(weight), x.numel() / hidden, hidden, eps, bf16(out), stream_);
  CUDA_CHECK_LAUNCH("rmsnorm");
}

void CudaBackend::matmul(const Tensor& x, const Tensor& w, Tensor& out, bool accumulate) {
  require_dtype(x, DType::BF16, "matmul", "x");
  require_dtype(w, DType::BF16, "matmul", "w");
  require_dtype(out, DType::BF16, "matmul", "out");
  SB_REQUIRE(w.rank() == 2, "cuda matmul: w must be [N, K], got {}", w.describe());
  int64_t n = w.dim(0), k = w.dim(1);
  SB_REQUIRE(x.rank() >= 1 && x.shape().back() == k, "cuda matmul: x {} does not end in K = {} of w {}",
             x.describe(), k, w.describe());
  int64_t tokens = x.numel() / std::max<int64_t>(k, 1);
  SB_REQUIRE(out.numel() == tokens * n && out.shape().back() == n, "cuda matmul: out {} is not [{}, {}]",
             out.describe(), tokens, n);
  count_matmul(tokens, n, k);
  if (!step_gate("matmul", (OpSignature("matmul") << x.data() << w.data() << out.data() << tokens << n << k
                                                  << accumulate).value()))
    return;
  if (k == 0) {
    if (!accumulate) CUDA_CHECK(cudaMemsetAsync(out.data(), 0, out.nbytes(), stream_));
    return;
  }
  // The LM head (N ~ 128K) streams as fast through cuBLASLt (docs/PERFORMANCE.md); the GEMV wins below.
  if (gemv_fits(x, {&w}) && n < 65536) {
    auto p = kernels::GemvParams();
    reset_zeroed(p);
    p.x = bf16(x);
    p.tokens = int(tokens);
    p.k = k;
    p.m[0] = {bf16(w), bf16(out), n};
    p.count = 1;
    p.accumulate = accumulate;
    kernels::launch_gemv(p, stream_);
    CUDA_CHECK_LAUNCH("gemv");
    return;
  }
  gemm_->run(bf16(x), bf16(w), bf16(out), tokens, n, k, accumulate);
}

void CudaBackend::set_rope_frequencies(const std::vector<double>& inverse_frequencies) {
  SB_REQUIRE(!inverse_frequencies.empty(), "cuda set_rope_frequencies: no frequencies");
  // DType has no F64: the doubles travel as 8-byte I64 elements, bit for bit.
  inv_freq_ = from_host(DType::I64, {int64_t(inverse_frequencies.size())}, inverse_frequencies.data());
}

void CudaBackend::rope(Tensor& x, const Tensor& positions) {
  require_dtype(x, DType::BF16, "rope", "x");
  require_dtype(positions, DType::I32, "rope", "positions");
  SB_REQUIRE(inv_freq_.defined(), "cuda rope: set_rope_frequencies was never called");
  SB_REQUIRE(x.rank() == 3 && x.dim(2) == 2 * inv_freq_.numel() && positions.numel() == x.dim(0),
             "cuda rope: x {} must be [T, H, {}] with {} positions, got {} positions", x.describe(),
             2 * inv_freq_.numel(), x.rank() ? x.dim(0) : 0, positions.numel());
  if (!step_gate("rope", (OpSignature("rope") << x.data() << x.numel() << x.dim(1) << positions.data()).value()))
    return;
  kernels::launch_rope(bf16(x), x.dim(0), x.dim(1), x.dim(2), typed<int32_t>(positions), typed<double>(inv_freq_),
                       stream_);
  CUDA_CHECK_LAUNCH("rope");
}

void CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale,
                            Tensor& out, Tensor& lse) {
  for (auto [t, what] : {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}, {&out, "out"}}) {
    require_dtype(*t, DType::BF16, "attention", what);
    require_aligned16(*t, "attention", what);
    SB_REQUIRE(t->rank() == 3, "cuda attention: {} must be [T, H, d], got {}", what, t->describe());
  }
  require_dtype(lse, DType::F32, "attention", "lse");
  const int64_t q_len = q.dim(0), k_len = k.dim(0), heads = q.dim(1), kv_heads = k.dim(1), d = q.dim(2);
  SB_REQUIRE(v.shape() == k.shape(), "cuda attention: v {} differs from k {}", v.describe(), k.describe());
  SB_REQUIRE(k.dim(2) == d, "cuda attention: k head dim {} != q head dim {}", k.dim(2), d);
  SB_REQUIRE(kv_heads > 0 && heads % kv_heads == 0, "cuda attention: {} query heads not a multiple of {} KV heads",
             heads, kv_heads);
  SB_REQUIRE(d == 32 || d == 64 || d == 128, "cuda attention: head dim {} unsupported (32, 64 or 128)", d);
  require_shape(out, q.shape(), "attention", "out");
  require_shape(lse, {q_len, heads}, "attention", "lse");
  if (q_len == 0) return;
  count_attention(mask, q_len, k_len, heads, d);

  SB_REQUIRE(mask.kind != AttentionMask::Kind::Streaming || (mask.window >= 1 && mask.sink >= 0),
             "cuda attention: streaming mask with window {} and sink {} (window must be >= 1, sink >= 0)",
             mask.window, mask.sink);
  // The streaming (Λ) mask runs on our kernel: it reads only the sink's and the windows' key tiles.
  bool cudnn_mask_ok = mask.kind == AttentionMask::Kind::None ||
                       (mask.kind == AttentionMask::Kind::Causal && mask.causal_offset >= 0);
  SB_REQUIRE(!mask.query_positions.defined(), "cuda attention: a causal-by-position mask is for attention_blocks");
  // Not inside a recorded step: cuDNN's tuning synchronises (decoding steps never reach its query lengths).
  bool try_cudnn = cudnn_ && k_len > 0 && cudnn_mask_ok && step_mode_ == StepMode::Eager &&
                   (attention_path_ == AttentionPath::Cudnn ||
                    (attention_path_ == AttentionPath::Auto && q_len >= kCudnnMinQueryRows));
  if (try_cudnn) {
    CudnnAttentionProblem problem;
    problem.q = q.data();
    problem.k = k.data();
    problem.v = v.data();
    problem.out = out.data();
    problem.lse = typed<float>(lse);
    problem.q_len = q_len;
    problem.k_len = k_len;
    problem.num_heads = int(heads);
    problem.num_kv_heads = int(kv_heads);
    problem.head_dim = int(d);
    problem.scale = scale;
    problem.causal = mask.kind == AttentionMask::Kind::Causal;
    problem.causal_offset = mask.causal_offset;
    if (cudnn_->run(problem)) {
      last_attention_path_ = "cudnn";
      return;
    }
    SB_REQUIRE(attention_path_ != AttentionPath::Cudnn, "rank {}: STARBENCH_ATTENTION=cudnn but cuDNN refused: {}",
               current_rank(), cudnn_->last_refusal());
  }
  attention_flash(q, k, v, mask, scale, out, lse);
}

void CudaBackend::attention_flash(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale,
                                  Tensor& out, Tensor& lse) {
  kernels::FlashAttentionParams p;
  reset_zeroed(p);
  p.q = bf16(q);
  p.k = bf16(k);
  p.v = bf16(v);
  p.out = bf16(out);
  p.lse = typed<float>(lse);
  p.q_len = q.dim(0);
  p.k_len = k.dim(0);
  p.num_heads = int(q.dim(1));
  p.num_kv_heads = int(k.dim(1));
  p.head_dim = int(q.dim(2));
  p.scale = scale;
  const bool streaming = mask.kind == AttentionMask::Kind::Streaming;
  p.causal = mask.kind == AttentionMask::Kind::Causal || streaming;
  p.causal_offset = mask.causal_offset;
  if (streaming) {
    p.sink = mask.sink;
    p.window = mask.window;
  }
  p.keys_per_split = std::max<int64_t>(p.k_len, 1);

  // Split the keys when the (row tiles x KV heads) grid leaves most SMs idle.
  // Measured on the H100 (docs/PERFORMANCE.md): about one block per SM is best
  // up to 32K keys, two per SM beyond; never fewer than 256 keys per split.
  const int64_t group = p.num_heads / p.num_kv_heads;
  const int64_t blocks = (p.q_len * group + kernels::kFlashRowsPerBlock - 1) / kernels::kFlashRowsPerBlock * p.num_kv_heads;
  Tensor partial_out, partial_lse;
  if (blocks < sm_count_ && p.k_len >= 1024 && !streaming) {  // a streaming row reads O(sink + window) keys
    const int64_t target_blocks = p.k_len > 32768 ? 2 * sm_count_ : sm_count_;
    int64_t want = std::min<int64_t>((target_blocks + blocks - 1) / blocks, p.k_len / split_min_keys());
    want = std::max<int64_t>(want, 1);
    int64_t per_split = (p.k_len + want - 1) / want;
    per_split = (per_split + kernels::kFlashKeysPerTile - 1) / kernels::kFlashKeysPerTile * kernels::kFlashKeysPerTile;
    int64_t splits = (p.k_len + per_split - 1) / per_split;
    if (splits > 1) {
      p.num_splits = int(splits);
      p.keys_per_split = per_split;
      partial_out = empty(DType::F32, {splits, p.q_len, p.num_heads, p.head_dim});
      partial_lse = empty(DType::F32, {splits, p.q_len, p.num_heads});
      p.partial_out = typed<float>(partial_out);
      p.partial_lse = typed<float>(partial_lse);
    }
  }
  if (!step_gate("flash_attention", OpSignature("flash_attention").add_struct(p).value())) {
    last_attention_path_ = p.num_splits > 1 ? "flash-split" : "flash";
    return;
  }
  kernels::launch_flash_attention(p, stream_);
  CUDA_CHECK_LAUNCH("flash_attention");
  last_attention_path_ = p.num_splits > 1 ? "flash-split" : "flash";
  // partial buffers return to the cache here; later work on this stream is ordered after the kernels.
}

void CudaBackend::lse_merge(Tensor& out, Tensor& lse, const Tensor& other_out, const Tensor& other_lse) {
  require_dtype(out, DType::BF16, "lse_merge", "out");
  require_dtype(other_out, DType::BF16, "lse_merge", "other_out");
  require_dtype(lse, DType::F32, "lse_merge", "lse");
  require_dtype(other_lse, DType::F32, "lse_merge", "other_lse");
  SB_REQUIRE(out.shape() == other_out.shape() && lse.shape() == other_lse.shape() && out.rank() == 3 &&
                 lse.numel() == out.dim(0) * out.dim(1),
             "cuda lse_merge: out {} / lse {} / other_out {} / other_lse {} do not match", out.describe(),
             lse.describe(), other_out.describe(), other_lse.describe());
  if (!step_gate("lse_merge", (OpSignature("lse_merge") << out.data() << lse.data() << other_out.data()
                                                        << other_lse.data() << lse.numel() << out.dim(2)).value()))
    return;
  kernels::launch_lse_merge(bf16(out), typed<float>(lse), bf16(other_out), typed<float>(other_lse), lse.numel(),
                            out.dim(2), stream_);
  CUDA_CHECK_LAUNCH("lse_merge");
}

void CudaBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  require_dtype(gate, DType::BF16, "swiglu", "gate");
  require_dtype(up, DType::BF16, "swiglu", "up");
  require_dtype(out, DType::BF16, "swiglu", "out");
  SB_REQUIRE(gate.shape() == up.shape() && out.shape() == gate.shape(), "cuda swiglu: gate {} up {} out {} differ",
             gate.describe(), up.describe(), out.describe());
  if (!step_gate("swiglu", (OpSignature("swiglu") << gate.data() << up.data() << out.data() << out.numel()).value()))
    return;
  kernels::launch_swiglu(bf16(gate), bf16(up), bf16(out), out.numel(), stream_);
  CUDA_CHECK_LAUNCH("swiglu");
}

std::vector<int64_t> CudaBackend::argmax_rows(const Tensor& logits) {
  SB_REQUIRE(logits.rank() == 2, "cuda argmax_rows: logits must be [T, V], got {}", logits.describe());
  require_eager("argmax_rows");
  Tensor indices = empty(DType::I64, {logits.dim(0)});
  if (logits.dtype() == DType::BF16)
    kernels::launch_argmax_rows(bf16(logits), logits.dim(0), logits.dim(1), typed<int64_t>(indices), stream_);
  else if (logits.dtype() == DType::F32)
    kernels::launch_argmax_rows_f32(typed<float>(logits), logits.dim(0), logits.dim(1), typed<int64_t>(indices),
                                    stream_);
  else
    fail("cuda argmax_rows: logits must be BF16 or F32, got {}", logits.describe());
  CUDA_CHECK_LAUNCH("argmax_rows");
  std::vector<int64_t> result(size_t(logits.dim(0)));
  if (!result.empty())
    CUDA_CHECK(cudaMemcpyAsync(result.data(), indices.data(), result.size() * sizeof(int64_t), cudaMemcpyDeviceToHost,
                               stream_));
  synchronize();
  return result;
}

void CudaBackend::check_device_errors() {
  int32_t flag = 0;
  CUDA_CHECK(cudaMemcpyAsync(&flag, error_flag_.data(), sizeof flag, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (flag != 0) {
    CUDA_CHECK(cudaMemsetAsync(error_flag_.data(), 0, sizeof flag, stream_));
    if (flag & 1) fail("rank {}: embedding got a token id outside [0, {}) (vocabulary size)", current_rank(), last_vocab_);
    if (flag & 4) fail("rank {}: gather_head_rows got an index outside its source's rows", current_rank());
    fail("rank {}: write_rows_at: a decoding step's position named a row outside its KV store", current_rank());
  }
}

void CudaBackend::synchronize() {
  require_eager("synchronize");
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  check_device_errors();
}

std::string CudaBackend::cudnn_description() const {
  if (!cudnn_) return "cuDNN unavailable";
  return "cuDNN " + CudnnAttention::version_string() + ", engine " + std::to_string(cudnn_->last_engine());
}

std::unique_ptr<PhaseTimer> CudaBackend::make_timer() { return std::make_unique<CudaTimer>(stream_); }

}  // namespace sb
