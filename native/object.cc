// loadObject / loadObjectAsync: open and load a BPF object with its maps pinned by name
// under pinDir (reused when already pinned), on the calling thread or on a libuv worker
// thread (the verifier takes a third of a second for our objects, which the agent spends
// listing the API instead); objectInfo: what an object defines; createObjectMap: one of
// its maps alone. libbpf's log is captured for the error message.
#include <bpf/libbpf.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "layout.h"

namespace xlb {

// libbpf logs on the thread doing the work: each thread keeps its own.
static thread_local std::string g_log;

static int CaptureLog(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  g_log.append(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  return n;
}

void InstallLogCapture() { libbpf_set_print(CaptureLog); }

// Kept open for the life of the process so program and map fds stay valid.
static std::mutex g_objectsLock;
static std::vector<bpf_object *> g_objects;

static std::string LogTail() {
  const size_t keep = 3000;  // the verifier's verdict is at the end
  return g_log.size() > keep ? "..." + g_log.substr(g_log.size() - keep) : g_log;
}

// Why a load failed, for SysError once back on the JavaScript thread.
struct Failure {
  int err = 0;
  std::string what;
  std::string hint;
};

// pinRoot: where maps with LIBBPF_PIN_BY_NAME are pinned (null: libbpf's default).
static bpf_object *OpenFile(const std::string &path, const char *pinRoot, Failure *f) {
  g_log.clear();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pinRoot);
  bpf_object *obj = bpf_object__open_file(path.c_str(), &opts);
  if (!obj) *f = {errno, "opening BPF object " + path, "run \"make bpf\"; " + LogTail()};
  return obj;
}

static bpf_object *OpenObject(Napi::Env env, const std::string &path, const char *pinRoot) {
  Failure f;
  bpf_object *obj = OpenFile(path, pinRoot, &f);
  if (!obj) throw SysError(env, f.err, f.what, f.hint);
  return obj;
}

using Sizes = std::map<std::string, uint32_t>;

// What a loaded object holds, by name: maps and programs with their fds.
struct Loaded {
  std::vector<std::pair<std::string, int>> maps;
  std::vector<std::pair<std::string, int>> progs;
  std::vector<std::pair<std::string, int>> attachTypes;
};

// Opens and loads one object, with `sizes` for maps created now (a pinned map keeps
// its own); false with `f` set when it cannot. Runs on any thread: no JavaScript here.
static bool Load(const std::string &path, const std::string &pinDir, const Sizes &sizes, Loaded *out, Failure *f) {
  bpf_object *obj = OpenFile(path, pinDir.c_str(), f);
  if (!obj) return false;
  bpf_map *m;
  bpf_object__for_each_map(m, obj) {
    auto it = sizes.find(bpf_map__name(m));
    if (it == sizes.end()) continue;
    if (bpf_map__set_max_entries(m, it->second)) {
      *f = {EINVAL, std::string("sizing map ") + bpf_map__name(m) + " to " + std::to_string(it->second), ""};
      bpf_object__close(obj);
      return false;
    }
  }
  int rc = bpf_object__load(obj);
  if (rc) {
    *f = {-rc, "loading BPF object " + path + " (maps pinned under " + pinDir + ")",
          "is " + pinDir + " on a bpf filesystem, and do pinned maps from an older xlb differ? libbpf said: " + LogTail()};
    bpf_object__close(obj);
    return false;
  }
  {
    std::lock_guard<std::mutex> guard(g_objectsLock);
    g_objects.push_back(obj);
  }
  bpf_object__for_each_map(m, obj) out->maps.emplace_back(bpf_map__name(m), bpf_map__fd(m));
  bpf_program *prog;
  bpf_object__for_each_program(prog, obj) {
    out->progs.emplace_back(bpf_program__name(prog), bpf_program__fd(prog));
    out->attachTypes.emplace_back(bpf_program__name(prog), bpf_program__expected_attach_type(prog));
  }
  return true;
}

static Sizes ArgSizes(const Napi::CallbackInfo &info, size_t i) {
  Sizes out;
  if (info.Length() <= i || !info[i].IsObject()) return out;
  Napi::Object sizes = info[i].As<Napi::Object>();
  Napi::Array names = sizes.GetPropertyNames();
  for (uint32_t k = 0; k < names.Length(); k++) {
    std::string name = names.Get(k).As<Napi::String>().Utf8Value();
    out[name] = sizes.Get(name).As<Napi::Number>().Uint32Value();
  }
  return out;
}

static Napi::Object ToJs(Napi::Env env, const Loaded &l) {
  auto table = [&](const std::vector<std::pair<std::string, int>> &entries) {
    Napi::Object o = Napi::Object::New(env);
    for (const auto &[name, n] : entries) o.Set(name, Napi::Number::New(env, n));
    return o;
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("maps", table(l.maps));
  out.Set("progs", table(l.progs));
  out.Set("attachTypes", table(l.attachTypes));
  return out;
}

Napi::Value LoadObject(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Loaded loaded;
  Failure f;
  if (!Load(ArgString(info, 0, "objectPath"), ArgString(info, 1, "pinDir"), ArgSizes(info, 2), &loaded, &f)) throw SysError(env, f.err, f.what, f.hint);
  return ToJs(env, loaded);
}

namespace {

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, std::string pinDir, Sizes sizes)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), pinDir_(std::move(pinDir)), sizes_(std::move(sizes)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { ok_ = Load(path_, pinDir_, sizes_, &loaded_, &failure_); }

  void OnOK() override {
    if (ok_) deferred_.Resolve(ToJs(Env(), loaded_));
    else deferred_.Reject(SysError(Env(), failure_.err, failure_.what, failure_.hint).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_, pinDir_;
  Sizes sizes_;
  Loaded loaded_;
  Failure failure_;
  bool ok_ = false;
};

}  // namespace

Napi::Value LoadObjectAsync(const Napi::CallbackInfo &info) {
  auto *worker = new LoadWorker(info.Env(), ArgString(info, 0, "objectPath"), ArgString(info, 1, "pinDir"), ArgSizes(info, 2));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // deletes itself when done
  return promise;
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
