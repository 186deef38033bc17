// Runs a BPF socket iterator in other network namespaces: a socket iterator walks
// the sockets of the namespace its reader was created in, so the calling thread
// enters each namespace just long enough to create one, then returns to its own.
#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon.h"
#include "errors.h"
#include "netns.h"

namespace xlb {

// Returns an empty string, or why this namespace could not be walked.
static std::string WalkIn(int link, const std::string &path) {
  int it;
  {
    NetnsScope in(path);
    if (!in.error().empty()) return in.error();
    it = bpf_iter_create(link);
    if (it < 0) return strerror(errno);
  }
  char buf[256];
  ssize_t n;
  while ((n = read(it, buf, sizeof(buf))) > 0) {
  }
  int err = errno;
  close(it);
  return n < 0 ? strerror(err) : "";
}

Napi::Value IterRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int progFd = ArgInt(info, 0, "progFd");
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "netnsPaths must be an array of paths");
  Napi::Array paths = info[1].As<Napi::Array>();
  int link = bpf_link_create(progFd, 0, BPF_TRACE_ITER, nullptr);
  if (link < 0) throw SysError(env, errno, "creating a socket iterator", "needs kernel >= 5.9 with BTF");
  Napi::Object failed = Napi::Object::New(env);
  for (uint32_t i = 0; i < paths.Length(); i++) {
    std::string path = paths.Get(i).ToString();
    std::string why = WalkIn(link, path);
    if (!why.empty()) failed.Set(path, why);
  }
  close(link);
  return failed;
}

}  // namespace xlb
