#include "io/results_store.h"

#include <hdf5.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "io/check_h5.h"
#include "io/file_commit.h"
#include "io/file_lock.h"
#include "util/error.h"
#include "util/sha256.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSchemaAttribute = "starbench_schema";
constexpr const char* kSchema = "starbench-results/1";
constexpr const char* kCompleteAttribute = "complete";
// Checksums (docs/HDF5_SCHEMA.md, "Integrity"): every dataset's data and a run's
// attributes carry a SHA-256, verified when a run is read.
constexpr const char* kDatasetDigestAttribute = "sha256";
constexpr const char* kAttributesDigestAttribute = "attributes_sha256";
// Added by `analysis merge` to the runs it copies: not covered by the digest.
constexpr const char* kMergedFromAttribute = "merged_from";
static_assert(std::endian::native == std::endian::little, "checksums hash the little-endian bytes HDF5 stores");

std::function<void(const std::string&)>& stage_hook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}
void stage(const std::string& name) {
  if (stage_hook()) stage_hook()(name);
}

// An HDF5 id closed by its own close function when it goes out of scope, so an
// exception thrown half-way through a write never leaks an open file.
template <herr_t (*Close)(hid_t)>
class Owned {
 public:
  explicit Owned(hid_t id = -1) : id_(id) {}
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& other) noexcept : id_(std::exchange(other.id_, -1)) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      close();
      id_ = std::exchange(other.id_, -1);
    }
    return *this;
  }
  ~Owned() {
    if (id_ >= 0) Close(id_);
  }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  herr_t close() {
    herr_t status = id_ >= 0 ? Close(id_) : 0;
    id_ = -1;
    return status;
  }

 private:
  hid_t id_;
};
using File = Owned<H5Fclose>;
using Group = Owned<H5Gclose>;
using Dataset = Owned<H5Dclose>;
using Attribute = Owned<H5Aclose>;
using Space = Owned<H5Sclose>;
using Type = Owned<H5Tclose>;
using Plist = Owned<H5Pclose>;
using Object = Owned<H5Oclose>;

// --- the commit --------------------------------------------------------------------
// Removes the temporary copy unless the append got as far as renaming it.
struct TemporaryGuard {
  std::string path;
  bool armed = true;
  ~TemporaryGuard() {
    if (armed) {
      std::error_code ignored;
      fs::remove(path, ignored);
    }
  }
};

// Syncs the copy and renames it over the original: the commit point.
void commit_temporary(TemporaryGuard& temporary, const std::string& path) {
  fsync_path(temporary.path, false);
  stage("synced");
  SB_REQUIRE(std::rename(temporary.path.c_str(), path.c_str()) == 0, "cannot rename {} to {}: {}",
             temporary.path, path, std::strerror(errno));
  temporary.armed = false;
  fsync_path(directory_of(path), true);
  stage("renamed");
}

// Commits take turns through an fcntl lock on "<results>.lock" (file_lock.h);
// STARBENCH_RESULTS_LOCK=off turns that off for file systems without locks.
bool locking_enabled() {
  const char* value = std::getenv("STARBENCH_RESULTS_LOCK");
  return value == nullptr || std::string(value) != "off";
}

// A commit copies and renames a file in well under a second; a lock held for
// minutes means a writer hung on its file system.
constexpr double kLockTimeoutSeconds = 300;

hid_t file_access() {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  // STRONG: H5Fclose closes every object still open, so "closed" means all bytes are out.
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
  // HDF5's own flock() of every file it opens guards in-place writers; the store
  // never writes the live file (commits go through a copy and a lock of its own),
  // and flock fails outright on file systems without it (Lustre without -o flock).
  H5Pset_file_locking(fapl, false, true);
#endif
  return fapl;
}

// --- attributes --------------------------------------------------------------------

hid_t utf8_string_type() {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  return type;
}

void write_text_attribute(hid_t object, const std::string& name, const std::string& value, const std::string& what) {
  Type type(utf8_string_type());
  Space space(H5_CHECK(H5Screate(H5S_SCALAR), what));
  Attribute attribute(H5_CHECK(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), what + " @" + name));
  const char* data = value.c_str();
  H5_CHECK(H5Awrite(attribute, type, &data), what + " @" + name);
}

template <typename T>
void write_scalar_attribute(hid_t object, const std::string& name, hid_t file_type, hid_t memory_type, T value,
                            const std::string& what) {
  Space space(H5_CHECK(H5Screate(H5S_SCALAR), what));
  Attribute attribute(H5_CHECK(H5Acreate2(object, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT), what + " @" + name));
  H5_CHECK(H5Awrite(attribute, memory_type, &value), what + " @" + name);
}

std::vector<std::string> attribute_names(hid_t object, const std::string& what) {
  std::vector<std::string> names;
  H5_CHECK(H5Aiterate2(
               object, H5_INDEX_NAME, H5_ITER_INC, nullptr,
               [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
                 static_cast<std::vector<std::string>*>(data)->push_back(name);
                 return 0;
               },
               &names),
           what);
  return names;
}

// Reads a string attribute stored either variable- or fixed-length.
std::string read_text_attribute(hid_t attribute, hid_t file_type, const std::string& what) {
  if (H5Tis_variable_str(file_type) > 0) {
    Type memory(utf8_string_type());
    char* data = nullptr;
    H5_CHECK(H5Aread(attribute, memory, &data), what);
    std::string value = data ? data : "";
    H5free_memory(data);
    return value;
  }
  const size_t size = H5Tget_size(file_type);
  Type memory(H5Tcopy(H5T_C_S1));
  H5Tset_size(memory, size);
  std::string value(size, '\0');
  H5_CHECK(H5Aread(attribute, memory, value.data()), what);
  return value.substr(0, value.find('\0'));
}

// Fills text / integers / numbers from a run group's attributes, by HDF5 type class.
void read_attributes(hid_t group, RunRecord& record, const std::string& what) {
  for (const std::string& name : attribute_names(group, what)) {
    if (name == kCompleteAttribute || name == kAttributesDigestAttribute) continue;
    const std::string where = what + " @" + name;
    Attribute attribute(H5_CHECK(H5Aopen(group, name.c_str(), H5P_DEFAULT), where));
    Type type(H5_CHECK(H5Aget_type(attribute), where));
    switch (H5Tget_class(type)) {
      case H5T_STRING:
        record.text[name] = read_text_attribute(attribute, type, where);
        break;
      case H5T_INTEGER: {
        int64_t value = 0;
        H5_CHECK(H5Aread(attribute, H5T_NATIVE_INT64, &value), where);
        record.integers[name] = value;
        break;
      }
      case H5T_FLOAT: {
        double value = 0;
        H5_CHECK(H5Aread(attribute, H5T_NATIVE_DOUBLE, &value), where);
        record.numbers[name] = value;
        break;
      }
      default:
        fail("{}: attribute of unsupported type", where);
    }
  }
}

bool is_complete(hid_t file, const std::string& run_id) {
  const std::string group_path = "runs/" + run_id;
  if (H5Aexists_by_name(file, group_path.c_str(), kCompleteAttribute, H5P_DEFAULT) <= 0) return false;
  Attribute attribute(H5Aopen_by_name(file, group_path.c_str(), kCompleteAttribute, H5P_DEFAULT, H5P_DEFAULT));
  int64_t value = 0;
  return attribute.get() >= 0 && H5Aread(attribute, H5T_NATIVE_INT64, &value) >= 0 && value == 1;
}

// Run groups in append order (creation order is tracked on /runs), complete ones only.
std::vector<std::string> list_runs(hid_t file, const std::string& path) {
  Group runs(H5_CHECK(H5Gopen2(file, "runs", H5P_DEFAULT), path + ":/runs"));
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  hsize_t position = 0;
  if (H5Literate(runs, H5_INDEX_CRT_ORDER, H5_ITER_INC, &position, collect, &names) < 0) {
    names.clear();
    position = 0;
    H5_CHECK(H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, &position, collect, &names), path + ":/runs");
  }
  std::vector<std::string> complete;
  for (const std::string& name : names)
    if (is_complete(file, name)) complete.push_back(name);
  return complete;
}

// --- arrays --------------------------------------------------------------------------

size_t element_count(const std::vector<int64_t>& shape) {
  size_t count = 1;
  for (int64_t dim : shape) count *= size_t(dim);
  return count;
}

}  // namespace

std::string array_sha256(const RunRecord::Array& array) {
  Sha256 hash;
  hash.update(array.f64.data(), array.f64.size() * sizeof(double));
  hash.update(array.f32.data(), array.f32.size() * sizeof(float));
  hash.update(array.i64.data(), array.i64.size() * sizeof(int64_t));
  for (const std::string& text : array.strings) {
    const uint64_t size = text.size();
    hash.update(&size, sizeof size);
    hash.update(text);
  }
  return hash.finish_hex();
}

std::string attributes_sha256(const RunRecord& record) {
  // One line per attribute in name order: name, kind (t/i/n), value (numbers: the
  // hex of their little-endian IEEE bytes, so the digest is exact).
  std::map<std::string, std::string> lines;
  for (const auto& [name, value] : record.text) lines[name] = "t\x1f" + value;
  for (const auto& [name, value] : record.integers) lines[name] = "i\x1f" + std::to_string(value);
  for (const auto& [name, value] : record.numbers) {
    uint8_t bytes[sizeof(double)];
    std::memcpy(bytes, &value, sizeof bytes);
    lines[name] = "n\x1f" + to_hex(bytes, sizeof bytes);
  }
  Sha256 hash;
  for (const auto& [name, line] : lines) {
    if (name == kMergedFromAttribute || name == kAttributesDigestAttribute || name == kCompleteAttribute) continue;
    hash.update(name).update("\x1f").update(line).update("\n");
  }
  return hash.finish_hex();
}

namespace {

void write_array(hid_t group, const RunRecord::Array& array, const std::string& what) {
  const std::string where = what + "/" + array.path;
  std::vector<hsize_t> dims(array.shape.begin(), array.shape.end());
  Space space(H5_CHECK(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
                       where));
  Plist links(H5_CHECK(H5Pcreate(H5P_LINK_CREATE), where));
  H5_CHECK(H5Pset_create_intermediate_group(links, 1), where);

  hid_t file_type = H5T_IEEE_F64LE, memory_type = H5T_NATIVE_DOUBLE;
  const void* data = array.f64.data();
  Type strings(-1);
  std::vector<const char*> pointers;
  if (!array.f32.empty()) {
    file_type = H5T_IEEE_F32LE, memory_type = H5T_NATIVE_FLOAT, data = array.f32.data();
  } else if (!array.i64.empty()) {
    file_type = H5T_STD_I64LE, memory_type = H5T_NATIVE_INT64, data = array.i64.data();
  } else if (!array.strings.empty()) {
    strings = Type(utf8_string_type());
    for (const std::string& s : array.strings) pointers.push_back(s.c_str());
    file_type = memory_type = strings, data = pointers.data();
  }
  Dataset dataset(H5_CHECK(H5Dcreate2(group, array.path.c_str(), file_type, space, links, H5P_DEFAULT, H5P_DEFAULT),
                           where));
  if (element_count(array.shape) > 0)
    H5_CHECK(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), where);
  write_text_attribute(dataset, kDatasetDigestAttribute, array_sha256(array), where);
}

// The dataset's stored checksum, "" when it has none (written before checksums).
std::string stored_dataset_digest(hid_t dataset, const std::string& where) {
  if (H5Aexists(dataset, kDatasetDigestAttribute) <= 0) return "";
  Attribute attribute(H5_CHECK(H5Aopen(dataset, kDatasetDigestAttribute, H5P_DEFAULT), where));
  Type type(H5_CHECK(H5Aget_type(attribute), where));
  return H5Tget_class(type) == H5T_STRING ? read_text_attribute(attribute, type, where) : "(not text)";
}

RunRecord::Array read_array(hid_t group, const std::string& path, const std::string& what) {
  const std::string where = what + "/" + path;
  RunRecord::Array array;
  array.path = path;
  Dataset dataset(H5_CHECK(H5Dopen2(group, path.c_str(), H5P_DEFAULT), where));
  Space space(H5_CHECK(H5Dget_space(dataset), where));
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space), where);
  std::vector<hsize_t> dims(size_t(rank), 0);
  if (rank > 0) H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr), where);
  array.shape.assign(dims.begin(), dims.end());
  const size_t count = element_count(array.shape);
  Type type(H5_CHECK(H5Dget_type(dataset), where));
  const H5T_class_t type_class = H5Tget_class(type);
  if (type_class == H5T_FLOAT && H5Tget_size(type) == 4) {
    array.f32.resize(count);
    if (count) H5_CHECK(H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.f32.data()), where);
  } else if (type_class == H5T_FLOAT) {
    array.f64.resize(count);
    if (count) H5_CHECK(H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.f64.data()), where);
  } else if (type_class == H5T_INTEGER) {
    array.i64.resize(count);
    if (count) H5_CHECK(H5Dread(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.i64.data()), where);
  } else if (type_class == H5T_STRING && H5Tis_variable_str(type) > 0) {
    Type memory(utf8_string_type());
    std::vector<char*> pointers(count, nullptr);
    if (count) H5_CHECK(H5Dread(dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), where);
    for (char* p : pointers) array.strings.push_back(p ? p : "");
    if (count) H5Dvlen_reclaim(memory, space, H5P_DEFAULT, pointers.data());
  } else if (type_class == H5T_STRING) {
    const size_t size = H5Tget_size(type);
    std::vector<char> buffer(count * size);
    if (count) H5_CHECK(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), where);
    for (size_t i = 0; i < count; ++i) {
      std::string s(buffer.data() + i * size, size);
      array.strings.push_back(s.substr(0, s.find('\0')));
    }
  } else {
    fail("{}: dataset of unsupported type", where);
  }
  const std::string stored = stored_dataset_digest(dataset, where);
  if (!stored.empty()) {
    const std::string actual = array_sha256(array);
    SB_REQUIRE(stored == actual, "{}: damaged: its data does not match its checksum (sha256 {} stored, {} read)",
               where, stored, actual);
  }
  return array;
}

// Every dataset below a run group, by path relative to it.
std::vector<std::string> dataset_paths(hid_t group, const std::string& what) {
  std::vector<std::string> links;
  H5_CHECK(H5Lvisit(
               group, H5_INDEX_NAME, H5_ITER_INC,
               [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
                 static_cast<std::vector<std::string>*>(data)->push_back(name);
                 return 0;
               },
               &links),
           what);
  std::vector<std::string> datasets;
  for (const std::string& link : links) {
    Object object(H5_CHECK(H5Oopen(group, link.c_str(), H5P_DEFAULT), what + "/" + link));
    if (H5Iget_type(object) == H5I_DATASET) datasets.push_back(link);
  }
  return datasets;
}

// --- validation ----------------------------------------------------------------------

bool valid_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

void validate(const RunRecord& record, const std::string& path) {
  const std::string run = record.run_id.empty() ? "new run" : "run " + record.run_id;
  SB_REQUIRE(record.run_id.empty() || valid_name(record.run_id), "{}: invalid run id '{}'", path, record.run_id);
  std::set<std::string> keys;
  auto check_key = [&](const std::string& key) {
    SB_REQUIRE(!key.empty() && key.find('\0') == std::string::npos, "{}: {} has an empty attribute name", path, run);
    SB_REQUIRE(key != "run_id" && key != kCompleteAttribute, "{}: {}: attribute name '{}' is reserved", path, run, key);
    SB_REQUIRE(keys.insert(key).second, "{}: {}: attribute '{}' given twice (as text, integer or number)", path, run,
               key);
  };
  for (const auto& [key, value] : record.text) {
    check_key(key);
    SB_REQUIRE(value.find('\0') == std::string::npos, "{}: {}: text attribute '{}' contains a NUL byte", path, run, key);
  }
  for (const auto& [key, value] : record.integers) check_key(key);
  for (const auto& [key, value] : record.numbers) check_key(key);

  std::set<std::string> paths;
  for (const RunRecord::Array& array : record.arrays) {
    const std::string name = array.path;
    SB_REQUIRE(!name.empty() && name.front() != '/' && name.back() != '/' && name.find("//") == std::string::npos &&
                   name.find('\0') == std::string::npos,
               "{}: {}: invalid array path '{}'", path, run, name);
    for (const auto& part : fs::path(name))
      SB_REQUIRE(part != "." && part != "..", "{}: {}: invalid array path '{}'", path, run, name);
    SB_REQUIRE(paths.insert(name).second, "{}: {}: array '{}' given twice", path, run, name);
    for (int64_t dim : array.shape)
      SB_REQUIRE(dim >= 0, "{}: {}: array '{}' has a negative dimension", path, run, name);
    const int filled = int(!array.f64.empty()) + int(!array.f32.empty()) + int(!array.i64.empty()) +
                       int(!array.strings.empty());
    SB_REQUIRE(filled <= 1, "{}: {}: array '{}' holds data in more than one of f64/f32/i64/strings", path, run, name);
    const size_t size = array.f64.size() + array.f32.size() + array.i64.size() + array.strings.size();
    SB_REQUIRE(size == element_count(array.shape), "{}: {}: array '{}' has {} values but its shape holds {}", path,
               run, name, size, element_count(array.shape));
    if (!array.strings.empty()) {
      SB_REQUIRE(array.shape.size() == 1, "{}: {}: string array '{}' must be 1-D", path, run, name);
      for (const std::string& s : array.strings)
        SB_REQUIRE(s.find('\0') == std::string::npos, "{}: {}: string array '{}' contains a NUL byte", path, run, name);
    }
  }
  // A dataset cannot also be a group: "a" and "a/b" together would fail half-way.
  for (const std::string& name : paths) {
    auto it = paths.lower_bound(name + "/");
    SB_REQUIRE(it == paths.end() || it->rfind(name + "/", 0) != 0,
               "{}: {}: array '{}' is also used as a group by '{}'", path, run, name, *it);
  }
}

std::string next_run_id(const std::vector<std::string>& existing) {
  int64_t highest = 0;
  for (const std::string& id : existing) {
    if (id.rfind("run_", 0) != 0 || id.size() == 4) continue;
    const std::string digits = id.substr(4);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) continue;
    highest = std::max<int64_t>(highest, std::stoll(digits));
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "run_%06lld", static_cast<long long>(highest + 1));
  return buffer;
}

// --- the index table -------------------------------------------------------------------

enum class Kind { text, integer, number };

// The index's text columns: fixed-length, NUL-padded.
Type fixed_string_type(size_t size, H5T_cset_t cset) {
  Type type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type, size);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  H5Tset_cset(type, cset);
  return type;
}

// The rows of /index: one per complete run, columns run_id + the union of
// attribute names (missing: "" / -1 / NaN).
struct IndexRows {
  std::vector<RunRecord> rows;  // run_id + attributes; no arrays
  std::map<std::string, Kind> columns;
  std::map<std::string, std::string> first_seen;  // column -> the run that brought it
};

void add_index_row(IndexRows& index, RunRecord row, const std::string& path) {
  auto add = [&](const std::string& key, Kind kind) {
    auto [it, inserted] = index.columns.emplace(key, kind);
    if (inserted) index.first_seen[key] = row.run_id;
    SB_REQUIRE(it->second == kind,
               "{}: attribute '{}' of run {} has a different type (text/integer/number) than in run {}", path, key,
               row.run_id, index.first_seen[key]);
  };
  for (const auto& [key, value] : row.text) add(key, Kind::text);
  for (const auto& [key, value] : row.integers) add(key, Kind::integer);
  for (const auto& [key, value] : row.numbers) add(key, Kind::number);
  index.rows.push_back(std::move(row));
}

// From every complete run's attributes: what the index must hold. Reading
// ~40 attributes of every run is the slow part of a commit (seconds at a few
// thousand runs), so appends take the rows from /index itself when it is there.
IndexRows index_rows_from_runs(hid_t file, const std::string& path) {
  IndexRows index;
  for (const std::string& id : list_runs(file, path)) {
    RunRecord row;
    row.run_id = id;
    Group group(H5_CHECK(H5Gopen2(file, ("runs/" + id).c_str(), H5P_DEFAULT), path + ":/runs/" + id));
    read_attributes(group, row, path + ":/runs/" + id);
    add_index_row(index, std::move(row), path);
  }
  return index;
}

std::string member_name(hid_t type, unsigned member) {
  char* raw = H5Tget_member_name(type, member);
  std::string name = raw ? raw : "";
  H5free_memory(raw);
  return name;
}

// The rows as /index stores them (one dataset read). Missing values come back as
// the placeholders ("" / -1 / NaN) and are written back the same, so the table
// round-trips exactly. Empty when there is no usable /index.
std::optional<IndexRows> index_rows_from_table(hid_t file, const std::string& path) {
  if (H5Lexists(file, "index", H5P_DEFAULT) <= 0) return std::nullopt;
  Dataset dataset(H5Dopen2(file, "index", H5P_DEFAULT));
  if (dataset.get() < 0) return std::nullopt;
  Type type(H5Dget_type(dataset));
  if (type.get() < 0 || H5Tget_class(type) != H5T_COMPOUND) return std::nullopt;
  Space space(H5_CHECK(H5Dget_space(dataset), path + ":/index"));
  hsize_t count = 0;
  if (H5Sget_simple_extent_ndims(space) != 1) return std::nullopt;
  H5_CHECK(H5Sget_simple_extent_dims(space, &count, nullptr), path + ":/index");
  struct Member {
    std::string name;
    Kind kind;
    size_t offset, size;
    H5T_cset_t cset = H5T_CSET_ASCII;
  };
  std::vector<Member> members;
  bool has_run_id = false;
  const int member_count = H5Tget_nmembers(type);
  for (int m = 0; m < member_count; ++m) {
    const H5T_class_t member_class = H5Tget_member_class(type, unsigned(m));
    Type member_type(H5_CHECK(H5Tget_member_type(type, unsigned(m)), path + ":/index"));
    const size_t size = H5Tget_size(member_type);
    Kind kind;
    if (member_class == H5T_STRING && H5Tis_variable_str(member_type) <= 0) {
      kind = Kind::text;
    } else if (member_class == H5T_INTEGER && size == 8) {
      kind = Kind::integer;
    } else if (member_class == H5T_FLOAT && size == 8) {
      kind = Kind::number;
    } else {
      return std::nullopt;  // not a table this store wrote
    }
    members.push_back({member_name(type, unsigned(m)), kind, H5Tget_member_offset(type, unsigned(m)), size,
                       kind == Kind::text ? H5Tget_cset(member_type) : H5T_CSET_ASCII});
    has_run_id = has_run_id || members.back().name == "run_id";
  }
  if (!has_run_id) return std::nullopt;
  // Read into a native layout: same members, native numbers.
  const size_t row_size = H5Tget_size(type);
  Type memory(H5_CHECK(H5Tcreate(H5T_COMPOUND, row_size), path + ":/index"));
  std::vector<Type> string_types;
  for (const Member& member : members) {
    hid_t member_type = member.kind == Kind::integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
    if (member.kind == Kind::text) {
      string_types.push_back(fixed_string_type(member.size, member.cset));
      member_type = string_types.back();
    }
    H5_CHECK(H5Tinsert(memory, member.name.c_str(), member.offset, member_type), path + ":/index." + member.name);
  }
  std::vector<char> buffer(size_t(count) * row_size);
  if (count) H5_CHECK(H5Dread(dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), path + ":/index");
  IndexRows index;
  for (hsize_t r = 0; r < count; ++r) {
    const char* row_bytes = buffer.data() + size_t(r) * row_size;
    RunRecord row;
    for (const Member& member : members) {
      const char* cell = row_bytes + member.offset;
      if (member.kind == Kind::text) {
        std::string value(cell, strnlen(cell, member.size));
        if (member.name == "run_id") {
          row.run_id = std::move(value);
        } else {
          row.text[member.name] = std::move(value);
        }
      } else if (member.kind == Kind::integer) {
        std::memcpy(&row.integers[member.name], cell, 8);
      } else {
        std::memcpy(&row.numbers[member.name], cell, 8);
      }
    }
    add_index_row(index, std::move(row), path);
  }
  for (const Member& member : members)
    if (member.name != "run_id") index.columns.emplace(member.name, member.kind);  // columns of an empty table
  return index;
}

// Writes /index from the rows, replacing the old table.
void write_index(hid_t file, const std::string& path, const IndexRows& index) {
  const std::vector<RunRecord>& rows = index.rows;
  const std::map<std::string, Kind>& columns = index.columns;
  size_t id_width = 1;
  std::map<std::string, size_t> text_width;
  for (const RunRecord& row : rows) {
    id_width = std::max(id_width, row.run_id.size());
    for (const auto& [key, value] : row.text) text_width[key] = std::max(text_width[key], std::max<size_t>(1, value.size()));
  }

  // Row layout: run_id, then the columns by name.
  struct Field {
    std::string name;
    Kind kind;
    size_t offset, size;
  };
  std::vector<Field> fields{{"run_id", Kind::text, 0, id_width}};
  size_t row_size = id_width;
  for (const auto& [name, kind] : columns) {
    const size_t size = kind == Kind::text ? std::max<size_t>(1, text_width[name]) : 8;
    fields.push_back({name, kind, row_size, size});
    row_size += size;
  }
  Type row_type(H5_CHECK(H5Tcreate(H5T_COMPOUND, row_size), path + ":/index"));
  std::vector<Type> string_types;
  for (const Field& field : fields) {
    hid_t member = field.kind == Kind::integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
    if (field.kind == Kind::text) {
      string_types.push_back(fixed_string_type(field.size, H5T_CSET_UTF8));
      member = string_types.back();
    }
    H5_CHECK(H5Tinsert(row_type, field.name.c_str(), field.offset, member), path + ":/index." + field.name);
  }
  std::vector<char> buffer(rows.size() * row_size, '\0');
  for (size_t r = 0; r < rows.size(); ++r) {
    char* row = buffer.data() + r * row_size;
    for (const Field& field : fields) {
      char* cell = row + field.offset;
      if (field.kind == Kind::text) {
        const std::string& value = field.name == "run_id" ? rows[r].run_id
                                   : rows[r].text.count(field.name) ? rows[r].text.at(field.name)
                                                                    : std::string();
        std::memcpy(cell, value.data(), value.size());
      } else if (field.kind == Kind::integer) {
        const int64_t value = rows[r].integers.count(field.name) ? rows[r].integers.at(field.name) : -1;
        std::memcpy(cell, &value, 8);
      } else {
        const double value = rows[r].numbers.count(field.name) ? rows[r].numbers.at(field.name)
                                                               : std::numeric_limits<double>::quiet_NaN();
        std::memcpy(cell, &value, 8);
      }
    }
  }
  if (H5Lexists(file, "index", H5P_DEFAULT) > 0) H5_CHECK(H5Ldelete(file, "index", H5P_DEFAULT), path + ":/index");
  const hsize_t count = rows.size();
  const hsize_t unlimited = H5S_UNLIMITED;
  Space space(H5_CHECK(H5Screate_simple(1, &count, &unlimited), path + ":/index"));
  // Fixed-size chunks: the chunks of the index this append replaces are freed as
  // same-sized pieces that the persistent free-space manager hands to the next
  // index, so rewriting the index on every append does not grow the file.
  Plist layout(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), path + ":/index"));
  const hsize_t chunk_rows = 128;
  H5_CHECK(H5Pset_chunk(layout, 1, &chunk_rows), path + ":/index");
  Dataset table(H5_CHECK(H5Dcreate2(file, "index", row_type, space, H5P_DEFAULT, layout, H5P_DEFAULT),
                         path + ":/index"));
  if (count) H5_CHECK(H5Dwrite(table, row_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), path + ":/index");
}

// --- opening -----------------------------------------------------------------------------

// A new, empty store in `temporary` (the first commit of a file fills and renames it).
void create_store_file(const std::string& temporary, const std::string& path) {
  // Persistent free-space tracking: the space of each replaced /index is reused
  // by later appends instead of growing the file forever.
  Plist creation(H5Pcreate(H5P_FILE_CREATE));
  H5Pset_file_space_strategy(creation, H5F_FSPACE_STRATEGY_FSM_AGGR, 1, 1);
  Plist access(file_access());
  File file(H5Fcreate(temporary.c_str(), H5F_ACC_TRUNC, creation, access));
  SB_REQUIRE(file.get() >= 0, "cannot create results file {}{}", path,
             hdf5_error_reason().empty() ? "" : ": " + hdf5_error_reason());
  write_text_attribute(file, kSchemaAttribute, kSchema, path + ":/");
  Plist group_creation(H5Pcreate(H5P_GROUP_CREATE));
  H5_CHECK(H5Pset_link_creation_order(group_creation, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), path);
  Group runs(H5_CHECK(H5Gcreate2(file, "runs", H5P_DEFAULT, group_creation, H5P_DEFAULT), path + ":/runs"));
  write_index(file, path, IndexRows{});
  runs.close();
  SB_REQUIRE(file.close() >= 0, "cannot write results file {} (into {}): {}", path, temporary, hdf5_error_reason());
}

bool file_exists(const std::string& path) {
  std::error_code error;
  return fs::exists(path, error);
}

// `file` is opened, `path` names it in messages (the two differ for a symlink).
void check_is_store(const std::string& file_path, const std::string& path) {
  std::error_code error;
  SB_REQUIRE(!fs::is_directory(file_path, error), "results file {} is a directory", path);
  SB_REQUIRE(access(file_path.c_str(), R_OK) == 0, "cannot read results file {}: {}", path, std::strerror(errno));
  SB_REQUIRE(H5Fis_hdf5(file_path.c_str()) > 0, "{} is not an HDF5 file (not a starbench results store)", path);
  Plist access(file_access());
  File file(H5Fopen(file_path.c_str(), H5F_ACC_RDONLY, access));
  SB_REQUIRE(file.get() >= 0, "cannot open HDF5 file {}{}", path, hdf5_error_reason().empty() ? "" : ": " + hdf5_error_reason());
  const htri_t has_schema = H5Aexists(file, kSchemaAttribute);
  SB_REQUIRE(has_schema >= 0, "{}: cannot read the attributes of its root group{}: the file is damaged", path,
             hdf5_error_reason().empty() ? "" : " (" + hdf5_error_reason() + ")");
  SB_REQUIRE(has_schema > 0, "{} is an HDF5 file but not a starbench results store (no '{}' attribute)", path,
             kSchemaAttribute);
  const htri_t has_runs = H5Lexists(file, "runs", H5P_DEFAULT);
  SB_REQUIRE(has_runs >= 0, "{}: cannot read its root group{}: the file is damaged", path,
             hdf5_error_reason().empty() ? "" : " (" + hdf5_error_reason() + ")");
  SB_REQUIRE(has_runs > 0, "{} has the '{}' attribute but no /runs group: a damaged or incomplete results file", path,
             kSchemaAttribute);
  Attribute attribute(H5_CHECK(H5Aopen(file, kSchemaAttribute, H5P_DEFAULT), path));
  Type type(H5_CHECK(H5Aget_type(attribute), path));
  SB_REQUIRE(H5Tget_class(type) == H5T_STRING, "{}: attribute '{}' is not a string", path, kSchemaAttribute);
  const std::string schema = read_text_attribute(attribute, type, path);
  SB_REQUIRE(schema == kSchema, "{} has results schema '{}', this starbench reads '{}'", path, schema, kSchema);
}

File open_file_for_reading(const std::string& file_path, const std::string& path) {
  silence_hdf5_errors();
  Plist access(file_access());
  const hid_t id = H5Fopen(file_path.c_str(), H5F_ACC_RDONLY, access);
  SB_REQUIRE(id >= 0, "cannot open results file {}{}", path,
             hdf5_error_reason().empty() ? "" : ": " + hdf5_error_reason());
  return File(id);
}

}  // namespace

void set_append_stage_hook(std::function<void(const std::string& stage)> hook) { stage_hook() = std::move(hook); }

ResultsStore ResultsStore::open(const std::string& path) {
  ResultsStore store = open_for_reading(path, /*must_exist=*/false);
  check_replaceable(store.target_, store.describe(), locking_enabled());
  return store;
}

ResultsStore ResultsStore::open_for_reading(const std::string& path, bool must_exist) {
  silence_hdf5_errors();
  SB_REQUIRE(!path.empty(), "results file path is empty");
  ResultsStore store(path, resolve_symlinks(path));
  SB_REQUIRE(!must_exist || file_exists(store.target_), "no results file {}", store.describe());
  remove_stale_temporaries(store.target_);
  if (file_exists(store.target_)) check_is_store(store.target_, store.describe());
  return store;
}

std::string ResultsStore::describe() const {
  return target_ == path_ ? path_ : fmt::format("{} (a link to {})", path_, target_);
}

std::string ResultsStore::append(RunRecord record) {
  std::vector<RunRecord> one;
  one.push_back(std::move(record));
  return append(std::move(one)).at(0);
}

std::vector<std::string> ResultsStore::append(std::vector<RunRecord> records) {
  silence_hdf5_errors();
  for (const RunRecord& record : records) validate(record, path_);
  std::set<std::string> batch_ids;
  for (const RunRecord& record : records) {
    SB_REQUIRE(record.run_id.empty() || batch_ids.insert(record.run_id).second,
               "{}: run id {} appears twice in one append", path_, record.run_id);
  }
  std::vector<std::string> ids;
  if (records.empty()) return ids;
  // Another process may commit to the same file: take turns, and build on the
  // file as it is now (read under the lock), not as it was at open().
  std::optional<FileLock> lock;
  if (locking_enabled())
    lock.emplace(FileLock::acquire(target_ + ".lock", kLockTimeoutSeconds, "results file " + describe()));
  TemporaryGuard temporary{temporary_path(target_)};
  if (file_exists(target_)) {
    check_is_store(target_, describe());
    copy_file_contents(target_, temporary.path);
  } else {
    create_store_file(temporary.path, describe());  // the file appears with its first runs
  }
  stage("copied");
  {
    Plist access(file_access());
    File file(H5Fopen(temporary.path.c_str(), H5F_ACC_RDWR, access));
    SB_REQUIRE(file.get() >= 0, "cannot open {} (copy of {}) for writing{}", temporary.path, path_,
               hdf5_error_reason().empty() ? "" : ": " + hdf5_error_reason());
    std::optional<IndexRows> table = index_rows_from_table(file, path_);
    IndexRows index = table ? std::move(*table) : index_rows_from_runs(file, path_);
    std::vector<std::string> existing;
    for (const RunRecord& row : index.rows) existing.push_back(row.run_id);
    for (RunRecord& record : records) {
      if (record.run_id.empty()) {
        record.run_id = next_run_id(existing);
      } else {
        SB_REQUIRE(H5Lexists(file, ("runs/" + record.run_id).c_str(), H5P_DEFAULT) <= 0,
                   "{} already holds a run {}", path_, record.run_id);
      }
      existing.push_back(record.run_id);
      ids.push_back(record.run_id);
      const std::string what = path_ + ":/runs/" + record.run_id;
      Group run(H5_CHECK(H5Gcreate2(file, ("runs/" + record.run_id).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         what));
      for (const auto& [key, value] : record.text) write_text_attribute(run, key, value, what);
      for (const auto& [key, value] : record.integers)
        write_scalar_attribute(run, key, H5T_STD_I64LE, H5T_NATIVE_INT64, value, what);
      for (const auto& [key, value] : record.numbers)
        write_scalar_attribute(run, key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, value, what);
      for (size_t i = 0; i < record.arrays.size(); ++i) {
        write_array(run, record.arrays[i], what);
        stage("array:" + std::to_string(i));
      }
      write_text_attribute(run, kAttributesDigestAttribute, attributes_sha256(record), what);
      write_scalar_attribute(run, kCompleteAttribute, H5T_STD_I64LE, H5T_NATIVE_INT64, int64_t(1), what);
      run.close();
      add_index_row(index, RunRecord{record.run_id, record.text, record.integers, record.numbers, {}}, path_);
      stage("run:" + record.run_id);
    }
    write_index(file, path_, index);
    stage("index");
    SB_REQUIRE(file.close() >= 0, "cannot write results file {} (into its copy {}): {}", describe(), temporary.path,
               hdf5_error_reason());
  }
  stage("closed");
  commit_temporary(temporary, target_);
  return ids;
}

std::vector<std::string> ResultsStore::run_ids() const {
  if (!file_exists(target_)) return {};  // created by the first append
  File file = open_file_for_reading(target_, describe());
  return list_runs(file, path_);
}

RunRecord ResultsStore::read(const std::string& run_id) const {
  SB_REQUIRE(file_exists(target_), "{} holds no run '{}' (the file does not exist yet)", describe(), run_id);
  File file = open_file_for_reading(target_, describe());
  SB_REQUIRE(valid_name(run_id) && H5Lexists(file, ("runs/" + run_id).c_str(), H5P_DEFAULT) > 0 &&
                 is_complete(file, run_id),
             "{} holds no run '{}'", path_, run_id);
  const std::string what = path_ + ":/runs/" + run_id;
  Group group(H5_CHECK(H5Gopen2(file, ("runs/" + run_id).c_str(), H5P_DEFAULT), what));
  RunRecord record;
  record.run_id = run_id;
  read_attributes(group, record, what);
  if (H5Aexists(group, kAttributesDigestAttribute) > 0) {
    Attribute attribute(H5_CHECK(H5Aopen(group, kAttributesDigestAttribute, H5P_DEFAULT), what));
    Type type(H5_CHECK(H5Aget_type(attribute), what));
    const std::string stored = H5Tget_class(type) == H5T_STRING ? read_text_attribute(attribute, type, what) : "";
    const std::string actual = attributes_sha256(record);
    SB_REQUIRE(stored == actual, "{}: damaged: its attributes do not match their checksum (@{}: {} stored, {} read)",
               what, kAttributesDigestAttribute, stored, actual);
  }
  for (const std::string& dataset : dataset_paths(group, what)) record.arrays.push_back(read_array(group, dataset, what));
  return record;
}

std::string ResultsStore::damage(const std::string& run_id) const {
  try {
    read(run_id);
    return "";
  } catch (const Error& error) {
    return error.what();
  }
}

std::vector<std::string> ResultsStore::find_by_params_key(const std::string& key) const {
  return find_by_attribute("params_key", key);
}

std::map<std::string, std::vector<std::string>> ResultsStore::runs_by_params_key() const {
  return runs_by_attribute("params_key");
}

std::vector<std::string> ResultsStore::find_by_attribute(const std::string& name, const std::string& value) const {
  const auto runs = runs_by_attribute(name);
  const auto found = runs.find(value);
  return found == runs.end() ? std::vector<std::string>{} : found->second;
}

std::map<std::string, std::vector<std::string>> ResultsStore::runs_by_attribute(const std::string& name) const {
  std::map<std::string, std::vector<std::string>> runs;
  if (!file_exists(target_)) return runs;
  File file = open_file_for_reading(target_, describe());
  for (const std::string& id : list_runs(file, path_)) {
    const std::string group = "runs/" + id;
    if (H5Aexists_by_name(file, group.c_str(), name.c_str(), H5P_DEFAULT) <= 0) continue;
    Attribute attribute(H5_CHECK(H5Aopen_by_name(file, group.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                                 path_ + ":/" + group));
    Type type(H5_CHECK(H5Aget_type(attribute), path_));
    if (H5Tget_class(type) == H5T_STRING) runs[read_text_attribute(attribute, type, path_)].push_back(id);
  }
  return runs;
}

}  // namespace sb
