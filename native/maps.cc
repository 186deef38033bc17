// Map access: create, update, lookup, delete, dump, info, pins and fds.
#include <bpf/bpf.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "addon.h"
#include "batch.h"
#include "errors.h"
#include "mapping.h"

namespace xlb {

static std::string FdDesc(int fd) { return "map fd " + std::to_string(fd); }

static bpf_map_info InfoOf(Napi::Env env, int fd) {
  bpf_map_info mi = {};
  __u32 len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len)) throw SysError(env, errno, "reading info of " + FdDesc(fd));
  return mi;
}

Napi::Value MapCreate(const Napi::CallbackInfo &info) {
  int type = ArgInt(info, 0, "type");
  int keySize = ArgInt(info, 1, "keySize");
  int valueSize = ArgInt(info, 2, "valueSize");
  int maxEntries = ArgInt(info, 3, "maxEntries");
  int flags = ArgInt(info, 4, "flags");
  std::string name = ArgString(info, 5, "name");
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = (__u32)flags);
  int fd = bpf_map_create((bpf_map_type)type, name.c_str(), keySize, valueSize, maxEntries, &opts);
  if (fd < 0) throw SysError(info.Env(), errno, "creating map " + name);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value MapUpdate(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  auto value = ArgBuffer(info, 2, "value");
  int flags = ArgInt(info, 3, "flags");
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags))
    throw SysError(info.Env(), errno, "updating " + FdDesc(fd));
  return info.Env().Undefined();
}

// Updates many entries in one call: keys and values are packed back to back. One
// batch syscall where the kernel supports it (map-in-map updates then wait for RCU
// once, not once per entry), else one update per entry.
Napi::Value MapUpdateBatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  auto keys = ArgBuffer(info, 1, "keys");
  auto values = ArgBuffer(info, 2, "values");
  bpf_map_info mi = InfoOf(env, fd);
  if (mi.key_size == 0 || keys.Length() % mi.key_size != 0 || values.Length() != keys.Length() / mi.key_size * mi.value_size)
    throw Napi::RangeError::New(env, "keys and values do not match the sizes of map " + std::string(mi.name));
  __u32 count = keys.Length() / mi.key_size;
  if (count == 0) return env.Undefined();
  __u32 done = count;
  if (bpf_map_update_batch(fd, keys.Data(), values.Data(), &done, nullptr) == 0) return env.Undefined();
  for (__u32 i = 0; i < count; i++) {
    if (bpf_map_update_elem(fd, keys.Data() + (size_t)i * mi.key_size, values.Data() + (size_t)i * mi.value_size, BPF_ANY))
      throw SysError(env, errno, "updating map " + std::string(mi.name) + " (entry " + std::to_string(i) + " of a batch)");
  }
  return env.Undefined();
}

// Live mappings by address, each with the id of the buffer that owns it: a buffer
// unmapped early (MapUnmap) must not, when it is collected, unmap a later mapping that
// got the same address. Worker threads map and collect too.
static std::mutex mappingsLock;
static std::unordered_map<void *, uint64_t> mappings;
static uint64_t nextMapping = 1;

static void Release(void *p, size_t len, uint64_t id) {
  std::lock_guard<std::mutex> guard(mappingsLock);
  auto it = mappings.find(p);
  if (it == mappings.end() || it->second != id) return;
  mappings.erase(it);
  munmap(p, len);
}

// Maps a BPF_F_MMAPABLE array map's memory into the process, shared with the kernel, as
// an ArrayBuffer: the agent then writes elements with plain memory copies, no syscall.
// The whole map, or `count` elements from `first` (which must start on a page), since a
// mapping counts in resident memory in full. Unmapped by MapUnmap, or when the buffer is
// collected. Elements are value_size bytes, laid out 8-byte aligned, so values of a
// multiple of 8 bytes lie densely.
Napi::Value MapMmap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  bpf_map_info mi = InfoOf(env, fd);
  size_t stride = (mi.value_size + 7) / 8 * 8;
  size_t first = info.Length() > 1 && !info[1].IsUndefined() ? (size_t)ArgInt(info, 1, "first") : 0;
  size_t count = info.Length() > 2 && !info[2].IsUndefined() ? (size_t)ArgInt(info, 2, "count") : mi.max_entries - std::min<size_t>(first, mi.max_entries);
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (count == 0 || first + count > mi.max_entries || (first * stride) % page != 0)
    throw Napi::RangeError::New(env, "mapping map " + std::string(mi.name) + ": elements " + std::to_string(first) + "+" + std::to_string(count) +
                                         " do not lie within its " + std::to_string(mi.max_entries) + " or do not start on a page");
  size_t len = count * stride;
  Mapping m(fd, first * stride, len, PROT_READ | PROT_WRITE);
  if (!m.ok()) throw SysError(env, errno, "mapping map " + std::string(mi.name), "was it created with BPF_F_MMAPABLE?");
  void *p = m.release();
  uint64_t id;
  {
    std::lock_guard<std::mutex> guard(mappingsLock);
    id = nextMapping++;
    mappings[p] = id;
  }
  return Napi::ArrayBuffer::New(env, p, len, [len, id](Napi::Env, void *data) { Release(data, len, id); });
}

// Unmaps a buffer of MapMmap now (a mapping counts in the process's resident memory
// for as long as it lasts) and detaches it: views of it read as empty afterwards.
Napi::Value MapUnmap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "mapUnmap: an ArrayBuffer of mapMmap is required");
  auto buffer = info[0].As<Napi::ArrayBuffer>();
  void *p = buffer.Data();
  size_t len = buffer.ByteLength();
  uint64_t id;
  {
    std::lock_guard<std::mutex> guard(mappingsLock);
    auto it = mappings.find(p);
    if (p == nullptr || it == mappings.end()) throw Napi::Error::New(env, "mapUnmap: not a live mapping of mapMmap");
    id = it->second;
  }
  buffer.Detach();
  Release(p, len, id);
  return env.Undefined();
}

Napi::Value MapLookup(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  int valueSize = ArgInt(info, 2, "valueSize");
  auto out = Napi::Buffer<uint8_t>::New(env, valueSize);
  if (bpf_map_lookup_elem(fd, key.Data(), out.Data())) {
    if (errno == ENOENT) return env.Null();
    throw SysError(env, errno, "looking up in " + FdDesc(fd));
  }
  return out;
}

Napi::Value MapDelete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  if (bpf_map_delete_elem(fd, key.Data())) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    throw SysError(env, errno, "deleting from " + FdDesc(fd));
  }
  return Napi::Boolean::New(env, true);
}

// Calls each(key, value) for every entry (values read by lookup; entries deleted
// meanwhile are skipped). Throws on a failing walk or lookup.
template <typename Each>
static void ForEachEntry(Napi::Env env, int fd, size_t keySize, size_t valueSize, Each each) {
  std::vector<uint8_t> cur(keySize), next(keySize), value(valueSize);
  void *prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    cur.swap(next);
    prev = cur.data();
    if (bpf_map_lookup_elem(fd, cur.data(), value.data())) {
      if (errno == ENOENT) continue;  // deleted (or an empty map-in-map slot) meanwhile
      throw SysError(env, errno, "reading " + FdDesc(fd));
    }
    each(cur, value);
  }
  if (errno != ENOENT) throw SysError(env, errno, "iterating " + FdDesc(fd));
}

// An array's slots all exist; one of zeros is an empty slot (xlb_backends), left out
// of dumps and counts. A mmapable array is read through its memory a window at a time
// (the agent's start reads a million slots so: a batched read took 270 ms of syscalls,
// and a whole mapping would count 8 MiB more in its peak resident memory); any other
// in batches (one syscall per 4,096 slots, where a walk by key makes two per slot).
static const size_t SLOT_WINDOW = 1 << 20;
static const __u32 ARRAY_BATCH = 4096;

static bool Filled(const uint8_t *v, size_t size) {
  return std::any_of(v, v + size, [](uint8_t b) { return b != 0; });
}

template <typename Each>
static void ForEachFilledSlot(Napi::Env env, int fd, const bpf_map_info &mi, Each each) {
  if (!(mi.map_flags & BPF_F_MMAPABLE)) {
    ForEachBatch(env, fd, FdDesc(fd), sizeof(__u32), mi.value_size, [&](const uint8_t *keys, const uint8_t *values, __u32 n) {
      for (__u32 i = 0; i < n; i++) {
        const uint8_t *v = values + (size_t)i * mi.value_size;
        if (Filled(v, mi.value_size)) each(keys + (size_t)i * sizeof(__u32), v);
      }
    }, ARRAY_BATCH);
    return;
  }
  const size_t stride = (mi.value_size + 7) / 8 * 8, total = (size_t)mi.max_entries * stride;
  for (size_t off = 0; off < total; off += SLOT_WINDOW) {
    size_t len = std::min(SLOT_WINDOW, total - off);
    Mapping window(fd, off, len, PROT_READ);
    if (!window.ok()) throw SysError(env, errno, "mapping " + FdDesc(fd) + " to read it");
    const uint8_t *base = static_cast<const uint8_t *>(window.data());
    for (size_t at = 0; at < len; at += stride) {
      if (!Filled(base + at, mi.value_size)) continue;
      __u32 key = (__u32)((off + at) / stride);
      each(reinterpret_cast<const uint8_t *>(&key), base + at);
    }
  }
}

Napi::Value MapDump(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  size_t keySize = ArgInt(info, 1, "keySize");
  size_t valueSize = ArgInt(info, 2, "valueSize");
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  auto add = [&](const uint8_t *k, const uint8_t *v) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("key", Napi::Buffer<uint8_t>::Copy(env, k, keySize));
    e.Set("value", Napi::Buffer<uint8_t>::Copy(env, v, valueSize));
    out.Set(n++, e);
  };
  bpf_map_info mi = InfoOf(env, fd);
  if (mi.type == BPF_MAP_TYPE_ARRAY) {
    // Slots are read in place, value_size bytes each: a larger valueSize would read past one.
    if (keySize != sizeof(__u32) || valueSize != mi.value_size)
      throw Napi::RangeError::New(env, "dumping array " + std::string(mi.name) + ": keys are 4 bytes and values " + std::to_string(mi.value_size) + ", not " +
                                           std::to_string(keySize) + " and " + std::to_string(valueSize));
    ForEachFilledSlot(env, fd, mi, add);
  } else {
    ForEachEntry(env, fd, keySize, valueSize, [&](const std::vector<uint8_t> &k, const std::vector<uint8_t> &v) { add(k.data(), v.data()); });
  }
  return out;
}

// How many entries a map holds (a key walk; values are not read), or filled slots an array.
Napi::Value MapCount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  bpf_map_info mi = InfoOf(env, fd);
  if (mi.type == BPF_MAP_TYPE_ARRAY) {
    uint32_t filled = 0;
    ForEachFilledSlot(env, fd, mi, [&](const uint8_t *, const uint8_t *) { filled++; });
    return Napi::Number::New(env, filled);
  }
  std::vector<uint8_t> cur(mi.key_size), next(mi.key_size);
  void *prev = nullptr;
  uint32_t n = 0;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    cur.swap(next);
    prev = cur.data();
    n++;
  }
  if (errno != ENOENT) throw SysError(env, errno, "iterating " + FdDesc(fd));
  return Napi::Number::New(env, n);
}

// Deletes the entries whose value starts with a CLOCK_MONOTONIC expiry (u64 ns) in
// the past: flow tables whose connections ended. Returns how many went and how many
// stay (the table's fill, from the same walk).
Napi::Value MapDeleteExpired(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  bpf_map_info mi = InfoOf(env, fd);
  if (mi.value_size < sizeof(uint64_t)) throw Napi::RangeError::New(env, std::string("map ") + mi.name + " has no expiry to read");
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  std::vector<std::vector<uint8_t>> gone;
  uint32_t remaining = 0;
  ForEachEntry(env, fd, mi.key_size, mi.value_size, [&](const std::vector<uint8_t> &k, const std::vector<uint8_t> &v) {
    uint64_t expires;
    memcpy(&expires, v.data(), sizeof(expires));
    if (expires <= now) gone.push_back(k);
    else remaining++;
  });
  // Deleted after the walk: deleting the walk's current key would restart it.
  uint32_t deleted = 0;
  for (auto &k : gone) deleted += bpf_map_delete_elem(fd, k.data()) == 0;
  Napi::Object out = Napi::Object::New(env);
  out.Set("deleted", deleted);
  out.Set("remaining", remaining);
  return out;
}

Napi::Value MapInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  bpf_map_info mi = InfoOf(env, ArgInt(info, 0, "fd"));
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", mi.id);
  o.Set("type", mi.type);
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  o.Set("flags", mi.map_flags);
  o.Set("name", mi.name);
  return o;
}

Napi::Value MapFdById(const Napi::CallbackInfo &info) {
  int id = ArgInt(info, 0, "id");
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) throw SysError(info.Env(), errno, "opening map id " + std::to_string(id));
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value ObjGet(const Napi::CallbackInfo &info) {
  std::string path = ArgString(info, 0, "pinPath");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw SysError(info.Env(), errno, "opening pinned object " + path, "is the agent running with this --bpffs?");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo &info) {
  close(ArgInt(info, 0, "fd"));
  return info.Env().Undefined();
}

}  // namespace xlb
