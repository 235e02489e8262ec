#include "mapped_arrays.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace glassbox {

namespace {

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full, kP3 = 0x165667B19E3779F9ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t round(uint64_t acc, uint64_t word) { return rotl(acc + word * kP2, 31) * kP1; }

// A read-only view of a whole file, unmapped when dropped.
class Mapping {
 public:
  Mapping(const std::string& path, bool populate) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot stat " + path);
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      // MAP_POPULATE: the pages (already in the page cache) are mapped in one call, not one fault
      // each. Read-only: a writable private mapping would be populated by copying every page.
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw std::runtime_error("cannot map " + path);
      }
      data_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file
  }
  ~Mapping() {
    if (data_) ::munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

mx::Dtype dtype_named(const std::string& name) {
  if (name == "uint32") return mx::uint32;
  if (name == "float32") return mx::float32;
  if (name == "float16") return mx::float16;
  if (name == "bfloat16") return mx::bfloat16;
  if (name == "int8") return mx::int8;
  if (name == "uint8") return mx::uint8;
  if (name == "int32") return mx::int32;
  throw std::invalid_argument("map_arrays: unsupported dtype " + name);
}

}  // namespace

uint64_t checksum(const uint8_t* data, size_t n) {
  uint64_t lanes[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, data + i, 32);
    for (int k = 0; k < 4; ++k) lanes[k] = round(lanes[k], w[k]);
  }
  uint64_t h = rotl(lanes[0], 1) + rotl(lanes[1], 7) + rotl(lanes[2], 12) + rotl(lanes[3], 18);
  h += static_cast<uint64_t>(n);
  for (; i < n; ++i) h = rotl(h ^ (data[i] * kP3), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  return h;
}

uint64_t file_checksum(const std::string& path, size_t from) {
  Mapping m(path, false);
  if (from > m.size()) throw std::runtime_error("file_checksum: the file is shorter than its header");
  return checksum(m.data() + from, m.size() - from);
}

std::vector<mx::array> map_arrays(const std::string& path, size_t size, size_t payload, uint64_t expected,
                                  const std::vector<MappedSpec>& specs) {
  auto mapping = std::make_shared<Mapping>(path, true);
  if (mapping->size() != size || payload > size) {
    throw std::runtime_error("map_arrays: " + path + " is not the size its index says (truncated or replaced)");
  }
  if (checksum(mapping->data() + payload, size - payload) != expected) {
    throw std::runtime_error("map_arrays: " + path + " does not match its checksum (damaged or changed)");
  }
  std::vector<mx::array> out;
  out.reserve(specs.size());
  for (const auto& spec : specs) {
    const mx::Dtype dtype = dtype_named(spec.dtype);
    size_t count = 1;
    for (int d : spec.shape) {
      if (d < 0) throw std::invalid_argument("map_arrays: a negative dimension");
      count *= static_cast<size_t>(d);
    }
    const size_t nbytes = count * dtype.size();
    if (spec.offset % 64 || spec.offset < payload + 8 || spec.offset > size || nbytes > size - spec.offset) {
      throw std::invalid_argument("map_arrays: an array lies outside the file's payload");
    }
    uint8_t* data = mapping->data() + spec.offset;
    size_t recorded;
    std::memcpy(&recorded, data - 8, 8);
    if (recorded != nbytes) throw std::invalid_argument("map_arrays: an array's byte count disagrees with its shape");
    // MLX's CPU allocator: a buffer points at a size_t byte count, the data follows it
    mx::allocator::Buffer buffer(data - 8);
    // not owned by MLX's allocator, so never donated to an operation's output; the mapping goes with
    // the last of its arrays
    out.emplace_back(mx::allocator::Data(buffer, [mapping](mx::allocator::Buffer) {}),
                     mx::Shape(spec.shape.begin(), spec.shape.end()), dtype);
  }
  return out;
}

}  // namespace glassbox
