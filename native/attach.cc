// Attaching programs to devices: XDP (native, else generic) and tc clsact egress.
// Attachments are netlink-owned, so they outlive the agent process by design.
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "errors.h"

namespace xlb {

static std::string Dev(int ifindex) {
  char name[IF_NAMESIZE] = {};
  if (if_indextoname(ifindex, name)) return std::string("device ") + name;
  return "ifindex " + std::to_string(ifindex);
}

static int XdpAttachMode(int ifindex, int fd, __u32 mode) {
  // An interface holds one XDP program per mode; clear the other mode first.
  __u32 other = mode == XDP_FLAGS_DRV_MODE ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
  bpf_xdp_detach(ifindex, other, nullptr);
  return bpf_xdp_attach(ifindex, fd, mode, nullptr);
}

Napi::Value IfIndex(const Napi::CallbackInfo &info) {
  std::string name = ArgString(info, 0, "name");
  unsigned idx = if_nametoindex(name.c_str());
  if (!idx) throw SysError(info.Env(), errno, "device " + name, "no such interface in this network namespace; check --devices");
  return Napi::Number::New(info.Env(), idx);
}

Napi::Value XdpAttach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt(info, 0, "ifindex");
  int fd = ArgInt(info, 1, "progFd");
  std::string mode = ArgString(info, 2, "mode");
  if (mode != "native" && mode != "generic" && mode != "auto")
    throw Napi::TypeError::New(env, "mode must be native, generic or auto");
  if (mode != "generic") {
    int rc = XdpAttachMode(ifindex, fd, XDP_FLAGS_DRV_MODE);
    if (rc == 0) return Napi::String::New(env, "native");
    if (mode == "native")
      throw SysError(env, -rc, "attaching XDP (native) to " + Dev(ifindex), "the driver may lack native XDP; use generic mode");
  }
  int rc = XdpAttachMode(ifindex, fd, XDP_FLAGS_SKB_MODE);
  if (rc) throw SysError(env, -rc, "attaching XDP (generic) to " + Dev(ifindex));
  return Napi::String::New(env, "generic");
}

Napi::Value XdpDetach(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  for (__u32 mode : {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE}) {
    int rc = bpf_xdp_detach(ifindex, mode, nullptr);
    if (rc && rc != -ENOENT && rc != -EINVAL && rc != -EOPNOTSUPP)
      throw SysError(info.Env(), -rc, "detaching XDP from " + Dev(ifindex));
  }
  return info.Env().Undefined();
}

// Our filter's place in the egress hook; replaced in place on re-attach.
static constexpr __u32 kTcHandle = 1, kTcPriority = 1;

Napi::Value TcAttachEgress(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt(info, 0, "ifindex");
  int fd = ArgInt(info, 1, "progFd");
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
  int rc = bpf_tc_hook_create(&hook);
  if (rc && rc != -EEXIST) throw SysError(env, -rc, "creating the clsact qdisc on " + Dev(ifindex));
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle, .priority = kTcPriority);
  rc = bpf_tc_attach(&hook, &opts);
  if (rc) throw SysError(env, -rc, "attaching tc egress program to " + Dev(ifindex));
  return env.Undefined();
}

Napi::Value TcDetachEgress(const Napi::CallbackInfo &info) {
  int ifindex = ArgInt(info, 0, "ifindex");
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  int rc = bpf_tc_detach(&hook, &opts);
  if (rc && rc != -ENOENT && rc != -EINVAL)
    throw SysError(info.Env(), -rc, "detaching tc egress program from " + Dev(ifindex));
  return info.Env().Undefined();
}

}  // namespace xlb
