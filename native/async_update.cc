// A map update on a libuv worker thread. An update of a map-in-map returns only after
// an RCU grace period (the kernel waits until no program can still use the inner map
// it replaced): done here, that wait blocks no JavaScript, and the promise settling
// tells the caller a grace period has passed.
#include <bpf/bpf.h>

#include <cerrno>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace xlb {

namespace {

class UpdateWorker : public Napi::AsyncWorker {
 public:
  UpdateWorker(Napi::Env env, int fd, Napi::Buffer<uint8_t> key, Napi::Buffer<uint8_t> value)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        key_(key.Data(), key.Data() + key.Length()),
        value_(value.Data(), value.Data() + value.Length()) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    if (bpf_map_update_elem(fd_, key_.data(), value_.data(), 0)) err_ = errno;
  }

  void OnOK() override {
    if (err_) deferred_.Reject(SysError(Env(), err_, "updating map fd " + std::to_string(fd_)).Value());
    else deferred_.Resolve(Env().Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  std::vector<uint8_t> key_;
  std::vector<uint8_t> value_;
  int err_ = 0;
};

}  // namespace

Napi::Value MapUpdateAsync(const Napi::CallbackInfo &info) {
  auto *worker = new UpdateWorker(info.Env(), ArgInt(info, 0, "fd"), ArgBuffer(info, 1, "key"), ArgBuffer(info, 2, "value"));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // deletes itself when done
  return promise;
}

}  // namespace xlb
