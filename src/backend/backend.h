#pragma once
// The arithmetic a model and the attention methods need, implemented by the
// cpu backend (fp32 reference) and the cuda backend (bf16 storage, fp32
// accumulation). Methods never know which one they run on.
//
// Conventions (all tensors row-major, token-major):
//   activations  [T, hidden] in act_dtype(); q [T, Hq, d]; k, v [T, Hkv, d]
//   linear weights HF layout [out, in]:  matmul computes out = x * w^T
//   lse          F32 [T, Hq], natural log of the softmax denominator of the
//                scaled scores; -inf for a row that saw no key (its out is 0)
//   positions    I32 [T]; tokens I32 [T]
// Ops enqueue on the backend's stream; results are ready for the host after
// synchronize() (to_host_* synchronises).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/tensor.h"
#include "model/weight_spec.h"

namespace sb {

struct AttentionMask {
  enum class Kind { None, Causal, Streaming };
  Kind kind = Kind::None;
  // Causal: query row i sees key j iff j <= i + causal_offset. Offset 0 is the
  // top-left-aligned mask of a prefill; k_len - q_len is bottom-right aligned
  // (queries at the end of the keys); a negative offset hides leading keys.
  int64_t causal_offset = 0;
  // Streaming (the Λ-shaped mask of DuoAttention's streaming heads): causal as
  // above, and of the keys before a query's window of `window` keys (its own
  // included) only the first `sink` rows:
  //   j <= i + causal_offset  and  (j < sink  or  i + causal_offset - j < window).
  // A query's cost is O(sink + window) keys, whatever the key count.
  int64_t sink = 0, window = 0;
  // Causal by position (a decoding step that a graph replays with new
  // positions): when query_positions (I32 [q_len], the backend's memory) is
  // defined, query row i sees key j iff key_position0 + j <= positions[i], and
  // backends that compute values read the bound from there. causal_offset holds
  // the same bound as the host knows it, for counting work and cost models.
  Tensor query_positions;
  int64_t key_position0 = 0;

  static AttentionMask none() { return AttentionMask(); }
  static AttentionMask causal(int64_t offset = 0) {
    AttentionMask mask;
    mask.kind = Kind::Causal;
    mask.causal_offset = offset;
    return mask;
  }
  static AttentionMask bottom_right(int64_t q_len, int64_t k_len) { return causal(k_len - q_len); }
  static AttentionMask streaming(int64_t offset, int64_t sink, int64_t window) {
    AttentionMask mask = causal(offset);
    mask.kind = Kind::Streaming;
    mask.sink = sink;
    mask.window = window;
    return mask;
  }
  // Causal by position; host_offset: the bound of row 0 (positions[0] - key_position0).
  static AttentionMask causal_at(const Tensor& positions, int64_t key_position0, int64_t host_offset) {
    AttentionMask mask = causal(host_offset);
    mask.query_positions = positions;
    mask.key_position0 = key_position0;
    return mask;
  }
  bool visible(int64_t query_row, int64_t key_row) const {
    if (kind == Kind::None) return true;
    const int64_t last = query_row + causal_offset;  // the last key the row may see
    if (key_row > last) return false;
    return kind == Kind::Causal || key_row < sink || last - key_row < window;
  }
  // (query, key) pairs the mask leaves visible: the work an exact kernel that
  // skips hidden keys must do.
  double visible_pairs(int64_t q_len, int64_t k_len) const;
};

// Arithmetic a backend was asked for, counted where it is issued, the same on
// every backend: the per-rank work behind a phase's time (what makes star win
// or lose against a ring in a given setting).
struct WorkCount {
  double matmul_flops = 0;     // 2 x tokens x out x in per matmul
  double attention_flops = 0;  // 4 x visible (query, key) pairs x head_dim x query heads
};

// Measures device time between start() and stop(): CUDA events on the cuda
// backend, a steady clock on the cpu backend.
class PhaseTimer {
 public:
  virtual ~PhaseTimer() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual double elapsed_ms() = 0;  // waits for stop() to complete
};

// Where a decoding step's rows land in a KV store: row t of a step goes to row
// first_row + (positions[t] - first_position) mod period (period 0: no wrap),
// positions read from the backend's memory (I32 [T]), so that a replayed step
// writes the rows its new positions name.
struct RowSlots {
  Tensor positions;
  int64_t first_position = 0, first_row = 0, period = 0;
};

// The row position p goes to under slots, checked against a store of `rows` rows.
int64_t row_slot(const RowSlots& slots, int64_t position, int64_t rows);

// Keys and values of one part of an attention's keys, under its own mask.
struct KeyBlock {
  Tensor k, v;  // [rows, kv heads, d]
  AttentionMask mask;
};

// Replays the ops of a step (a decoding step) recorded once. run(key, step)
// calls step(), which issues the step's ops; what those ops read from device
// tensors (token ids, positions) may change from one run to the next, what
// they take by value (sizes, buffers) is fixed by `key`. The cuda backend
// captures the ops into a CUDA graph the first time and whenever key changes;
// otherwise it launches the graph and runs step() with launches off (host state
// advances, every op is checked against the capture: a mismatch is an error),
// returning the captured tensors from empty(). step() must not read device
// values (no to_host, argmax or synchronize). Other backends run step().
class StepReplay {
 public:
  virtual ~StepReplay() = default;
  virtual void run(uint64_t /*key*/, const std::function<void()>& step) { step(); }
  // Steps captured (graph built) and replayed so far.
  virtual int64_t captures() const { return 0; }
  virtual int64_t replays() const { return 0; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;       // "cpu" or "cuda"
  virtual DType act_dtype() const = 0;        // F32 on cpu, BF16 on cuda
  virtual std::string device_name() const = 0;
  // False for the simulator's backend: shapes and costs only, no values (its
  // outputs are zeros, so fidelity against global means nothing there).
  virtual bool computes_values() const { return true; }
  // Text attributes every run record made on this backend carries (the
  // simulator's platform and hardware profile), also part of the resume key.
  virtual std::vector<std::pair<std::string, std::string>> provenance() const { return {}; }
  // Content digests of the files the backend's results depend on (the
  // simulator's platform and hardware profile): part of every run's identity.
  virtual std::vector<std::pair<std::string, std::string>> input_digests() const { return {}; }

  // --- memory -------------------------------------------------------------
  virtual Tensor empty(DType dtype, std::vector<int64_t> shape) = 0;
  // Turns a weight into the backend's storage format (act_dtype()).
  virtual Tensor upload(const WeightSpec& spec) = 0;
  // host_data holds numel elements of dtype; the tensor keeps that dtype.
  virtual Tensor from_host(DType dtype, std::vector<int64_t> shape, const void* host_data) = 0;
  virtual std::vector<float> to_host_f32(const Tensor& tensor) = 0;
  // Copies whole rows (first dimension) between tensors of the same dtype and row size.
  virtual void copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) = 0;
  // Copies heads [src_head, src_head + num_heads) of rows [src_row, src_row + num_rows)
  // of src [T, H, d] into heads [dst_head, ...) of rows [dst_row, ...) of dst
  // [T', H', d] (same dtype and d): a strided 2-D copy. Heads of one kind
  // (DuoAttention) are not contiguous in q/k/v, so this packs and unpacks them.
  virtual void copy_heads(Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src, int64_t src_row,
                          int64_t src_head, int64_t num_rows, int64_t num_heads) = 0;
  // Head src_heads[i] of src's rows [src_row, +num_rows) into head dst_heads[i]
  // of dst's rows [dst_row, ...), for every i: a whole head selection in one
  // call. The default issues one copy_heads per run of heads consecutive on
  // both sides; cuda copies the whole list in one kernel (decoding packs heads
  // every layer of every token, where launches, not bytes, are the cost).
  virtual void copy_head_list(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows,
                              const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads);
  // host_data holds dst.numel() elements of dst's dtype; ordered after earlier ops.
  virtual void copy_from_host(Tensor& dst, const void* host_data) = 0;
  // Row t of src [T, H, d] into row slots(t) of dst [R, H', d]: heads
  // src_heads[i] into dst_heads[i] (both empty: every head, H == H').
  virtual void write_rows_at(Tensor& dst, const Tensor& src, const RowSlots& slots,
                             const std::vector<int64_t>& dst_heads = {},
                             const std::vector<int64_t>& src_heads = {}) = 0;
  virtual size_t bytes_in_use() const = 0;
  virtual size_t peak_bytes() const = 0;
  virtual void reset_peak() = 0;
  // Memory this rank may use (device memory free at start on cuda, physical
  // RAM on cpu); 0 when unknown. Memory plans are checked against it before
  // any large allocation.
  virtual size_t memory_capacity_bytes() const { return 0; }

  // --- ops ----------------------------------------------------------------
  virtual void embedding(const Tensor& table, const Tensor& tokens, Tensor& out) = 0;
  virtual void rmsnorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  // out[T, N] = x[T, K] * w[N, K]^T (+ out when accumulate).
  virtual void matmul(const Tensor& x, const Tensor& w, Tensor& out, bool accumulate = false) = 0;
  // Rotates x [T, H, d] in place, HF rotate_half convention (pairs i, i + d/2),
  // angle = positions[t] * inv_freq[i]; inv_freq from set_rope_frequencies.
  virtual void set_rope_frequencies(const std::vector<double>& inverse_frequencies) = 0;
  virtual void rope(Tensor& x, const Tensor& positions) = 0;
  // Softmax(q k^T * scale) v with GQA (query head h reads kv head h / (Hq/Hkv)).
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale,
                         Tensor& out, Tensor& lse) = 0;
  // (out, lse) <- merge of (out, lse) and (other_out, other_lse) by the
  // log-sum-exp rule; exact for disjoint key sets; -inf rows contribute nothing.
  virtual void lse_merge(Tensor& out, Tensor& lse, const Tensor& other_out, const Tensor& other_lse) = 0;
  virtual void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) = 0;  // silu(gate) * up

  // --- fused ops (the decoding step) -------------------------------------
  // Defaults compose the ops above (backend_composed.cpp); the cuda backend
  // fuses them for the few rows of a decoding step, where launches and passes
  // over the weights, not arithmetic, are the cost.
  //
  // Attention of q to the union of disjoint key blocks: (out, lse) as the
  // log-sum-exp merge of attending to each block. q_heads empty: every query
  // head, the blocks hold every KV head. Otherwise only query heads q_heads
  // (ascending) are computed and written to out [T, Hq, d] and lse [T, Hq]
  // (the other heads are left as they are), and the blocks hold only the KV
  // heads that serve them, packed: KV head i serves q_heads [i g, (i + 1) g),
  // g = q_heads.size() / the blocks' KV heads (DuoAttention's heads of a kind).
  virtual void attention_blocks(const Tensor& q, const std::vector<KeyBlock>& blocks,
                                const std::vector<int64_t>& q_heads, float scale, Tensor& out, Tensor& lse);
  // outs[i] = rmsnorm(x) * weights[i]^T: RMSNorm once, then each matmul.
  virtual void rmsnorm_matmul(const Tensor& x, const Tensor& norm_weight, float eps,
                              const std::vector<const Tensor*>& weights, const std::vector<Tensor*>& outs);
  // out = swiglu(n * gate_w^T, n * up_w^T), n = rmsnorm(x): the MLP up to the down projection.
  virtual void rmsnorm_swiglu(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& gate_w,
                              const Tensor& up_w, Tensor& out);
  // --- APB's passing blocks (attention/apb_method.h) ---------------------
  // The compressor (a retaining head per layer: fc1, SiLU, fc2, max-pool) and
  // the per-KV-head selection of the passing block. The defaults (apb_ops.cpp)
  // go through host memory: the reference semantics, right on every backend
  // that computes values; backends override them where it pays.
  //
  // x = silu(x) = x * sigmoid(x), in place; x in act_dtype().
  virtual void silu(Tensor& x);
  // out[t, c] = max of x[t', c] over t' in [t - radius, t + radius] and in
  // [0, T): torch's max_pool1d along the rows with kernel 2 radius + 1, stride 1
  // and padding radius (padding never wins). x and out [T, C], act_dtype().
  virtual void max_pool_rows(const Tensor& x, int64_t radius, Tensor& out);
  // For each column c of scores [T, C] (act_dtype()): the rows of its k largest
  // values among rows [row_begin, T), listed in ascending row order, into
  // indices I32 [C, k]. Ties go to the lower row, so every backend that sees the
  // same scores selects the same rows. Needs 0 <= k <= T - row_begin.
  virtual void top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices);
  // dst[i, h, :] = src[indices[h, i], h, :] for every head h of src [T, H, d]
  // and i < k; indices I32 [H, k]; dst [k, H, d], the dtype of src.
  virtual void gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst);

  // nullptr: this backend wants decoding steps issued op by op (the cuda
  // backend with STARBENCH_DECODE=legacy); the default runs each step as is.
  virtual std::unique_ptr<StepReplay> make_step_replay() { return std::make_unique<StepReplay>(); }
  virtual std::vector<int64_t> argmax_rows(const Tensor& logits) = 0;

  virtual void synchronize() = 0;
  virtual std::unique_ptr<PhaseTimer> make_timer() = 0;

  const WorkCount& work() const { return work_; }
  void reset_work() { work_ = {}; }

 protected:
  // Implementations call these from matmul() and attention().
  void count_matmul(int64_t tokens, int64_t out_features, int64_t in_features) {
    work_.matmul_flops += 2.0 * double(tokens) * double(out_features) * double(in_features);
  }
  void count_attention(const AttentionMask& mask, int64_t q_len, int64_t k_len, int64_t q_heads, int64_t head_dim) {
    work_.attention_flops += 4.0 * mask.visible_pairs(q_len, k_len) * double(q_heads) * double(head_dim);
  }

 private:
  WorkCount work_;
};

}  // namespace sb
