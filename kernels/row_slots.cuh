#pragma once
// Writes a decoding step's K/V rows where their positions say (Backend::
// write_rows_at): row t of src goes to row first_row + (positions[t] -
// first_position) mod period of dst, its heads by a head list. The positions
// are read on the device, so a replayed step writes its own rows.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/head_copy.cuh"

namespace sb::kernels {

struct RowSlotsParams {
  char* dst = nullptr;
  int64_t dst_pitch = 0, dst_rows = 0;  // bytes per row, rows of dst
  const char* src = nullptr;
  int64_t src_pitch = 0, rows = 0;      // rows of src (= positions)
  int64_t head_bytes = 0;
  const int32_t* positions = nullptr;
  int64_t first_position = 0, first_row = 0, period = 0;
  int* error_flag = nullptr;  // bit 2 set for a position outside dst
};

void launch_write_rows_at(const RowSlotsParams& params, const HeadList& heads, cudaStream_t stream);

}  // namespace sb::kernels
