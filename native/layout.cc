// Map layouts, for upgrades (src/dataplane/bpf/layout.ts): a map's definition with
// its key and value described from BTF, for an object's map and for a pinned one, so
// the two can be compared; and the copy of a map's entries into a map of another
// layout, by byte ranges layout.ts plans from the two descriptions.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "batch.h"
#include "errors.h"
#include "layout.h"

namespace xlb {

// A type as the bytes it lays out: typedefs and qualifiers are looked through; a
// struct or union is its name, size and members (byte offsets; bitfields also in
// bits), an array its count and element, a scalar its kind and size. Equal
// descriptions mean equal bytes under equal names: the version of a map's layout.
static Napi::Value DescribeType(Napi::Env env, const btf *b, __u32 id, int depth) {
  int rid = btf__resolve_type(b, id);
  const btf_type *t = rid > 0 ? btf__type_by_id(b, rid) : nullptr;
  if (!t || depth > 32) throw Napi::Error::New(env, "BTF type " + std::to_string(id) + " cannot be described (void, or nested too deeply)");
  Napi::Object o = Napi::Object::New(env);
  const char *name = btf__name_by_offset(b, t->name_off);
  __s64 size = btf__resolve_size(b, rid);
  switch (btf_kind(t)) {
    case BTF_KIND_INT:
      o.Set("kind", "int");
      o.Set("size", size);
      o.Set("signed", (btf_int_encoding(t) & BTF_INT_SIGNED) != 0);
      if (btf_int_bits(t) != size * 8 || btf_int_offset(t)) {
        o.Set("bits", btf_int_bits(t));
        o.Set("bitOffset", btf_int_offset(t));
      }
      break;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      o.Set("kind", "enum");
      o.Set("name", name ? name : "");
      o.Set("size", size);
      break;
    case BTF_KIND_ARRAY: {
      const struct btf_array *a = btf_array(t);
      o.Set("kind", "array");
      o.Set("size", size);
      o.Set("count", a->nelems);
      o.Set("elem", DescribeType(env, b, a->type, depth + 1));
      break;
    }
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: {
      o.Set("kind", btf_is_struct(t) ? "struct" : "union");
      o.Set("name", name ? name : "");
      o.Set("size", size);
      Napi::Array members = Napi::Array::New(env);
      const btf_member *m = btf_members(t);
      for (__u16 i = 0; i < btf_vlen(t); i++) {
        Napi::Object mo = Napi::Object::New(env);
        const char *mname = btf__name_by_offset(b, m[i].name_off);
        __u32 bit = btf_member_bit_offset(t, i), bits = btf_member_bitfield_size(t, i);
        mo.Set("name", mname ? mname : "");
        mo.Set("offset", bit / 8);
        if (bits || bit % 8) {
          mo.Set("bitOffset", bit);
          mo.Set("bits", bits);
        }
        mo.Set("type", DescribeType(env, b, m[i].type, depth + 1));
        members.Set(i, mo);
      }
      o.Set("members", members);
      break;
    }
    default:  // pointer, float, forward declaration, function: by kind and size only
      o.Set("kind", btf_kind(t) == BTF_KIND_PTR ? "ptr" : btf_kind(t) == BTF_KIND_FLOAT ? "float" : "other");
      o.Set("size", size < 0 ? 0 : size);
  }
  return o;
}

static Napi::Value DescribeOrNull(Napi::Env env, const btf *b, __u32 id) {
  return b && id ? DescribeType(env, b, id, 0) : env.Null();
}

static Napi::Object Definition(Napi::Env env, __u32 type, __u32 keySize, __u32 valueSize, __u32 maxEntries, __u32 flags) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", type);
  const char *name = libbpf_bpf_map_type_str((bpf_map_type)type);
  o.Set("typeName", name ? name : "type " + std::to_string(type));
  o.Set("keySize", keySize);
  o.Set("valueSize", valueSize);
  o.Set("maxEntries", maxEntries);
  o.Set("flags", flags);
  return o;
}

Napi::Object DescribeObjectMap(Napi::Env env, bpf_map *map, const btf *b) {
  Napi::Object o = Definition(env, bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
                              bpf_map__max_entries(map), bpf_map__map_flags(map));
  o.Set("key", DescribeOrNull(env, b, bpf_map__btf_key_type_id(map)));
  o.Set("value", DescribeOrNull(env, b, bpf_map__btf_value_type_id(map)));
  bpf_map *inner = bpf_map__inner_map(map);
  o.Set("inner", inner ? Napi::Value(DescribeObjectMap(env, inner, b)) : env.Null());
  return o;
}

static bool IsMapInMap(__u32 type) { return type == BPF_MAP_TYPE_ARRAY_OF_MAPS || type == BPF_MAP_TYPE_HASH_OF_MAPS; }

// The kernel keeps an outer map's inner template to itself: the first inner map it
// holds stands for it (the kernel let it in only if it matched). Returns -1 for none.
static int AnyInnerMap(Napi::Env env, int fd, const bpf_map_info &mi, const std::string &pin) {
  std::vector<uint8_t> cur(mi.key_size), next(mi.key_size);
  void *prev = nullptr;
  __u32 id;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    cur.swap(next);
    prev = cur.data();
    if (bpf_map_lookup_elem(fd, cur.data(), &id) == 0) {
      int inner = bpf_map_get_fd_by_id(id);
      if (inner >= 0) return inner;
    }
  }
  if (errno != ENOENT) throw SysError(env, errno, "reading the inner maps of " + pin);
  return -1;
}

static Napi::Object DescribeKernelMap(Napi::Env env, int fd, const std::string &pin) {
  bpf_map_info mi = {};
  __u32 len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len)) throw SysError(env, errno, "reading the definition of " + pin);
  Napi::Object o = Definition(env, mi.type, mi.key_size, mi.value_size, mi.max_entries, mi.map_flags);
  o.Set("id", mi.id);
  btf *b = nullptr;
  if (mi.btf_id) {
    b = btf__load_from_kernel_by_id(mi.btf_id);
    if (!b) throw SysError(env, errno, "reading the BTF of " + pin);
  }
  try {
    o.Set("key", DescribeOrNull(env, b, mi.btf_key_type_id));
    o.Set("value", DescribeOrNull(env, b, mi.btf_value_type_id));
  } catch (...) {
    btf__free(b);
    throw;
  }
  btf__free(b);
  int inner = IsMapInMap(mi.type) ? AnyInnerMap(env, fd, mi, pin) : -1;
  if (inner < 0) {
    o.Set("inner", env.Null());
    return o;
  }
  try {
    o.Set("inner", DescribeKernelMap(env, inner, pin + " (an inner map)"));
  } catch (...) {
    close(inner);
    throw;
  }
  close(inner);
  return o;
}

Napi::Value PinnedMapInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string pin = ArgString(info, 0, "pinPath");
  int fd = bpf_obj_get(pin.c_str());
  if (fd < 0) {
    if (errno == ENOENT) return env.Null();
    throw SysError(env, errno, "opening pinned map " + pin, "is --bpffs on a bpf filesystem?");
  }
  try {
    Napi::Object o = DescribeKernelMap(env, fd, pin);
    close(fd);
    return o;
  } catch (...) {
    close(fd);
    throw;
  }
}

struct Range {
  uint32_t from, to, length;
};

// [[from, to, length], ...] within `fromSize` and `toSize` bytes.
static std::vector<Range> ArgRanges(const Napi::CallbackInfo &info, size_t i, const char *name, uint32_t fromSize, uint32_t toSize) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsArray()) throw Napi::TypeError::New(env, std::string("argument ") + name + " must be an array of [from, to, length]");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<Range> out;
  for (uint32_t j = 0; j < a.Length(); j++) {
    Napi::Value v = a.Get(j);
    Napi::Array r = v.IsArray() ? v.As<Napi::Array>() : Napi::Array::New(env);
    if (r.Length() != 3) throw Napi::TypeError::New(env, std::string(name) + "[" + std::to_string(j) + "] must be [from, to, length]");
    Range x = {r.Get(0u).As<Napi::Number>().Uint32Value(), r.Get(1u).As<Napi::Number>().Uint32Value(), r.Get(2u).As<Napi::Number>().Uint32Value()};
    if ((uint64_t)x.from + x.length > fromSize || (uint64_t)x.to + x.length > toSize)
      throw Napi::RangeError::New(env, std::string(name) + "[" + std::to_string(j) + "] reaches past the " + std::to_string(fromSize) + " -> " + std::to_string(toSize) + " bytes it converts");
    out.push_back(x);
  }
  return out;
}

static bool IsPercpu(__u32 type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
         type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

// Copies every entry of hash map `from` into hash map `to`, each key and value built
// from zeroes and the given byte ranges of the old one (per CPU for per-CPU maps).
// Returns how many were copied and how many dropped: keys already in `to` (old keys
// that convert to one) and entries that do not fit. With null key ranges, or between
// per-CPU and shared values, nothing converts: every entry is dropped.
Napi::Value MapMigrate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int from = ArgInt(info, 0, "fromFd"), to = ArgInt(info, 1, "toFd");
  bpf_map_info fi = {}, ti = {};
  __u32 len = sizeof(fi);
  if (bpf_obj_get_info_by_fd(from, &fi, &len)) throw SysError(env, errno, "reading info of map fd " + std::to_string(from));
  len = sizeof(ti);
  if (bpf_obj_get_info_by_fd(to, &ti, &len)) throw SysError(env, errno, "reading info of map fd " + std::to_string(to));
  std::string what = std::string("migrating map ") + fi.name;
  bool keysConvert = info.Length() > 2 && !info[2].IsNull();
  std::vector<Range> keyRanges = keysConvert ? ArgRanges(info, 2, "keyRanges", fi.key_size, ti.key_size) : std::vector<Range>();
  bool convertible = keysConvert && IsPercpu(fi.type) == IsPercpu(ti.type);
  std::vector<Range> valueRanges = ArgRanges(info, 3, "valueRanges", fi.value_size, ti.value_size);

  // Per-CPU values come as one 8-byte aligned slot per possible CPU.
  bool percpu = IsPercpu(fi.type);
  size_t cpus = 1;
  if (percpu) {
    int n = libbpf_num_possible_cpus();
    if (n <= 0) throw SysError(env, -n, "counting possible CPUs");
    cpus = n;
  }
  auto stride = [&](__u32 size) { return percpu ? (size + 7) / 8 * 8 : size; };
  const size_t fromStride = stride(fi.value_size), toStride = stride(ti.value_size);

  std::vector<uint8_t> key(ti.key_size), value(toStride * cpus);
  uint32_t copied = 0, dropped = 0;
  ForEachBatch(env, from, std::string("map ") + fi.name, fi.key_size, fromStride * cpus, [&](const uint8_t *keys, const uint8_t *values, __u32 n) {
    for (__u32 i = 0; i < n; i++) {
      if (!convertible) {
        dropped++;
        continue;
      }
      const uint8_t *k = keys + (size_t)i * fi.key_size;
      const uint8_t *v = values + (size_t)i * fromStride * cpus;
      std::fill(key.begin(), key.end(), 0);
      std::fill(value.begin(), value.end(), 0);
      for (const Range &r : keyRanges) memcpy(key.data() + r.to, k + r.from, r.length);
      for (size_t c = 0; c < cpus; c++)
        for (const Range &r : valueRanges) memcpy(value.data() + c * toStride + r.to, v + c * fromStride + r.from, r.length);
      if (bpf_map_update_elem(to, key.data(), value.data(), BPF_NOEXIST) == 0) {
        copied++;
      } else if (errno == EEXIST || errno == E2BIG) {
        dropped++;
      } else {
        throw SysError(env, errno, what + " (entry " + std::to_string(copied + dropped) + ")");
      }
    }
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("copied", copied);
  out.Set("dropped", dropped);
  return out;
}

}  // namespace xlb
