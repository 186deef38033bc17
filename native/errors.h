// JS errors for failed kernel calls: the operation, what it was applied to,
// strerror(errno), a hint of what to do, and `errno`/`code` properties.
#pragma once
#include <napi.h>
#include <string>

namespace xlb {

// err: a positive errno.
Napi::Error SysError(Napi::Env env, int err, const std::string &what, const std::string &hint = "");

// Argument readers: a TypeError (thrown as a C++ exception) names the bad argument.
int32_t ArgInt(const Napi::CallbackInfo &info, size_t i, const char *name);
std::string ArgString(const Napi::CallbackInfo &info, size_t i, const char *name);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo &info, size_t i, const char *name);

// A typed array of T-sized elements, in place (its elements; their count in *length).
template <typename T>
T *ArgTypedArray(const Napi::CallbackInfo &info, size_t i, const char *name, size_t *length) {
  if (info.Length() <= i || !info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string("argument ") + name + " must be a typed array");
  auto a = info[i].As<Napi::TypedArray>();
  if (a.ElementSize() != sizeof(T)) throw Napi::TypeError::New(info.Env(), std::string("argument ") + name + " has elements of the wrong size");
  *length = a.ElementLength();
  return reinterpret_cast<T *>(static_cast<uint8_t *>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

}  // namespace xlb
