// SHA-256 against FIPS 180-4's examples (and the NIST one-million-'a' vector),
// at the padding boundaries against Python's hashlib, and split updates
// against one update.
#include <gtest/gtest.h>

#include <string>

#include "util/sha256.h"

namespace sb {
namespace {

TEST(Sha256, FipsExamples) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

std::string counting_bytes(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = char(i % 251);
  return bytes;
}

// hashlib.sha256(bytes(i % 251 for i in range(n))).hexdigest(): lengths around
// the 56-byte padding limit and the 64-byte block.
TEST(Sha256, PaddingBoundariesMatchHashlib) {
  const std::pair<size_t, const char*> expected[] = {
      {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
      {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
      {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
      {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
      {65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"},
      {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
      {1000, "4e4c294b331f7a2099a379bec34b9f9fc03dc46ab465d998f4d683da53487e6d"},
  };
  for (const auto& [size, digest] : expected) EXPECT_EQ(sha256_hex(counting_bytes(size)), digest) << size << " bytes";
}

TEST(Sha256, SplitUpdatesEqualOneUpdate) {
  const std::string message = counting_bytes(1000);
  for (size_t step : {1, 3, 63, 64, 65, 200}) {
    Sha256 hash;
    for (size_t at = 0; at < message.size(); at += step) hash.update(message.substr(at, step));
    EXPECT_EQ(hash.finish_hex(), sha256_hex(message)) << "step " << step;
  }
}

TEST(Sha256, FinishStartsANewMessage) {
  Sha256 hash;
  hash.update("first");
  hash.finish();
  EXPECT_EQ(hash.update("abc").finish_hex(), sha256_hex("abc"));
}

}  // namespace
}  // namespace sb
