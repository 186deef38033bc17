#include "errors.h"

#include <cerrno>
#include <cstring>

namespace xlb {

static const char *ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "EUNKNOWN";
  }
}

static std::string DefaultHint(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "run as root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN) and check that the memlock limit is not too low";
    case ENOMEM:
      return "raise the memlock limit (ulimit -l unlimited) or reduce map sizes";
    case E2BIG:
      return "the map is full: too many entries for its max_entries";
    case ENODEV:
      return "no such network device in this namespace";
    case EOPNOTSUPP:
      return "the kernel or driver does not support this; try generic XDP or a newer kernel";
    default:
      return "";
  }
}

Napi::Error SysError(Napi::Env env, int err, const std::string &what, const std::string &hint) {
  std::string msg = what + ": " + std::strerror(err);
  std::string h = hint.empty() ? DefaultHint(err) : hint;
  if (!h.empty()) msg += " (" + h + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  return e;
}

int32_t ArgInt(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string("argument ") + name + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

std::string ArgString(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string("argument ") + name + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), std::string("argument ") + name + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

}  // namespace xlb
