#pragma once
// Launchers of the small memory-bound kernels of the cuda backend. All take
// bf16 activations and do their arithmetic in fp32. Host logic (shape checks,
// dispatch) lives in src/backend/cuda; these only launch.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace sb::kernels {

// Any out-of-range token id sets *error_flag (checked by the backend at synchronize).
void launch_embedding(const __nv_bfloat16* table, int64_t vocab, int64_t hidden, const int32_t* tokens,
                      int64_t num_tokens, __nv_bfloat16* out, int* error_flag, cudaStream_t stream);

void launch_rmsnorm(const __nv_bfloat16* x, const __nv_bfloat16* weight, int64_t rows, int64_t hidden, float eps,
                    __nv_bfloat16* out, cudaStream_t stream);

// x [T, H, d] in place; inv_freq [d/2] in double; angle = pos * inv_freq
// reduced modulo 2*pi in double before the float sin/cos.
void launch_rope(__nv_bfloat16* x, int64_t tokens, int64_t heads, int64_t head_dim, const int32_t* positions,
                 const double* inv_freq, cudaStream_t stream);

void launch_swiglu(const __nv_bfloat16* gate, const __nv_bfloat16* up, __nv_bfloat16* out, int64_t count,
                   cudaStream_t stream);

// out/lse [rows] x [dim] <- merge with other_out/other_lse (the rule of kernels/lse_merge.h).
void launch_lse_merge(__nv_bfloat16* out, float* lse, const __nv_bfloat16* other_out, const float* other_lse,
                      int64_t rows, int64_t dim, cudaStream_t stream);

// First index of the maximum of each row (torch.argmax's tie rule). NaN is the maximum.
void launch_argmax_rows(const __nv_bfloat16* logits, int64_t rows, int64_t cols, int64_t* out, cudaStream_t stream);
void launch_argmax_rows_f32(const float* logits, int64_t rows, int64_t cols, int64_t* out, cudaStream_t stream);

// out[c, r] = in[r, c] for an F32 [rows, cols] matrix (cuDNN's head-major stats -> our [T, H] lse).
void launch_transpose_f32(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream);

void launch_f32_to_bf16(const float* in, __nv_bfloat16* out, int64_t count, cudaStream_t stream);
void launch_f16_to_bf16(const __half* in, __nv_bfloat16* out, int64_t count, cudaStream_t stream);
void launch_bf16_to_f32(const __nv_bfloat16* in, float* out, int64_t count, cudaStream_t stream);

}  // namespace sb::kernels
