// Reading a map in batches (BPF_MAP_LOOKUP_BATCH, kernel >= 5.6): one syscall per
// batch, where a walk by key costs two per entry. Dumps (maps.cc) and migrations
// (layout.cc) read through it.
#pragma once
#include <bpf/bpf.h>
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"

namespace xlb {

// Calls each(keys, values, n) for every batch read: n keys of keySize bytes and n
// values of valueStride bytes, each packed back to back. `what` names the map in errors.
template <typename Each>
void ForEachBatch(Napi::Env env, int fd, const std::string &what, size_t keySize, size_t valueStride, Each each,
                  __u32 batch = 256) {
  std::vector<uint8_t> keys, values;
  // The kernel's position in the map between batches (a bucket index for hashes).
  uint64_t inPos = 0, outPos = 0;
  bool first = true;
  for (;;) {
    keys.resize((size_t)batch * keySize);
    values.resize((size_t)batch * valueStride);
    __u32 n = batch;
    int rc = bpf_map_lookup_batch(fd, first ? nullptr : &inPos, &outPos, keys.data(), values.data(), &n, nullptr);
    if (rc && errno == ENOSPC && n == 0) {  // a bucket holds more than a batch
      batch *= 2;
      continue;
    }
    if (rc && errno != ENOENT) throw SysError(env, errno, "reading " + what + " in batches", "needs kernel >= 5.6");
    each(keys.data(), values.data(), n);
    if (rc) return;  // ENOENT: that was the last batch
    first = false;
    inPos = outPos;
  }
}

}  // namespace xlb
