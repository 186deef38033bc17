// loadObject: open and load a BPF object with its maps pinned by name under pinDir
// (reused when already pinned); objectInfo: what an object defines; createObjectMap:
// one of its maps alone. libbpf's log is captured for the error message.
#include <bpf/libbpf.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "layout.h"

namespace xlb {

static std::string g_log;

static int CaptureLog(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  g_log.append(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  return n;
}

void InstallLogCapture() { libbpf_set_print(CaptureLog); }

// Kept open for the life of the process so program and map fds stay valid.
static std::vector<bpf_object *> g_objects;

static std::string LogTail() {
  const size_t keep = 3000;  // the verifier's verdict is at the end
  return g_log.size() > keep ? "..." + g_log.substr(g_log.size() - keep) : g_log;
}

// pinRoot: where maps with LIBBPF_PIN_BY_NAME are pinned (null: libbpf's default).
static bpf_object *OpenObject(Napi::Env env, const std::string &path, const char *pinRoot) {
  g_log.clear();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pinRoot);
  bpf_object *obj = bpf_object__open_file(path.c_str(), &opts);
  if (!obj) {
    int err = errno;
    throw SysError(env, err, "opening BPF object " + path, "run \"make bpf\"; " + LogTail());
  }
  return obj;
}

Napi::Value LoadObject(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "objectPath");
  std::string pinDir = ArgString(info, 1, "pinDir");
  bpf_object *obj = OpenObject(env, path, pinDir.c_str());
  // Sizes the agent chose (flags) for maps created now; a pinned map keeps its own.
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object sizes = info[2].As<Napi::Object>();
    bpf_map *m;
    bpf_object__for_each_map(m, obj) {
      if (!sizes.Has(bpf_map__name(m))) continue;
      uint32_t n = sizes.Get(bpf_map__name(m)).As<Napi::Number>().Uint32Value();
      if (bpf_map__set_max_entries(m, n)) {
        bpf_object__close(obj);
        throw SysError(env, EINVAL, std::string("sizing map ") + bpf_map__name(m) + " to " + std::to_string(n));
      }
    }
  }
  int rc = bpf_object__load(obj);
  if (rc) {
    std::string log = LogTail();
    bpf_object__close(obj);
    throw SysError(env, -rc, "loading BPF object " + path + " (maps pinned under " + pinDir + ")",
                   "is " + pinDir + " on a bpf filesystem, and do pinned maps from an older xlb differ? libbpf said: " + log);
  }
  g_objects.push_back(obj);

  Napi::Object maps = Napi::Object::New(env);
  bpf_map *map;
  bpf_object__for_each_map(map, obj) {
    maps.Set(bpf_map__name(map), Napi::Number::New(env, bpf_map__fd(map)));
  }
  Napi::Object progs = Napi::Object::New(env);
  Napi::Object attachTypes = Napi::Object::New(env);
  bpf_program *prog;
  bpf_object__for_each_program(prog, obj) {
    progs.Set(bpf_program__name(prog), Napi::Number::New(env, bpf_program__fd(prog)));
    attachTypes.Set(bpf_program__name(prog), Napi::Number::New(env, bpf_program__expected_attach_type(prog)));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("maps", maps);
  out.Set("progs", progs);
  out.Set("attachTypes", attachTypes);
  return out;
}

// What an object defines, read from its ELF and BTF without loading it: its maps with
// their definitions and layouts (what cleanup removes, what an upgrade compares pinned
// maps with) and its programs, so no list is kept by hand.
Napi::Value ObjectInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "objectPath");
  bpf_object *obj = OpenObject(env, path, nullptr);
  Napi::Array maps = Napi::Array::New(env);
  Napi::Array progs = Napi::Array::New(env);
  try {
    bpf_map *map;
    bpf_object__for_each_map(map, obj) {
      if (bpf_map__is_internal(map)) continue;  // .rodata/.bss: per load, never pinned
      Napi::Object m = DescribeObjectMap(env, map, bpf_object__btf(obj));
      m.Set("name", bpf_map__name(map));
      m.Set("pinned", bpf_map__pin_path(map) != nullptr);
      maps.Set(maps.Length(), m);
    }
  } catch (...) {
    bpf_object__close(obj);
    throw;
  }
  bpf_program *prog;
  bpf_object__for_each_program(prog, obj) progs.Set(progs.Length(), bpf_program__name(prog));
  bpf_object__close(obj);
  Napi::Object out = Napi::Object::New(env);
  out.Set("maps", maps);
  out.Set("progs", progs);
  return out;
}

// Creates one map of an object as loading the object would (type, sizes, flags, BTF,
// inner map), with maxEntries entries and pinned at pinPath, leaving its programs and
// other maps alone: a new home for a pinned map's entries (layout.ts). Returns an fd
// the caller closes.
Napi::Value CreateObjectMap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "objectPath");
  std::string name = ArgString(info, 1, "mapName");
  std::string pin = ArgString(info, 2, "pinPath");
  uint32_t maxEntries = ArgInt(info, 3, "maxEntries");
  bpf_object *obj = OpenObject(env, path, nullptr);
  bpf_map *target = bpf_object__find_map_by_name(obj, name.c_str());
  if (!target) {
    bpf_object__close(obj);
    throw Napi::Error::New(env, "BPF object " + path + " defines no map " + name + ": run \"make bpf\"");
  }
  bpf_map *m;
  bpf_object__for_each_map(m, obj) bpf_map__set_autocreate(m, m == target);
  bpf_program *prog;
  bpf_object__for_each_program(prog, obj) bpf_program__set_autoload(prog, false);
  int rc = bpf_map__set_pin_path(target, pin.c_str());
  if (!rc) rc = bpf_map__set_max_entries(target, maxEntries);
  if (!rc) rc = bpf_object__load(obj);
  // The object's fds close with it: the caller gets its own.
  int fd = rc ? -1 : fcntl(bpf_map__fd(target), F_DUPFD_CLOEXEC, 0);
  int err = rc ? -rc : errno;
  std::string log = LogTail();
  bpf_object__close(obj);
  if (fd < 0) throw SysError(env, err, "creating map " + name + " of " + path + " at " + pin, "libbpf said: " + log);
  return Napi::Number::New(env, fd);
}

}  // namespace xlb
