#include "model/weight_spec.h"

namespace sb {

uint64_t synthetic_seed(uint64_t model_seed, const std::string& tensor_name) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (unsigned char c : tensor_name) {
    hash ^= c;
    hash *= 0x100000001b3ull;  // FNV-1a 64 prime
  }
  // splitmix64 finaliser over (name hash, model seed): nearby model seeds give
  // unrelated streams, and seed 0 does not leave the name hash exposed.
  uint64_t z = hash ^ (model_seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace sb
