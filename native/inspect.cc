// What lbctl status shows of the kernel's side: a program's identity (name, tag) by
// id, and the program a pinned link runs.
#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "addon.h"
#include "errors.h"

namespace xlb {

// { id, name, tag (hex, as bpftool prints it), type, jited, verifiedInsns } of the
// program with id N, or of the fd given as { fd }.
Napi::Value ProgInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  bool byFd = info.Length() > 0 && info[0].IsObject();
  Napi::Value fdArg = byFd ? info[0].As<Napi::Object>().Get("fd") : env.Undefined();
  if (byFd && !fdArg.IsNumber()) throw Napi::TypeError::New(env, "progInfo: { fd } must hold a number");
  uint32_t ref = byFd ? fdArg.As<Napi::Number>().Uint32Value() : ArgInt(info, 0, "id");
  std::string what = (byFd ? "program fd " : "program id ") + std::to_string(ref);
  int fd = byFd ? (int)ref : bpf_prog_get_fd_by_id(ref);
  if (fd < 0) throw SysError(env, errno, "opening " + what, "it may have been unloaded");
  bpf_prog_info pi = {};
  uint32_t len = sizeof(pi);
  int rc = bpf_obj_get_info_by_fd(fd, &pi, &len);
  int err = errno;
  if (!byFd) close(fd);
  if (rc) throw SysError(env, err, "reading " + what);
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, pi.id));
  out.Set("name", Napi::String::New(env, pi.name));
  out.Set("tag", Napi::String::New(env, tag));
  out.Set("type", Napi::Number::New(env, pi.type));
  out.Set("jited", Napi::Boolean::New(env, pi.jited_prog_len > 0));
  out.Set("verifiedInsns", Napi::Number::New(env, pi.verified_insns));
  return out;
}

// The id of the program a pinned bpf_link runs.
Napi::Value LinkProgId(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string pin = ArgString(info, 0, "pinPath");
  int fd = bpf_obj_get(pin.c_str());
  if (fd < 0) throw SysError(env, errno, "opening link " + pin);
  bpf_link_info li = {};
  uint32_t len = sizeof(li);
  int rc = bpf_obj_get_info_by_fd(fd, &li, &len);
  int err = errno;
  close(fd);
  if (rc) throw SysError(env, err, "reading link " + pin);
  return Napi::Number::New(env, li.prog_id);
}

}  // namespace xlb
