#pragma once
// Backends by name (starbench_factory, the library above the cpu and the cuda
// backend: the only code that knows both).
#include <functional>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace sb {

// "cpu" or "cuda"; "auto" picks cuda when built with it and a GPU is visible.
// local_rank selects the GPU. A registered name (the simulator's "sim", while a
// simulation runs) is built by its factory.
std::unique_ptr<Backend> make_backend(const std::string& name, int local_rank);
using BackendFactory = std::function<std::unique_ptr<Backend>(int local_rank)>;
void register_backend(const std::string& name, BackendFactory factory);  // an empty factory unregisters
bool cuda_backend_available();
// GPUs this process sees (0 without the cuda backend). STARBENCH_FAKE_GPUS=N
// replaces the count, so that the one-GPU-per-rank check (create_backend) can be
// tested on machines without GPUs; it makes no GPU appear.
int visible_gpu_count();

}  // namespace sb
