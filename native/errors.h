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

}  // namespace xlb
