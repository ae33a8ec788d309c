#include "backend/cuda/cudnn_attention.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstdio>
#include <limits>
#include <vector>

#include <cudnn_graph.h>

#include "backend/cuda/check_cuda.h"
#include "kernels/elementwise.cuh"

namespace sb {
namespace {

// Owns one backend descriptor.
class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) { CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_)); }
  ~Desc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }
  Desc& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* value) {
    CUDNN_CHECK(cudnnBackendSetAttribute(d_, name, type, count, value));
    return *this;
  }
  Desc& set_desc(cudnnBackendAttributeName_t name, const Desc& other) {
    cudnnBackendDescriptor_t raw = other.get();
    return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  }
  void finalize() { CUDNN_CHECK(cudnnBackendFinalize(d_)); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

using Dims = std::array<int64_t, 4>;

// Unique ids of the graph's tensors; the non-virtual ones appear in the variant pack.
enum Uid : int64_t {
  kQ = 1, kKt, kV, kO, kStats, kScale, kMaskValue, kAddKv, kSubQ,
  kS = 100, kScaled, kRow, kCol, kRowPlusKv, kRowShifted, kVisible, kMasked, kMax, kCentered, kExp, kSum, kLog, kP,
};

// Builds the graph; every descriptor stays alive with the builder (the plan keeps it).
struct GraphBuilder {
  std::vector<std::unique_ptr<Desc>> keep;
  std::vector<cudnnBackendDescriptor_t> ops;

  Desc& tensor(int64_t uid, cudnnDataType_t type, Dims dims, Dims strides, bool is_virtual, bool by_value = false) {
    auto t = std::make_unique<Desc>(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t alignment = 16;
    bool virt = is_virtual;
    t->set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type)
        .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data())
        .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data())
        .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid)
        .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment)
        .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt);
    if (by_value) {
      bool value = true;
      t->set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &value);
    }
    t->finalize();
    keep.push_back(std::move(t));
    return *keep.back();
  }
  Desc& scalar(int64_t uid, cudnnDataType_t type) { return tensor(uid, type, {1, 1, 1, 1}, {1, 1, 1, 1}, false, true); }

  void add_op(std::unique_ptr<Desc> op) {
    op->finalize();
    ops.push_back(op->get());
    keep.push_back(std::move(op));
  }

  void pointwise(cudnnPointwiseMode_t mode, cudnnDataType_t compute, const Desc& x, const Desc* b, const Desc& y,
                 const Desc* t = nullptr, int64_t axis = -1) {
    auto pw = std::make_unique<Desc>(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    pw->set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode)
        .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &compute);
    if (axis >= 0) pw->set(CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    pw->finalize();
    auto op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    op->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, *pw).set_desc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
    if (b) op->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
    op->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
    if (t) op->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, *t);
    keep.push_back(std::move(pw));
    add_op(std::move(op));
  }

  void reduction(cudnnReduceTensorOp_t mode, const Desc& x, const Desc& y) {
    auto red = std::make_unique<Desc>(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    red->set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode)
        .set(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
    red->finalize();
    auto op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    op->set_desc(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x)
        .set_desc(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y)
        .set_desc(CUDNN_ATTR_OPERATION_REDUCTION_DESC, *red);
    keep.push_back(std::move(red));
    add_op(std::move(op));
  }

  void matmul(const Desc& a, const Desc& b, const Desc& c) {
    auto mm = std::make_unique<Desc>(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    mm->set(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
    mm->finalize();
    auto op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    op->set_desc(CUDNN_ATTR_OPERATION_MATMUL_ADESC, a)
        .set_desc(CUDNN_ATTR_OPERATION_MATMUL_BDESC, b)
        .set_desc(CUDNN_ATTR_OPERATION_MATMUL_CDESC, c)
        .set_desc(CUDNN_ATTR_OPERATION_MATMUL_DESC, *mm);
    keep.push_back(std::move(mm));
    add_op(std::move(op));
  }
};

// Global index of the engine behind an engine config (for logs and the tuning report).
int64_t engine_index(cudnnBackendDescriptor_t config) {
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t count = 0, index = -1;
  if (cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &raw) !=
      CUDNN_STATUS_SUCCESS)
    return -1;
  if (cudnnBackendGetAttribute(raw, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count, &index) !=
      CUDNN_STATUS_SUCCESS)
    return -1;
  return index;
}

// Heuristics rank engines by a model, not by measurement: for large problems
// the first few configs that finalize are timed once on the real inputs.
constexpr size_t kMaxCandidates = 4;
constexpr double kTuneAboveScoreElements = double(1 << 30);  // q_len * k_len * heads

}  // namespace

struct CudnnAttention::Plan {
  GraphBuilder graph;  // keeps the descriptors the plan was built from
  // Execution plans of the engine configs that finalized, in heuristic order;
  // `chosen` indexes the one used (the fastest, once tuned).
  std::vector<std::unique_ptr<Desc>> candidates;
  std::vector<int64_t> engine_ids;
  size_t chosen = 0;
  bool tuned = false;
  std::shared_ptr<void> workspace;
  int64_t workspace_bytes = 0;
  bool shifted_mask = false;  // row index shifted by (add_kv - sub_q)
  int32_t add_kv = 0, sub_q = 0;
};

std::string CudnnAttention::version_string() {
  size_t v = cudnnGetVersion();
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

CudnnAttention::CudnnAttention(cudaStream_t stream, Allocate allocate) : stream_(stream), allocate_(std::move(allocate)) {
  SB_REQUIRE(cudnnGetVersion() >= 90000, "cuDNN {} is too old for fused attention (9.0 or newer)", version_string());
  cudnnHandle_t handle = nullptr;
  CUDNN_CHECK(cudnnCreate(&handle));
  handle_ = handle;
  CUDNN_CHECK(cudnnSetStream(handle, stream_));
}

CudnnAttention::~CudnnAttention() {
  plans_.clear();
  if (handle_) cudnnDestroy(static_cast<cudnnHandle_t>(handle_));
}

CudnnAttention::Plan* CudnnAttention::plan_for(const CudnnAttentionProblem& p) {
  Key key{p.q_len, p.k_len, p.num_heads, p.num_kv_heads, p.head_dim, p.causal, p.causal ? p.causal_offset : 0};
  auto found = plans_.find(key);
  if (found != plans_.end()) return found->second.get();

  auto plan = std::make_unique<Plan>();
  GraphBuilder& g = plan->graph;
  const int64_t tq = p.q_len, tk = p.k_len, hq = p.num_heads, hkv = p.num_kv_heads, d = p.head_dim;
  // Token-major [T, H, d] seen as [b=1, H, T, d] through strides.
  Desc& q = g.tensor(kQ, CUDNN_DATA_BFLOAT16, {1, hq, tq, d}, {tq * hq * d, d, hq * d, 1}, false);
  Desc& kt = g.tensor(kKt, CUDNN_DATA_BFLOAT16, {1, hkv, d, tk}, {tk * hkv * d, d, 1, hkv * d}, false);
  Desc& v = g.tensor(kV, CUDNN_DATA_BFLOAT16, {1, hkv, tk, d}, {tk * hkv * d, d, hkv * d, 1}, false);
  Desc& o = g.tensor(kO, CUDNN_DATA_BFLOAT16, {1, hq, tq, d}, {tq * hq * d, d, hq * d, 1}, false);
  const Dims score_dims{1, hq, tq, tk}, score_strides{hq * tq * tk, tq * tk, tk, 1};
  const Dims row_dims{1, hq, tq, 1}, row_strides{hq * tq, tq, 1, 1};
  Desc& stats = g.tensor(kStats, CUDNN_DATA_FLOAT, row_dims, row_strides, false);
  Desc& scale = g.scalar(kScale, CUDNN_DATA_FLOAT);

  Desc& s = g.tensor(kS, CUDNN_DATA_FLOAT, score_dims, score_strides, true);
  g.matmul(q, kt, s);
  Desc& scaled = g.tensor(kScaled, CUDNN_DATA_FLOAT, score_dims, score_strides, true);
  g.pointwise(CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, s, &scale, scaled);

  const Desc* logits = &scaled;
  if (p.causal) {
    // The causal subgraph cuDNN's fused engine recognises: row (+ s_kv - s_q) >= col,
    // select(scores, lowest) where false. Only offsets 0 and k_len - q_len are sent here.
    Desc& row = g.tensor(kRow, CUDNN_DATA_INT32, score_dims, score_strides, true);
    Desc& col = g.tensor(kCol, CUDNN_DATA_INT32, score_dims, score_strides, true);
    g.pointwise(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, scaled, nullptr, row, nullptr, 2);
    g.pointwise(CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, scaled, nullptr, col, nullptr, 3);
    const Desc* shifted = &row;
    if (p.causal_offset != 0) {
      plan->shifted_mask = true;
      plan->add_kv = int32_t(tk);
      plan->sub_q = int32_t(tk - p.causal_offset);
      Desc& add_kv = g.scalar(kAddKv, CUDNN_DATA_INT32);
      Desc& sub_q = g.scalar(kSubQ, CUDNN_DATA_INT32);
      Desc& plus = g.tensor(kRowPlusKv, CUDNN_DATA_INT32, score_dims, score_strides, true);
      g.pointwise(CUDNN_POINTWISE_ADD, CUDNN_DATA_INT32, row, &add_kv, plus);
      Desc& minus = g.tensor(kRowShifted, CUDNN_DATA_INT32, score_dims, score_strides, true);
      g.pointwise(CUDNN_POINTWISE_SUB, CUDNN_DATA_INT32, plus, &sub_q, minus);
      shifted = &minus;
    }
    Desc& visible = g.tensor(kVisible, CUDNN_DATA_BOOLEAN, score_dims, score_strides, true);
    g.pointwise(CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, *shifted, &col, visible);
    Desc& mask_value = g.scalar(kMaskValue, CUDNN_DATA_FLOAT);
    Desc& masked = g.tensor(kMasked, CUDNN_DATA_FLOAT, score_dims, score_strides, true);
    g.pointwise(CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, scaled, &mask_value, masked, &visible);
    logits = &masked;
  }

  // Softmax with stats: stats = max + log(sum exp(x - max)) is the natural-log LSE.
  Desc& max = g.tensor(kMax, CUDNN_DATA_FLOAT, row_dims, row_strides, true);
  g.reduction(CUDNN_REDUCE_TENSOR_MAX, *logits, max);
  Desc& centered = g.tensor(kCentered, CUDNN_DATA_FLOAT, score_dims, score_strides, true);
  g.pointwise(CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, *logits, &max, centered);
  Desc& exp = g.tensor(kExp, CUDNN_DATA_FLOAT, score_dims, score_strides, true);
  g.pointwise(CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, centered, nullptr, exp);
  Desc& sum = g.tensor(kSum, CUDNN_DATA_FLOAT, row_dims, row_strides, true);
  g.reduction(CUDNN_REDUCE_TENSOR_ADD, exp, sum);
  Desc& log = g.tensor(kLog, CUDNN_DATA_FLOAT, row_dims, row_strides, true);
  g.pointwise(CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, sum, nullptr, log);
  g.pointwise(CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, max, &log, stats);
  // P in the input type: the engine's second GEMM takes bf16 operands.
  Desc& probs = g.tensor(kP, CUDNN_DATA_BFLOAT16, score_dims, score_strides, true);
  g.pointwise(CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, exp, &sum, probs);
  g.matmul(probs, v, o);

  cudnnHandle_t handle = static_cast<cudnnHandle_t>(handle_);
  auto op_graph = std::make_unique<Desc>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  op_graph->set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, int64_t(g.ops.size()), g.ops.data())
      .set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  op_graph->finalize();

  Desc heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  heuristics.set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, *op_graph)
      .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  heuristics.finalize();
  int64_t available = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                       0, &available, nullptr));
  SB_REQUIRE(available > 0, "cuDNN heuristics found no engine for this attention graph");
  std::vector<std::unique_ptr<Desc>> configs;
  std::vector<cudnnBackendDescriptor_t> raw_configs;
  for (int64_t i = 0; i < available; ++i) {
    configs.push_back(std::make_unique<Desc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw_configs.push_back(configs.back()->get());
  }
  int64_t returned = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                       available, &returned, raw_configs.data()));
  std::string why = "no engine config finalized";
  for (int64_t i = 0; i < returned && plan->candidates.size() < kMaxCandidates; ++i) {
    auto candidate = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    candidate->set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle)
        .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw_configs[size_t(i)]);
    cudnnStatus_t status = cudnnBackendFinalize(candidate->get());
    if (status != CUDNN_STATUS_SUCCESS) {
      char text[512] = {0};
      cudnnGetLastErrorString(text, sizeof text);
      why = std::string(cudnnGetErrorString(status)) + " " + text;
      continue;
    }
    int64_t workspace_bytes = 0;
    CUDNN_CHECK(cudnnBackendGetAttribute(candidate->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                         CUDNN_TYPE_INT64, 1, nullptr, &workspace_bytes));
    plan->workspace_bytes = std::max(plan->workspace_bytes, workspace_bytes);
    plan->engine_ids.push_back(engine_index(raw_configs[size_t(i)]));
    plan->candidates.push_back(std::move(candidate));
  }
  SB_REQUIRE(!plan->candidates.empty(), "cuDNN: {} of {} engine configs, none finalized: {}", returned, available,
             why);
  if (plan->workspace_bytes > 0) plan->workspace = allocate_(size_t(plan->workspace_bytes));
  plan->graph.keep.push_back(std::move(op_graph));
  return plans_.emplace(key, std::move(plan)).first->second.get();
}

bool CudnnAttention::run(const CudnnAttentionProblem& p) {
  if (p.causal && p.causal_offset != 0 && p.causal_offset != p.k_len - p.q_len) {
    last_refusal_ = "causal offset other than top-left (0) or bottom-right (k_len - q_len)";
    return false;
  }
  if (p.causal && p.causal_offset < 0) {
    last_refusal_ = "negative causal offset (fully masked rows)";
    return false;
  }
  Key key{p.q_len, p.k_len, p.num_heads, p.num_kv_heads, p.head_dim, p.causal, p.causal ? p.causal_offset : 0};
  Plan* plan = nullptr;
  auto found = plans_.find(key);
  if (found != plans_.end()) {
    plan = found->second.get();
  } else {
    try {
      plan = plan_for(p);
    } catch (const Error& e) {
      plans_.emplace(key, nullptr);  // refused once, refused always: do not rebuild per call
      last_refusal_ = e.what();
      static bool reported = false;
      if (!reported) std::fprintf(stderr, "starbench: cuDNN attention refused, using own kernel: %s\n", e.what());
      reported = true;
      return false;
    }
  }
  if (plan == nullptr) return false;

  std::shared_ptr<void> stats = allocate_(size_t(p.q_len) * size_t(p.num_heads) * sizeof(float));
  float scale = p.scale;
  float mask_value = std::numeric_limits<float>::lowest();
  std::vector<int64_t> uids{kQ, kKt, kV, kO, kStats, kScale};
  std::vector<void*> pointers{const_cast<void*>(p.q), const_cast<void*>(p.k), const_cast<void*>(p.v), p.out,
                              stats.get(), &scale};
  if (p.causal) {
    uids.push_back(kMaskValue);
    pointers.push_back(&mask_value);
  }
  int32_t add_kv = plan->add_kv, sub_q = plan->sub_q;
  if (plan->shifted_mask) {
    uids.push_back(kAddKv);
    pointers.push_back(&add_kv);
    uids.push_back(kSubQ);
    pointers.push_back(&sub_q);
  }
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  void* workspace = plan->workspace.get();
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, int64_t(uids.size()), uids.data())
      .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, int64_t(pointers.size()), pointers.data())
      .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
  pack.finalize();
  cudnnHandle_t handle = static_cast<cudnnHandle_t>(handle_);
  auto execute = [&](size_t candidate) {
    CUDNN_CHECK(cudnnBackendExecute(handle, plan->candidates[candidate]->get(), pack.get()));
  };
  const double score_elements = double(p.q_len) * double(p.k_len) * double(p.num_heads);
  if (!plan->tuned && plan->candidates.size() > 1 && score_elements >= kTuneAboveScoreElements) {
    // Each candidate: one untimed run (loads its kernel), then one timed run. The last
    // run below recomputes the result with the winner, so the output is always its.
    cudaEvent_t start = nullptr, stop = nullptr;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    float best = 0.f;
    std::string report;
    for (size_t c = 0; c < plan->candidates.size(); ++c) {
      execute(c);
      CUDA_CHECK(cudaEventRecord(start, stream_));
      execute(c);
      CUDA_CHECK(cudaEventRecord(stop, stream_));
      CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0.f;
      CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      report += " engine " + std::to_string(plan->engine_ids[c]) + ": " + std::to_string(ms) + " ms;";
      if (c == 0 || ms < best) best = ms, plan->chosen = c;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    if (std::getenv("STARBENCH_CUDNN_VERBOSE"))
      std::fprintf(stderr, "starbench: cuDNN attention q %lld k %lld: chose engine %lld of%s\n", (long long)p.q_len,
                   (long long)p.k_len, (long long)plan->engine_ids[plan->chosen], report.c_str());
  }
  plan->tuned = true;
  execute(plan->chosen);
  last_engine_ = plan->engine_ids[plan->chosen];
  // cuDNN writes stats head-major [H, T]; the backend contract is [T, H].
  kernels::launch_transpose_f32(static_cast<const float*>(stats.get()), p.lse, p.num_heads, p.q_len, stream_);
  CUDA_CHECK_LAUNCH("transpose_f32 (cuDNN stats)");
  return true;
}

}  // namespace sb
