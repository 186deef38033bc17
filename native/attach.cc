// Attaching programs to devices: XDP (native, else generic) and tc clsact ingress/egress.
// Attachments are netlink-owned, so they outlive the agent process by design.
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

// Our filter's place in each clsact hook; replaced in place on re-attach.
static constexpr __u32 kTcHandle = 1, kTcPriority = 1;

static bpf_tc_attach_point TcPoint(const Napi::CallbackInfo &info, size_t i) {
  std::string dir = ArgString(info, i, "direction");
  if (dir == "ingress") return BPF_TC_INGRESS;
  if (dir == "egress") return BPF_TC_EGRESS;
  throw Napi::TypeError::New(info.Env(), "direction must be ingress or egress");
}

Napi::Value TcAttach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt(info, 0, "ifindex");
  int fd = ArgInt(info, 1, "progFd");
  bpf_tc_attach_point point = TcPoint(info, 2);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
  int rc = bpf_tc_hook_create(&hook);
  if (rc && rc != -EEXIST) throw SysError(env, -rc, "creating the clsact qdisc on " + Dev(ifindex));
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle, .priority = kTcPriority);
  rc = bpf_tc_attach(&hook, &opts);
  if (rc) throw SysError(env, -rc, std::string("attaching tc ") + (point == BPF_TC_INGRESS ? "ingress" : "egress") + " program to " + Dev(ifindex));
  return env.Undefined();
}

// Our filter's place in the hook named by the arguments (ifindex, direction).
struct OurFilter {
  int ifindex;
  bpf_tc_hook hook;
  bpf_tc_opts opts;
};

static OurFilter FilterOf(const Napi::CallbackInfo &info) {
  OurFilter f = {};
  f.ifindex = ArgInt(info, 0, "ifindex");
  f.hook.sz = sizeof(f.hook);
  f.hook.ifindex = f.ifindex;
  f.hook.attach_point = TcPoint(info, 1);
  f.opts.sz = sizeof(f.opts);
  f.opts.handle = kTcHandle;
  f.opts.priority = kTcPriority;
  return f;
}

Napi::Value TcDetach(const Napi::CallbackInfo &info) {
  OurFilter f = FilterOf(info);
  int rc = bpf_tc_detach(&f.hook, &f.opts);
  if (rc && rc != -ENOENT && rc != -EINVAL)
    throw SysError(info.Env(), -rc, "detaching tc program from " + Dev(f.ifindex));
  return info.Env().Undefined();
}

// The id of the program at our place in a clsact hook, 0 when none is there.
Napi::Value TcQuery(const Napi::CallbackInfo &info) {
  OurFilter f = FilterOf(info);
  int rc = bpf_tc_query(&f.hook, &f.opts);
  if (rc == -ENOENT || rc == -EINVAL) return Napi::Number::New(info.Env(), 0);
  if (rc) throw SysError(info.Env(), -rc, "querying tc on " + Dev(f.ifindex));
  return Napi::Number::New(info.Env(), f.opts.prog_id);
}

// The device's XDP program: { id, mode: "native" | "generic" }, id 0 when none.
Napi::Value XdpQuery(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt(info, 0, "ifindex");
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  int rc = bpf_xdp_query(ifindex, 0, &opts);
  if (rc) throw SysError(env, -rc, "querying XDP on " + Dev(ifindex));
  Napi::Object out = Napi::Object::New(env);
  bool generic = opts.attach_mode == XDP_ATTACHED_SKB;
  out.Set("id", Napi::Number::New(env, generic ? opts.skb_prog_id : opts.drv_prog_id));
  out.Set("mode", Napi::String::New(env, opts.attach_mode == XDP_ATTACHED_NONE ? "" : generic ? "generic" : "native"));
  return out;
}

// The device's driver (ethtool's "driver:"), e.g. "veth", "virtio_net"; "" when it
// reports none (bridges and other software devices may not).
Napi::Value IfDriver(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError(env, errno, "opening a socket for ethtool");
  ethtool_drvinfo drv = {};
  drv.cmd = ETHTOOL_GDRVINFO;
  ifreq ifr = {};
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char *>(&drv);
  int rc = ioctl(fd, SIOCETHTOOL, &ifr);
  int err = errno;
  close(fd);
  if (rc) {
    if (err == EOPNOTSUPP) return Napi::String::New(env, "");
    throw SysError(env, err, "reading the driver of device " + name);
  }
  return Napi::String::New(env, drv.driver);
}

}  // namespace xlb
