// ResultsStore: round trips of every attribute and array kind, run ids, the index
// table (also through h5py + pandas when available), resume lookup and errors.
#include "io/results_store.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "store_test_util.h"
#include "util/error.h"

namespace sb {
namespace {

using test::ScratchDir;

RunRecord sample_record(const std::string& method, int64_t seq_len, const std::string& params_key) {
  RunRecord record;
  record.text = {{"method", method}, {"backend", "cpu"}, {"params_key", params_key}, {"note", "ünïcødé ✓"}};
  record.integers = {{"seq_len", seq_len}, {"world_size", 4}, {"big", int64_t(1) << 40}, {"negative", -7}};
  record.numbers = {{"context_ms", 12.5 + double(seq_len)}, {"fidelity", 0.999}, {"tiny", 1e-300}};
  RunRecord::Array timing;
  timing.path = "timing/context_ms";
  timing.shape = {2, 3};
  timing.f64 = {1.0, 2.0, 3.5, -4.25, 1e10, 6.0};
  RunRecord::Array logits;
  logits.path = "reference/deep/query_logits";
  logits.shape = {3, 2};
  logits.f32 = {0.5f, -1.5f, 3.25f, 1e-7f, 7.0f, -0.0f};
  RunRecord::Array tokens;
  tokens.path = "generated";
  tokens.shape = {4};
  tokens.i64 = {1, -2, int64_t(1) << 50, 128000};
  RunRecord::Array names;
  names.path = "tasks/names";
  names.shape = {3};
  names.strings = {"niah_single_1", "", "vt ✓"};
  RunRecord::Array empty;
  empty.path = "memory/peak_bytes";
  empty.shape = {0};
  record.arrays = {timing, logits, tokens, names, empty};
  return record;
}

const RunRecord::Array& find_array(const RunRecord& record, const std::string& path) {
  for (const RunRecord::Array& array : record.arrays)
    if (array.path == path) return array;
  throw std::runtime_error("no array " + path);
}

void expect_same_run(const RunRecord& expected, const RunRecord& actual) {
  EXPECT_EQ(expected.text, actual.text);
  EXPECT_EQ(expected.integers, actual.integers);
  EXPECT_EQ(expected.numbers, actual.numbers);  // stored as float64: exact
  ASSERT_EQ(expected.arrays.size(), actual.arrays.size());
  for (const RunRecord::Array& want : expected.arrays) {
    const RunRecord::Array& got = find_array(actual, want.path);
    EXPECT_EQ(want.shape, got.shape) << want.path;
    EXPECT_EQ(want.f64, got.f64) << want.path;
    EXPECT_EQ(want.f32, got.f32) << want.path;
    EXPECT_EQ(want.i64, got.i64) << want.path;
    EXPECT_EQ(want.strings, got.strings) << want.path;
  }
}

using test::error_of;

TEST(ResultsStore, OpenCreatesNothingTheFirstAppendCreatesTheStore) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore store = ResultsStore::open(path);
  // A sweep refused after open() (memory plan, no GPU, bad model) leaves no file behind.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  EXPECT_TRUE(store.run_ids().empty());
  EXPECT_TRUE(store.find_by_params_key("x").empty());
  EXPECT_THROW(store.read("run_000001"), Error);
  EXPECT_EQ(store.append(sample_record("star", 1, "k")), "run_000001");
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  test::IndexTable index = test::read_index(path);
  EXPECT_EQ(index.rows, 1u);
  EXPECT_EQ(ResultsStore::open(path).run_ids(), std::vector<std::string>{"run_000001"});
  EXPECT_NE(error_of([&] { ResultsStore::open_for_reading(dir.file("missing.h5")); }).find("missing.h5"),
            std::string::npos);
}

TEST(ResultsStore, RoundTripsEveryAttributeAndArrayKindAcrossReopen) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  RunRecord first = sample_record("star", 1024, "key-a");
  RunRecord second = sample_record("ring", 2048, "key-b");
  second.arrays.pop_back();
  {
    ResultsStore store = ResultsStore::open(path);
    EXPECT_EQ(store.append(first), "run_000001");
    EXPECT_EQ(store.append(second), "run_000002");
  }
  ResultsStore reopened = ResultsStore::open(path);
  EXPECT_EQ(reopened.run_ids(), (std::vector<std::string>{"run_000001", "run_000002"}));
  RunRecord back = reopened.read("run_000001");
  EXPECT_EQ(back.run_id, "run_000001");
  expect_same_run(first, back);
  expect_same_run(second, reopened.read("run_000002"));
  EXPECT_TRUE(std::isnan(std::nan("")));
  // Special float values survive too.
  RunRecord special;
  special.numbers = {{"nan", std::nan("")}, {"inf", INFINITY}};
  const std::string id = reopened.append(special);
  RunRecord special_back = reopened.read(id);
  EXPECT_TRUE(std::isnan(special_back.numbers.at("nan")));
  EXPECT_EQ(special_back.numbers.at("inf"), INFINITY);
  EXPECT_TRUE(special_back.arrays.empty());
  EXPECT_TRUE(special_back.text.empty());
}

TEST(ResultsStore, RunIdsAreUniqueAndIncreaseAcrossReopen) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  std::vector<std::string> ids;
  for (int round = 0; round < 3; ++round) {
    ResultsStore store = ResultsStore::open(path);
    for (int i = 0; i < 2; ++i) ids.push_back(store.append(sample_record("global", 64 * (round + 1), "k")));
  }
  ASSERT_EQ(ids.size(), 6u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], fmt::format("run_{:06d}", i + 1));
  EXPECT_EQ(ResultsStore::open(path).run_ids(), ids);

  // An explicit id is kept; a duplicate is refused and leaves the store as it was.
  ResultsStore store = ResultsStore::open(path);
  RunRecord named = sample_record("star", 8, "k");
  named.run_id = "baseline";
  EXPECT_EQ(store.append(named), "baseline");
  EXPECT_THROW(store.append(named), Error);
  EXPECT_EQ(store.append(RunRecord{}), "run_000007");
  EXPECT_EQ(store.run_ids().size(), 8u);
}

TEST(ResultsStore, IndexTableMatchesRuns) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore store = ResultsStore::open(path);
  RunRecord a = sample_record("star", 100, "pa");
  RunRecord b;
  b.text = {{"method", "a-much-longer-method-name"}, {"only_b", "yes"}};
  b.integers = {{"seq_len", 7}};
  b.numbers = {{"only_b_number", 2.5}};
  store.append(a);
  store.append(b);
  test::IndexTable index = test::read_index(path);
  ASSERT_EQ(index.rows, 2u);
  EXPECT_EQ(index.run_id, (std::vector<std::string>{"run_000001", "run_000002"}));
  EXPECT_EQ(index.columns.front(), "run_id");
  EXPECT_EQ(index.text.at("method"), (std::vector<std::string>{"star", "a-much-longer-method-name"}));
  EXPECT_EQ(index.text.at("only_b"), (std::vector<std::string>{"", "yes"}));
  EXPECT_EQ(index.text.at("note")[0], "ünïcødé ✓");
  EXPECT_EQ(index.integers.at("seq_len"), (std::vector<int64_t>{100, 7}));
  EXPECT_EQ(index.integers.at("world_size"), (std::vector<int64_t>{4, -1}));
  EXPECT_EQ(index.numbers.at("context_ms")[0], 112.5);
  EXPECT_TRUE(std::isnan(index.numbers.at("context_ms")[1]));
  EXPECT_TRUE(std::isnan(index.numbers.at("only_b_number")[0]));
  EXPECT_EQ(index.numbers.at("only_b_number")[1], 2.5);
  // run_id + 4 text + 4 integer + 3 number keys of a, + only_b, only_b_number.
  EXPECT_EQ(index.columns.size(), 1u + 4 + 4 + 3 + 2);
}

// Appends take the index rows from /index itself; a store without /index
// rebuilds them from every run's attributes. Both must give the same table.
TEST(ResultsStore, IndexFromTheTableEqualsIndexFromTheRuns) {
  ScratchDir dir;
  const std::string from_table = dir.file("table.h5"), from_runs = dir.file("runs.h5");
  RunRecord b;
  b.text = {{"method", "a-much-longer-method-name"}, {"only_b", "yes"}};
  b.integers = {{"seq_len", -1}};
  b.numbers = {{"only_b_number", 2.5}};
  RunRecord c;
  c.text = {{"method", "x"}, {"only_c", ""}};
  c.integers = {{"only_c_integer", 3}};
  for (const std::string& path : {from_table, from_runs}) {
    ResultsStore store = ResultsStore::open(path);
    store.append(sample_record("star", 100, "pa"));
    store.append(b);
  }
  {
    hid_t file = H5Fopen(from_runs.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    ASSERT_GE(H5Ldelete(file, "index", H5P_DEFAULT), 0);
    H5Fclose(file);
  }
  for (const std::string& path : {from_table, from_runs}) ResultsStore::open(path).append(c);
  const test::IndexTable expected = test::read_index(from_runs), actual = test::read_index(from_table);
  ASSERT_EQ(actual.rows, 3u);
  EXPECT_EQ(actual.columns, expected.columns);
  EXPECT_EQ(actual.run_id, expected.run_id);
  EXPECT_EQ(actual.text, expected.text);
  EXPECT_EQ(actual.integers, expected.integers);
  ASSERT_EQ(actual.numbers.size(), expected.numbers.size());
  for (const auto& [name, values] : expected.numbers) {
    for (size_t r = 0; r < values.size(); ++r) {
      const double got = actual.numbers.at(name).at(r);
      EXPECT_TRUE(got == values[r] || (std::isnan(got) && std::isnan(values[r]))) << name << " row " << r;
    }
  }
  EXPECT_EQ(actual.integers.at("only_c_integer"), (std::vector<int64_t>{-1, -1, 3}));
  EXPECT_EQ(actual.text.at("method"), (std::vector<std::string>{"star", "a-much-longer-method-name", "x"}));
  // A key whose kind differs from the column's is refused and stores nothing.
  RunRecord clash;
  clash.text = {{"seq_len", "long"}};
  EXPECT_NE(error_of([&] { ResultsStore::open(from_table).append(clash); }).find("'seq_len'"), std::string::npos);
  EXPECT_EQ(ResultsStore::open(from_table).run_ids().size(), 3u);
}

bool python_has_h5py() {
  return access("/usr/bin/python3", X_OK) == 0 &&
         std::system("/usr/bin/python3 -c 'import h5py, pandas' >/dev/null 2>&1") == 0;
}

TEST(ResultsStore, IndexAndAttributesReadableByH5pyAndPandas) {
  if (!python_has_h5py()) GTEST_SKIP() << "/usr/bin/python3 with h5py and pandas not available";
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore store = ResultsStore::open(path);
  store.append(sample_record("star", 100, "pa"));
  RunRecord b;
  b.text = {{"method", "ring"}};
  b.integers = {{"seq_len", 7}};
  store.append(b);
  const std::string script = dir.file("check.py");
  std::ofstream(script) << R"PY(
import math, sys
import h5py, pandas as pd
f = h5py.File(sys.argv[1], "r")
assert f.attrs["starbench_schema"] == "starbench-results/1", f.attrs["starbench_schema"]
df = pd.DataFrame(f["index"][()])
for column in df.columns:
    if df[column].dtype == object:
        df[column] = df[column].str.decode("utf-8")
assert list(df["run_id"]) == ["run_000001", "run_000002"], list(df["run_id"])
assert list(df["method"]) == ["star", "ring"]
assert list(df["seq_len"]) == [100, 7]
assert list(df["world_size"]) == [4, -1]
assert df["context_ms"][0] == 112.5 and math.isnan(df["context_ms"][1])
assert df["note"][0] == "ünïcødé ✓" and df["note"][1] == ""
run = f["runs/run_000001"]
assert isinstance(run.attrs["method"], str) and run.attrs["method"] == "star"
assert run.attrs["complete"] == 1
assert run.attrs["seq_len"] == 100 and run.attrs["fidelity"] == 0.999
assert run["timing/context_ms"].shape == (2, 3) and run["timing/context_ms"][1, 2] == 6.0
assert run["reference/deep/query_logits"].dtype == "float32"
assert list(run["generated"][()]) == [1, -2, 1 << 50, 128000]
assert list(run["tasks/names"].asstr()[()]) == ["niah_single_1", "", "vt ✓"]
print("ok")
)PY";
  const std::string command = "/usr/bin/python3 " + script + " " + path;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(ResultsStore, FindByParamsKey) {
  ScratchDir dir;
  ResultsStore store = ResultsStore::open(dir.file("results.h5"));
  store.append(sample_record("star", 1, "alpha"));
  store.append(sample_record("ring", 2, "beta"));
  store.append(sample_record("star", 3, "alpha"));
  store.append(RunRecord{});  // no params_key at all
  RunRecord numeric;
  numeric.text = {{"other", "alpha"}};
  store.append(numeric);
  EXPECT_EQ(store.find_by_params_key("alpha"), (std::vector<std::string>{"run_000001", "run_000003"}));
  EXPECT_EQ(store.find_by_params_key("beta"), (std::vector<std::string>{"run_000002"}));
  EXPECT_TRUE(store.find_by_params_key("gamma").empty());
  EXPECT_TRUE(store.find_by_params_key("").empty());
  // All keys in one pass: what a resumed sweep reads once.
  const auto runs = store.runs_by_params_key();
  EXPECT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs.at("alpha"), (std::vector<std::string>{"run_000001", "run_000003"}));
  EXPECT_EQ(runs.at("beta"), (std::vector<std::string>{"run_000002"}));
}

TEST(ResultsStore, BatchAppendStoresEveryRunInOrderAcrossReopen) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore::open(path).append(sample_record("global", 1, "first"));
  std::vector<RunRecord> batch{sample_record("ring", 2, "a"), sample_record("star", 3, "b"),
                               sample_record("star", 4, "c")};
  batch[1].run_id = "named_run";
  const std::vector<std::string> ids = ResultsStore::open(path).append(batch);
  EXPECT_EQ(ids, (std::vector<std::string>{"run_000002", "named_run", "run_000003"}));
  ResultsStore reopened = ResultsStore::open(path);
  EXPECT_EQ(reopened.run_ids(), (std::vector<std::string>{"run_000001", "run_000002", "named_run", "run_000003"}));
  for (size_t i = 0; i < batch.size(); ++i) {
    RunRecord expected = batch[i];
    expected.run_id = ids[i];
    expect_same_run(expected, reopened.read(ids[i]));
  }
  const test::IndexTable index = test::read_index(path);
  EXPECT_EQ(index.run_id, reopened.run_ids());
  EXPECT_EQ(index.integers.at("seq_len"), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(ResultsStore::open(path).append(std::vector<RunRecord>{}).empty());
}

TEST(ResultsStore, BatchWithOneBadRecordStoresNothing) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore::open(path).append(sample_record("global", 1, "first"));
  std::vector<RunRecord> batch{sample_record("ring", 2, "a"), sample_record("star", 3, "b")};
  batch[1].arrays[0].f64.pop_back();  // shape and data disagree
  EXPECT_THROW(ResultsStore::open(path).append(batch), Error);
  std::vector<RunRecord> twice{sample_record("ring", 2, "a"), sample_record("star", 3, "b")};
  twice[0].run_id = twice[1].run_id = "same";
  EXPECT_NE(error_of([&] { ResultsStore::open(path).append(twice); }).find("appears twice"), std::string::npos);
  EXPECT_EQ(ResultsStore::open(path).run_ids(), (std::vector<std::string>{"run_000001"}));
}


TEST(ResultsStore, UnwritablePathIsAnError) {
  EXPECT_NE(error_of([] { ResultsStore::open("/proc/starbench_x.h5"); }).find("/proc/starbench_x.h5"),
            std::string::npos);
  ScratchDir dir;
  const std::string missing = dir.file("no/such/dir/results.h5");
  const std::string message = error_of([&] { ResultsStore::open(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_THROW(ResultsStore::open(""), Error);
  EXPECT_THROW(ResultsStore::open(dir.path().string()), Error);  // a directory
}

TEST(ResultsStore, NonStoreFilesAreErrors) {
  ScratchDir dir;
  const std::string text = dir.file("notes.h5");
  std::ofstream(text) << "this is not an HDF5 file\n";
  std::string message = error_of([&] { ResultsStore::open(text); });
  EXPECT_NE(message.find(text), std::string::npos) << message;
  EXPECT_NE(message.find("not an HDF5 file"), std::string::npos) << message;

  const std::string foreign = dir.file("foreign.h5");
  hid_t file = H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  H5Fclose(file);
  message = error_of([&] { ResultsStore::open(foreign); });
  EXPECT_NE(message.find(foreign), std::string::npos) << message;
  EXPECT_NE(message.find("not a starbench results store"), std::string::npos) << message;
}

TEST(ResultsStore, BadRecordsAreRefusedAndLeaveTheStoreUnchanged) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore store = ResultsStore::open(path);
  store.append(sample_record("star", 1, "k"));
  const auto size_before = std::filesystem::file_size(path);

  auto with_array = [](RunRecord::Array array) {
    RunRecord record;
    record.arrays.push_back(std::move(array));
    return record;
  };
  RunRecord::Array two_kinds{"a", {1}, {1.0}, {1.0f}, {}, {}};
  RunRecord::Array wrong_size{"a", {2, 2}, {1.0, 2.0}, {}, {}, {}};
  RunRecord::Array absolute{"/a", {1}, {1.0}, {}, {}, {}};
  RunRecord::Array strings_2d{"s", {1, 1}, {}, {}, {}, {"x"}};
  EXPECT_THROW(store.append(with_array(two_kinds)), Error);
  EXPECT_THROW(store.append(with_array(wrong_size)), Error);
  EXPECT_THROW(store.append(with_array(absolute)), Error);
  EXPECT_THROW(store.append(with_array(strings_2d)), Error);
  RunRecord group_clash;
  group_clash.arrays = {RunRecord::Array{"t", {1}, {1.0}, {}, {}, {}}, RunRecord::Array{"t/x", {1}, {1.0}, {}, {}, {}}};
  EXPECT_THROW(store.append(group_clash), Error);
  RunRecord same_key;
  same_key.text = {{"seq_len", "long"}};
  same_key.integers = {{"seq_len", 1}};
  EXPECT_THROW(store.append(same_key), Error);
  RunRecord reserved;
  reserved.integers = {{"complete", 0}};
  EXPECT_THROW(store.append(reserved), Error);
  // A key whose type differs from earlier runs would break the index column.
  RunRecord type_change;
  type_change.text = {{"seq_len", "long"}};
  const std::string message = error_of([&] { store.append(type_change); });
  EXPECT_NE(message.find("seq_len"), std::string::npos) << message;

  EXPECT_EQ(store.run_ids(), std::vector<std::string>{"run_000001"});
  EXPECT_EQ(std::filesystem::file_size(path), size_before);
  EXPECT_EQ(test::read_index(path).rows, 1u);
  EXPECT_THROW(store.read("run_000002"), Error);
  EXPECT_THROW(store.read("../x"), Error);
  // No temporary copies are left behind by the refused appends (the lock file stays).
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) files.push_back(entry.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"results.h5", "results.h5.lock"}));
}

TEST(ResultsStore, RemovesStaleTemporariesOfDeadProcessesOnly) {
  ScratchDir dir;
  const std::string path = dir.file("results.h5");
  ResultsStore::open(path).append(sample_record("star", 1, "k"));
  // A pid that certainly is dead: a child that has exited and been reaped.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::string stale = path + ".tmp." + host + "." + std::to_string(child);
  const std::string live = path + ".tmp." + host + "." + std::to_string(getppid());
  const std::string other_host = path + ".tmp.some-other-node." + std::to_string(child);
  for (const std::string& name : {stale, live, other_host}) std::ofstream(name) << "partial";
  ResultsStore store = ResultsStore::open(path);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));
  EXPECT_TRUE(std::filesystem::exists(other_host));
  EXPECT_EQ(store.run_ids().size(), 1u);
}

}  // namespace
}  // namespace sb
