// BPF_PROG_TEST_RUN (packet bytes in, verdict and bytes out) and the BPF clock.
#include <bpf/bpf.h>
#include <time.h>

#include <cerrno>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "netns.h"

namespace xlb {

Napi::Value ProgTestRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "progFd");
  auto data = ArgBuffer(info, 1, "data");
  int repeat = ArgInt(info, 2, "repeat");
  // In a network namespace of the caller's choice: FIB lookups and devices are that one's.
  std::string netns = info.Length() > 3 && info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  std::vector<uint8_t> out(data.Length() + 512);  // room for programs that grow the packet
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.Data(), .data_out = out.data(),
              .data_size_in = (__u32)data.Length(), .data_size_out = (__u32)out.size(),
              .repeat = repeat > 0 ? repeat : 1);
  int rc, err;
  {
    NetnsScope in(netns.empty() ? "/proc/thread-self/ns/net" : netns);
    if (!in.error().empty()) throw SysError(env, EINVAL, "entering network namespace " + netns + ": " + in.error());
    rc = bpf_prog_test_run_opts(fd, &opts);
    err = errno;
  }
  if (rc) throw SysError(env, err, "BPF_PROG_TEST_RUN on program fd " + std::to_string(fd));
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", opts.retval);
  r.Set("data", Napi::Buffer<uint8_t>::Copy(env, out.data(), opts.data_size_out));
  r.Set("durationNs", opts.duration);
  return r;
}

Napi::Value MonotonicNs(const Napi::CallbackInfo &info) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec));
}

}  // namespace xlb
