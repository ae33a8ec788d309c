#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace sb {

using nlohmann::json;

namespace {

// The reference implementation refuses headers above 100 MB; so do we, before
// handing the JSON parser a length read from an untrusted file.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

DType parse_safetensors_dtype(const std::string& dtype, const std::string& context) {
  if (dtype == "BF16") return DType::BF16;
  if (dtype == "F16") return DType::F16;
  if (dtype == "F32") return DType::F32;
  fail("{}: dtype '{}' is not supported (BF16, F16 or F32)", context, dtype);
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open safetensors file '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail("cannot stat safetensors file '{}': {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("safetensors path '{}' is not a regular file", path);
  }
  const size_t size = size_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail("{}: file is {} bytes, too short for the 8-byte header length (truncated?)", path, size);
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (map == MAP_FAILED) fail("cannot mmap safetensors file '{}': {}", path, std::strerror(err));
  file->map_ = map;
  file->map_size_ = size;

  const uint64_t header_length = read_u64_le(static_cast<const unsigned char*>(map));
  if (header_length > size - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes; truncated or not safetensors?)", path,
         header_length, size);
  if (header_length > kMaxHeaderBytes) fail("{}: header length {} is over the 100 MB limit", path, header_length);
  file->parse_header(size_t(header_length));
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

void SafetensorsFile::parse_header(size_t header_length) {
  const char* base = static_cast<const char*>(map_);
  const std::string header_text(base + 8, header_length);
  const size_t data_start = 8 + header_length;
  const size_t data_size = map_size_ - data_start;

  // Duplicate keys would silently keep the last one in nlohmann::json: catch them
  // with the parser callback, at the top level.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t on_key = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(header_text, on_key);
  } catch (const json::exception& e) {
    fail("{}: header is not valid JSON ({})", path_, e.what());
  }
  if (!header.is_object()) fail("{}: header must be a JSON object", path_);
  if (!duplicate.empty()) fail("{}: tensor '{}' appears twice in the header", path_, duplicate);

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: __metadata__ must be an object of strings", path_);
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) fail("{}: __metadata__ value '{}' is not a string", path_, m.key());
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", path_, name);
    if (!entry.is_object()) fail("{}: header entry is not an object", where);
    auto dtype = entry.find("dtype");
    auto shape = entry.find("shape");
    auto offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string()) fail("{}: missing or non-string 'dtype'", where);
    if (shape == entry.end() || !shape->is_array()) fail("{}: missing or non-array 'shape'", where);
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2)
      fail("{}: 'data_offsets' must be [begin, end]", where);

    SafetensorsTensor tensor;
    tensor.name = name;
    tensor.dtype = parse_safetensors_dtype(dtype->get<std::string>(), where);
    // numel * element size, saturating instead of overflowing on a hostile shape
    // (a saturated count can never match the offsets).
    uint64_t bytes = dtype_size(tensor.dtype);
    for (const json& d : *shape) {
      if (!d.is_number_unsigned()) fail("{}: shape {} has a non-integer or negative dimension", where, shape->dump());
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && bytes > UINT64_MAX / dim) bytes = UINT64_MAX;
      else bytes *= dim;
      tensor.shape.push_back(int64_t(std::min<uint64_t>(dim, INT64_MAX)));
    }
    for (const json& o : *offsets)
      if (!o.is_number_unsigned()) fail("{}: data_offsets {} must be non-negative integers", where, offsets->dump());
    const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
    if (end < begin) fail("{}: data_offsets [{}, {}] end before they begin", where, begin, end);
    if (end > data_size)
      fail("{}: data_offsets [{}, {}] run past the end of the data ({} bytes; truncated file?)", where, begin, end,
           data_size);
    if (end - begin != bytes)
      fail("{}: data_offsets [{}, {}] hold {} bytes, but shape {} of {} needs {}", where, begin, end, end - begin,
           shape_to_string(tensor.shape), dtype_name(tensor.dtype),
           bytes == UINT64_MAX ? std::string("more than the file") : std::to_string(bytes));
    tensor.data = base + data_start + begin;
    tensor.byte_size = size_t(bytes);
    tensors_.push_back(std::move(tensor));
  }

  std::sort(tensors_.begin(), tensors_.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return a.data < b.data || (a.data == b.data && a.byte_size < b.byte_size);
  });
  for (size_t i = 1; i < tensors_.size(); ++i) {
    const SafetensorsTensor& prev = tensors_[i - 1];
    const SafetensorsTensor& next = tensors_[i];
    if (static_cast<const char*>(prev.data) + prev.byte_size > static_cast<const char*>(next.data))
      fail("{}: tensors '{}' and '{}' overlap in the data buffer", path_, prev.name, next.name);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) by_name_[tensors_[i].name] = i;
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

std::vector<float> tensor_to_float(const SafetensorsTensor& tensor) {
  const size_t n = size_t(tensor.numel());
  std::vector<float> out(n);
  const auto* bytes = static_cast<const unsigned char*>(tensor.data);
  switch (tensor.dtype) {
    case DType::F32:
      std::memcpy(out.data(), bytes, n * sizeof(float));
      break;
    case DType::BF16:
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, bytes + 2 * i, 2);  // memcpy: the data may be unaligned
        out[i] = tensor.dtype == DType::BF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
      }
      break;
    default:
      fail("tensor '{}': cannot widen dtype {} to float", tensor.name, dtype_name(tensor.dtype));
  }
  return out;
}

}  // namespace sb
