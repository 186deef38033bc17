// Socket programs on a cgroup v2 directory, through bpf_links pinned on the bpffs:
// the attachment outlives the agent (traffic keeps its balancing while it is down),
// and a restarted agent swaps the program inside the same link atomically, so no
// connect() ever runs without one.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon.h"
#include "errors.h"

namespace xlb {

// The cgroup's id is its directory's inode number (cgroup v2, 64-bit kernels).
static int OpenCgroup(Napi::Env env, const std::string &path, __u64 *id) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) {
    int err = errno;
    if (fd >= 0) close(fd);
    throw SysError(env, err, "opening cgroup " + path, "pass --cgroup a directory of the cgroup v2 hierarchy");
  }
  *id = st.st_ino;
  return fd;
}

static bool LinkInfo(int fd, bpf_link_info *li) {
  *li = {};
  __u32 len = sizeof(*li);
  return bpf_obj_get_info_by_fd(fd, li, &len) == 0;
}

Napi::Value CgroupAttach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int progFd = ArgInt(info, 0, "progFd");
  int attachType = ArgInt(info, 1, "attachType");
  std::string cgroup = ArgString(info, 2, "cgroupPath");
  std::string pin = ArgString(info, 3, "pinPath");
  __u64 cgid;
  int cg = OpenCgroup(env, cgroup, &cgid);

  int link = bpf_obj_get(pin.c_str());
  if (link >= 0) {
    bpf_link_info li;
    bool same = LinkInfo(link, &li) && li.type == BPF_LINK_TYPE_CGROUP && li.cgroup.cgroup_id == cgid &&
                li.cgroup.attach_type == (__u32)attachType;
    if (same) {
      int rc = bpf_link_update(link, progFd, nullptr);
      int err = errno;
      close(link);
      close(cg);
      if (rc) throw SysError(env, err, "replacing the program of link " + pin);
      return Napi::String::New(env, "updated");
    }
    // Pinned for another cgroup (or attach point): dropping the pin and our fd detaches it.
    unlink(pin.c_str());
    close(link);
  }
  link = bpf_link_create(progFd, cg, (bpf_attach_type)attachType, nullptr);
  int err = errno;
  close(cg);
  if (link < 0) throw SysError(env, err, "attaching a socket program to cgroup " + cgroup, "needs cgroup v2 and kernel >= 5.7");
  if (bpf_obj_pin(link, pin.c_str())) {
    err = errno;
    close(link);
    throw SysError(env, err, "pinning link " + pin, "is the --bpffs directory on a bpf filesystem?");
  }
  close(link);
  return Napi::String::New(env, "created");
}

// Detaches every link on the cgroup whose program is named with `prefix`: our
// attachments even when their pins are gone. Returns how many.
Napi::Value CgroupDetach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string cgroup = ArgString(info, 0, "cgroupPath");
  std::string prefix = ArgString(info, 1, "progPrefix");
  __u64 cgid;
  close(OpenCgroup(env, cgroup, &cgid));
  int detached = 0;
  for (__u32 id = 0; bpf_link_get_next_id(id, &id) == 0;) {
    int fd = bpf_link_get_fd_by_id(id);
    if (fd < 0) continue;  // gone meanwhile
    bpf_link_info li;
    if (LinkInfo(fd, &li) && li.type == BPF_LINK_TYPE_CGROUP && li.cgroup.cgroup_id == cgid) {
      int prog = bpf_prog_get_fd_by_id(li.prog_id);
      bpf_prog_info pi = {};
      __u32 len = sizeof(pi);
      bool ours = prog >= 0 && bpf_obj_get_info_by_fd(prog, &pi, &len) == 0 && strncmp(pi.name, prefix.c_str(), prefix.size()) == 0;
      if (prog >= 0) close(prog);
      if (ours) {
        if (bpf_link_detach(fd)) {
          int err = errno;
          close(fd);
          throw SysError(env, err, "detaching link " + std::to_string(id) + " from cgroup " + cgroup);
        }
        detached++;
      }
    }
    close(fd);
  }
  return Napi::Number::New(env, detached);
}

}  // namespace xlb
