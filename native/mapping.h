// A window of a BPF_F_MMAPABLE map's memory, shared with the kernel. A mapping counts
// in the process's resident memory in full for as long as it lasts: each is unmapped
// when it goes out of scope (also when what reads it throws), unless released to an
// owner that unmaps it later.
#pragma once
#include <sys/mman.h>

#include <cstddef>

namespace xlb {

class Mapping {
 public:
  // `offset` bytes into the map's memory, `len` bytes; ok() tells, errno says why not.
  Mapping(int fd, size_t offset, size_t len, int prot)
      : p_(mmap(nullptr, len, prot, MAP_SHARED, fd, static_cast<off_t>(offset))), len_(len) {}
  ~Mapping() {
    if (ok()) munmap(p_, len_);
  }
  Mapping(const Mapping &) = delete;
  Mapping &operator=(const Mapping &) = delete;

  bool ok() const { return p_ != MAP_FAILED; }
  void *data() const { return p_; }
  // The caller owns the mapping from now on.
  void *release() {
    void *p = p_;
    p_ = MAP_FAILED;
    return p;
  }

 private:
  void *p_;
  size_t len_;
};

}  // namespace xlb
