#include "util/sha256.h"

#include <cstring>

namespace sb {
namespace {

// The constants of FIPS 180-4 section 4.2.2 and 5.3.3, computed from their
// definition instead of typed in: the first 32 bits of the fractional parts of
// the cube roots of the first 64 primes (K) and of the square roots of the
// first 8 primes (H0). floor(frac(root(p)) * 2^32) is the low 32 bits of the
// integer root of p * 2^(32 n), found exactly in 128-bit integers.
using u128 = unsigned __int128;

constexpr u128 integer_root(u128 value, int degree) {
  u128 low = 0, high = u128(1) << 36;  // the roots taken here are below 2^36
  while (low < high) {  // the largest x with x^degree <= value
    const u128 mid = (low + high + 1) / 2;
    u128 power = mid;
    for (int i = 1; i < degree; ++i) power *= mid;
    if (power <= value) {
      low = mid;
    } else {
      high = mid - 1;
    }
  }
  return low;
}

constexpr std::array<uint32_t, 64> first_primes() {
  std::array<uint32_t, 64> primes{};
  size_t count = 0;
  for (uint32_t candidate = 2; count < primes.size(); ++candidate) {
    bool prime = true;
    for (uint32_t d = 2; d * d <= candidate; ++d) prime = prime && candidate % d != 0;
    if (prime) primes[count++] = candidate;
  }
  return primes;
}

constexpr std::array<uint32_t, 64> round_constants() {
  std::array<uint32_t, 64> k{};
  const auto primes = first_primes();
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint32_t(integer_root(u128(primes[i]) << 96, 3));
  return k;
}

constexpr std::array<uint32_t, 8> initial_hash() {
  std::array<uint32_t, 8> h{};
  const auto primes = first_primes();
  for (size_t i = 0; i < h.size(); ++i) h[i] = uint32_t(integer_root(u128(primes[i]) << 64, 2));
  return h;
}

constexpr std::array<uint32_t, 64> kRound = round_constants();
constexpr std::array<uint32_t, 8> kInitial = initial_hash();
// Spot checks from FIPS 180-4: K0, K63 and H0(0), H0(7).
static_assert(kRound[0] == 0x428a2f98u && kRound[63] == 0xc67178f2u);
static_assert(kInitial[0] == 0x6a09e667u && kInitial[7] == 0x5be0cd19u);

constexpr uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
// Section 4.1.2.
constexpr uint32_t ch(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
constexpr uint32_t maj(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
constexpr uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
constexpr uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
constexpr uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
constexpr uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

}  // namespace

Sha256::Sha256() : state_(kInitial) {}

// Section 6.2.2: the message schedule and 64 rounds over one block.
void Sha256::compress(const uint8_t* block) {
  uint32_t w[64];
  for (int t = 0; t < 16; ++t) {  // big-endian words
    w[t] = uint32_t(block[4 * t]) << 24 | uint32_t(block[4 * t + 1]) << 16 | uint32_t(block[4 * t + 2]) << 8 |
           uint32_t(block[4 * t + 3]);
  }
  for (int t = 16; t < 64; ++t) w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  for (int t = 0; t < 64; ++t) {
    const uint32_t t1 = h + big_sigma1(e) + ch(e, f, g) + kRound[size_t(t)] + w[t];
    const uint32_t t2 = big_sigma0(a) + maj(a, b, c);
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state_[0] += a, state_[1] += b, state_[2] += c, state_[3] += d;
  state_[4] += e, state_[5] += f, state_[6] += g, state_[7] += h;
}

Sha256& Sha256::update(const void* data, size_t size) {
  if (size == 0) return *this;  // an empty view may carry a null pointer, which memcpy must not get
  const auto* bytes = static_cast<const uint8_t*>(data);
  message_bytes_ += size;
  if (pending_size_ > 0) {
    const size_t take = std::min(size, pending_.size() - pending_size_);
    std::memcpy(pending_.data() + pending_size_, bytes, take);
    pending_size_ += take;
    bytes += take;
    size -= take;
    if (pending_size_ < pending_.size()) return *this;
    compress(pending_.data());
    pending_size_ = 0;
  }
  for (; size >= 64; bytes += 64, size -= 64) compress(bytes);
  std::memcpy(pending_.data(), bytes, size);
  pending_size_ = size;
  return *this;
}

// Section 5.1.1: a 1 bit, zeros to 56 bytes mod 64, the message length in bits (64-bit big-endian).
std::array<uint8_t, 32> Sha256::finish() {
  const uint64_t bits = message_bytes_ * 8;
  const uint8_t one = 0x80, zero = 0;
  update(&one, 1);
  while (pending_size_ != 56) update(&zero, 1);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t(bits >> (56 - 8 * i));
  update(length, 8);
  std::array<uint8_t, 32> digest{};
  for (size_t i = 0; i < 8; ++i) {
    for (size_t j = 0; j < 4; ++j) digest[4 * i + j] = uint8_t(state_[i] >> (24 - 8 * j));
  }
  *this = Sha256();
  return digest;
}

std::string Sha256::finish_hex() {
  const std::array<uint8_t, 32> digest = finish();
  return to_hex(digest.data(), digest.size());
}

std::string to_hex(const uint8_t* bytes, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string text(2 * size, '0');
  for (size_t i = 0; i < size; ++i) {
    text[2 * i] = digits[bytes[i] >> 4];
    text[2 * i + 1] = digits[bytes[i] & 15];
  }
  return text;
}

std::string sha256_hex(std::string_view data) { return Sha256().update(data).finish_hex(); }

}  // namespace sb
