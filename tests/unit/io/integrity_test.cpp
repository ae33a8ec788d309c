// Checksums of stored runs: every dataset's data and a run's attributes carry a
// SHA-256 that read() verifies, so bytes damaged on disk are reported naming the
// run and the dataset instead of being returned (and reused by a resume).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "io/results_store.h"
#include "store_test_util.h"
#include "util/error.h"
#include "util/sha256.h"

namespace sb {
namespace {

using test::ScratchDir;

RunRecord record_with(const std::vector<float>& logits, const std::vector<int64_t>& tokens, double score) {
  RunRecord record;
  record.text = {{"method", "global"}, {"params_key", "k"}, {"identity", "abc"}};
  record.integers = {{"seq_len", 64}};
  record.numbers = {{"score", score}};
  RunRecord::Array array;
  array.path = "reference/query_logits";
  array.shape = {int64_t(logits.size())};
  array.f32 = logits;
  RunRecord::Array generated;
  generated.path = "generated";
  generated.shape = {int64_t(tokens.size())};
  generated.i64 = tokens;
  record.arrays = {array, generated};
  return record;
}

// Overwrites the one occurrence of `bytes` in the file (a dataset's data,
// located by value) with `replacement`, as a disk or a stray write would.
void damage(const std::string& path, const std::string& bytes, const std::string& replacement) {
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const size_t at = content.find(bytes);
  ASSERT_NE(at, std::string::npos) << "pattern not in " << path;
  ASSERT_EQ(content.find(bytes, at + 1), std::string::npos) << "pattern twice in " << path;
  content.replace(at, replacement.size(), replacement);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

TEST(Integrity, IntactRunsReadBackAndVerify) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  ResultsStore store = ResultsStore::open(path);
  const std::string id = store.append(record_with({1.5f, -2.25f, 3.0f, 4.0f}, {7, 8, 9}, 0.75));
  EXPECT_EQ(store.damage(id), "");
  EXPECT_EQ(store.read(id).numbers.at("score"), 0.75);
  // The checksum is a plain SHA-256 of the data's little-endian bytes (h5py:
  // hashlib.sha256(ds[()].tobytes()).hexdigest()).
  RunRecord::Array array;
  array.f32 = {1.5f, -2.25f, 3.0f, 4.0f};
  EXPECT_EQ(array_sha256(array), sha256_hex(bytes_of(array.f32)));
}

TEST(Integrity, DamagedLogitsAreReportedWithTheirDataset) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  ResultsStore store = ResultsStore::open(path);
  const std::vector<float> logits = {11.125f, -12.5f, 13.75f, 14.0625f, 15.5f};
  const std::string intact = store.append(record_with({1.0f, 2.0f}, {1}, 1.0));
  const std::string id = store.append(record_with(logits, {4, 5}, 1.0));
  std::vector<float> broken = logits;
  broken[2] = std::nanf("");
  damage(path, bytes_of(logits), bytes_of(broken));
  const std::string problem = store.damage(id);
  EXPECT_NE(problem.find("/runs/" + id + "/reference/query_logits"), std::string::npos) << problem;
  EXPECT_NE(problem.find("damaged"), std::string::npos) << problem;
  EXPECT_THROW(store.read(id), Error);
  EXPECT_EQ(store.damage(intact), "");  // the other run is untouched
}

TEST(Integrity, DamagedIntegerDatasetIsReported) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  ResultsStore store = ResultsStore::open(path);
  const std::vector<int64_t> tokens = {987654321, 123456789, 555555555};
  const std::string id = store.append(record_with({1.0f}, tokens, 1.0));
  damage(path, bytes_of(tokens), bytes_of(std::vector<int64_t>{987654321, 123456780, 555555555}));
  EXPECT_NE(store.damage(id).find("/generated"), std::string::npos) << store.damage(id);
}

TEST(Integrity, DamagedScoreAttributeIsReported) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  ResultsStore store = ResultsStore::open(path);
  const std::string id = store.append(record_with({1.0f}, {1}, 0.25));
  {  // The score changed in place, behind the checksum's back.
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const std::string group = "runs/" + id;
    ASSERT_GE(H5Adelete_by_name(file, group.c_str(), "score", H5P_DEFAULT), 0);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attribute =
        H5Acreate_by_name(file, group.c_str(), "score", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(attribute, 0);
    const double other = 1.0;
    ASSERT_GE(H5Awrite(attribute, H5T_NATIVE_DOUBLE, &other), 0);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Fclose(file);
  }
  const std::string problem = store.damage(id);
  EXPECT_NE(problem.find("attributes"), std::string::npos) << problem;
  EXPECT_NE(problem.find(id), std::string::npos) << problem;
}

TEST(Integrity, AttributeDigestIgnoresMergedFromOnly) {
  RunRecord a = record_with({1.0f}, {1}, 0.5);
  RunRecord b = a;
  b.text["merged_from"] = "other.h5:run_000003";
  EXPECT_EQ(attributes_sha256(a), attributes_sha256(b));
  b.integers["seq_len"] = 65;
  EXPECT_NE(attributes_sha256(a), attributes_sha256(b));
  RunRecord c = a;
  c.numbers["score"] = std::nextafter(0.5, 1.0);  // one ulp
  EXPECT_NE(attributes_sha256(a), attributes_sha256(c));
}

}  // namespace
}  // namespace sb
