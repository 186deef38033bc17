// The calling thread in another network namespace for one scope: entered at
// construction (error() says why not), back in its own at destruction.
#pragma once
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace xlb {

class NetnsScope {
 public:
  explicit NetnsScope(const std::string &path) {
    home_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_ < 0) {
      error_ = std::string("opening this thread's network namespace: ") + strerror(errno);
      return;
    }
    int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET)) {
      error_ = strerror(errno);
      if (ns >= 0) close(ns);
      return;
    }
    close(ns);
    entered_ = true;
  }
  ~NetnsScope() {
    // The thread must never stay in another namespace: nothing sane is left to do then.
    if (entered_ && setns(home_, CLONE_NEWNET)) abort();
    if (home_ >= 0) close(home_);
  }
  NetnsScope(const NetnsScope &) = delete;
  NetnsScope &operator=(const NetnsScope &) = delete;
  const std::string &error() const { return error_; }

 private:
  int home_ = -1;
  bool entered_ = false;
  std::string error_;
};

}  // namespace xlb
