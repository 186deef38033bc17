// Maglev tables (Eisenbud et al., NSDI '16) as the datapath reads them: each backend
// walks its own permutation of the table and claims the next free slot, round by round,
// so every backend gets an equal share (±1 slot) and removing one moves only ~1/N of
// flows. Built here, not in JavaScript: a table is 1.4 to 2.3 times faster in C++, and a
// big batch (an agent start: 10,000 tables) goes to threads with no JavaScript isolate
// (a worker thread cost the agent 20 MB, and compiling its code, at every start).
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "mapping.h"
// The datapath's mixer (MurmurHash3's finalizer), which ends the identities' hash too,
// and its limits.
#include <linux/types.h>
#include <sys/cdefs.h>
#include "../bpf/hash.h"
#include "../bpf/xlb.h"

namespace xlb {
namespace {

constexpr uint32_t kOffsetSeed = 0x5eed0001;
constexpr uint32_t kSkipSeed = 0x5eed0002;
constexpr uint32_t kMaxSize = XLB_MAGLEV_MAX_SIZE;

// A backend's identity, the text its permutation is hashed from and backends are ordered
// by: backendId's "a.b.c.d:port" for the endpoint number addr * 65536 + port.
struct Identity {
  char text[24];
  int len = 0;

  explicit Identity(double number) {
    // Endpoint numbers are below 2^48 (the model's backendNumber); anything else is 0.0.0.0:0.
    uint64_t v = number >= 0 && number < 281474976710656.0 ? static_cast<uint64_t>(number) : 0;
    uint32_t addr = static_cast<uint32_t>(v >> 16);
    for (int shift = 24; shift >= 0; shift -= 8) {
      Decimal((addr >> shift) & 255);
      text[len++] = shift ? '.' : ':';
    }
    Decimal(static_cast<uint32_t>(v & 0xffff));
  }

  void Decimal(uint32_t v) {
    char digits[10];
    int n = 0;
    do digits[n++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0);
    while (n) text[len++] = digits[--n];
  }

  // As strings compare: by character, then the shorter first.
  bool operator<(const Identity &o) const {
    int c = std::memcmp(text, o.text, static_cast<size_t>(std::min(len, o.len)));
    return c != 0 ? c < 0 : len < o.len;
  }

  static uint32_t Mix(uint32_t k) {
    k *= 0xcc9e2d51;
    k = (k << 15) | (k >> 17);
    return k * 0x1b873593;
  }

  // MurmurHash3 x86_32.
  uint32_t Hash(uint32_t seed) const {
    const auto *u = reinterpret_cast<const uint8_t *>(text);
    uint32_t h = seed;
    int at = 0;
    for (; at + 4 <= len; at += 4) {
      h ^= Mix(u[at] | (u[at + 1] << 8) | (u[at + 2] << 16) | (static_cast<uint32_t>(u[at + 3]) << 24));
      h = (h << 13) | (h >> 19);
      h = h * 5 + 0xe6546b64;
    }
    uint32_t k = 0;
    switch (len & 3) {
      case 3:
        k ^= u[at + 2] << 16;
        [[fallthrough]];
      case 2:
        k ^= u[at + 1] << 8;
        [[fallthrough]];
      case 1:
        k ^= u[at];
        h ^= Mix(k);
    }
    return xlb_mix32(h ^ static_cast<uint32_t>(len));
  }
};

bool IsPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

// One table: its backends as endpoint numbers, their weights and the values their slots
// get (the ids the datapath knows them by), n of each.
struct Job {
  const double *endpoints;
  const uint32_t *weights;
  const uint32_t *values;
  uint32_t n;
  uint32_t size;
};

// Fills out[0, job.size) with the value of the backend each slot goes to; backends are
// taken by identity, in any order given. Weights: in round r a backend of weight w
// claims a slot while it has claimed fewer than floor(r * w / maxWeight). With no
// backend of weight > 0 every slot is 0. Returns what was wrong, or "".
std::string Fill(const Job &job, uint32_t *out) {
  struct Backend {
    Identity id;
    uint32_t weight, value;
    uint32_t pos = 0, skip = 0;
    uint64_t claimed = 0;
  };
  std::vector<Backend> b;
  b.reserve(job.n);
  for (uint32_t i = 0; i < job.n; i++)
    if (job.weights[i] > 0) b.push_back({Identity(job.endpoints[i]), job.weights[i], job.values[i]});
  uint32_t size = job.size;
  if (b.empty() || size == 0) {
    std::fill(out, out + size, 0);
    return "";
  }
  if (size > kMaxSize) return "Maglev table size " + std::to_string(size) + " is above " + std::to_string(kMaxSize);
  if (!IsPrime(size)) return "Maglev table size " + std::to_string(size) + " is not prime";
  // Stable, as the permutations' order must not depend on the input's but for equal identities.
  std::stable_sort(b.begin(), b.end(), [](const Backend &x, const Backend &y) { return x.id < y.id; });
  uint32_t maxWeight = 0;
  for (auto &x : b) maxWeight = std::max(maxWeight, x.weight);
  bool equal = std::all_of(b.begin(), b.end(), [&](const Backend &x) { return x.weight == maxWeight; });
  for (auto &x : b) {
    x.pos = x.id.Hash(kOffsetSeed) % size;
    x.skip = x.id.Hash(kSkipSeed) % (size - 1) + 1;
  }
  thread_local std::vector<uint8_t> filled;
  filled.assign(size, 0);
  // (slot + step) mod size without a branch: whether a step wraps is a coin toss the
  // CPU cannot predict, and the probes are most of a build.
  auto next = [size](uint32_t slot, uint32_t step) {
    int64_t t = static_cast<int64_t>(slot) + step - size;
    return static_cast<uint32_t>(t + (size & (t >> 63)));
  };
  uint32_t count = 0;
  for (uint64_t round = 1; count < size; round++) {
    for (auto &x : b) {
      if (count == size) break;
      if (!equal && x.claimed >= round * x.weight / maxWeight) continue;
      uint32_t slot = x.pos;
      while (filled[slot]) slot = next(slot, x.skip);
      filled[slot] = 1;
      out[slot] = x.value;
      x.pos = next(slot, x.skip);
      x.claimed++;
      count++;
    }
  }
  return "";
}

// A unit of a batch: consecutive tables in one pool chunk (the map `fd`, an mmapable
// array of rows). `shape` holds each table's backend count, size and first slot in the
// chunk; its backends' endpoints, weights and ids follow one another.
struct Unit {
  int fd;
  std::vector<double> shape;
  std::vector<double> endpoints;
  std::vector<uint32_t> weights;
  std::vector<uint32_t> ids;
  // Who took it: a unit is built by one thread only.
  std::atomic<int> taken{0};
  // Guarded by the builder's lock.
  bool done = false;
  std::string error;
};

constexpr int kByThread = 1;
constexpr int kByCaller = 2;
constexpr size_t kShape = 3;

// Maps the rows the unit's tables lie in, fills them, unmaps. Returns what went wrong, or "".
std::string BuildUnit(const Unit &u) {
  bpf_map_info mi = {};
  __u32 len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(u.fd, &mi, &len)) return "reading the Maglev chunk's info: " + std::string(strerror(errno));
  // Rows of 8-byte multiples lie back to back, and so do the slots of a region across them.
  if (mi.value_size % 8 != 0) return "Maglev chunk " + std::string(mi.name) + " has rows of " + std::to_string(mi.value_size) + " bytes";
  uint64_t rowSlots = mi.value_size / 4;
  uint64_t from = UINT64_MAX, to = 0;
  for (size_t i = 0; i < u.shape.size(); i += kShape) {
    uint64_t at = static_cast<uint64_t>(u.shape[i + 2]);
    from = std::min(from, at);
    to = std::max(to, at + static_cast<uint64_t>(u.shape[i + 1]));
  }
  if (from == UINT64_MAX) return "";
  uint64_t firstRow = from / rowSlots;
  uint64_t rows = (to + rowSlots - 1) / rowSlots - firstRow;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (firstRow + rows > mi.max_entries || (firstRow * mi.value_size) % page != 0)
    return "Maglev tables at slots " + std::to_string(from) + "-" + std::to_string(to) + " do not lie within chunk " + std::string(mi.name);
  Mapping rowsOf(u.fd, firstRow * mi.value_size, rows * mi.value_size, PROT_READ | PROT_WRITE);
  if (!rowsOf.ok()) return "mapping Maglev chunk " + std::string(mi.name) + ": " + strerror(errno);
  auto *slots = static_cast<uint32_t *>(rowsOf.data()) - firstRow * rowSlots;
  std::string error;
  size_t at = 0;
  for (size_t i = 0; i < u.shape.size() && error.empty(); i += kShape) {
    auto n = static_cast<uint32_t>(u.shape[i]);
    Job job{u.endpoints.data() + at, u.weights.data() + at, u.ids.data() + at, n, static_cast<uint32_t>(u.shape[i + 1])};
    error = Fill(job, slots + static_cast<uint64_t>(u.shape[i + 2]));
    at += n;
  }
  return error;
}

// Builds the units of a batch on threads of its own as they are posted; finish() builds
// on the calling thread what no thread has taken yet, from the last unit back (the
// threads take them from the first), so that all end together.
class MaglevBuilder : public Napi::ObjectWrap<MaglevBuilder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "MaglevBuilder",
                       {InstanceMethod("post", &MaglevBuilder::Post), InstanceMethod("finish", &MaglevBuilder::Finish),
                        InstanceMethod("cancel", &MaglevBuilder::Cancel), InstanceMethod("close", &MaglevBuilder::Close)});
  }

  explicit MaglevBuilder(const Napi::CallbackInfo &info) : Napi::ObjectWrap<MaglevBuilder>(info) {
    int threads = ArgInt(info, 0, "threads");
    if (threads < 1 || threads > 64) throw Napi::RangeError::New(info.Env(), "MaglevBuilder: threads must be 1 to 64");
    for (int i = 0; i < threads; i++) threads_.emplace_back([this] { Run(); });
  }

  ~MaglevBuilder() override { Stop(); }

 private:
  // A unit a thread took that is not through by then is taken for lost: the sync fails.
  static constexpr auto kWait = std::chrono::seconds(60);

  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable through_;
  std::deque<std::shared_ptr<Unit>> queue_;
  // this batch's units, in the order posted
  std::vector<std::shared_ptr<Unit>> batch_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;

  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      auto u = queue_.front();
      queue_.pop_front();
      int idle = 0;
      if (!u->taken.compare_exchange_strong(idle, kByThread)) continue;
      lock.unlock();
      std::string error = BuildUnit(*u);
      lock.lock();
      u->done = true;
      u->error = std::move(error);
      through_.notify_all();
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_.notify_all();
    for (auto &t : threads_) t.join();
    threads_.clear();
  }

  // post(fd, shape, endpoints, weights, ids): copies the unit and hands it to the threads.
  Napi::Value Post(const Napi::CallbackInfo &info) {
    auto u = std::make_shared<Unit>();
    u->fd = ArgInt(info, 0, "fd");
    size_t shapes, n, nw, ni;
    const double *shape = ArgTypedArray<double>(info, 1, "shape", &shapes);
    const double *endpoints = ArgTypedArray<double>(info, 2, "endpoints", &n);
    const uint32_t *weights = ArgTypedArray<uint32_t>(info, 3, "weights", &nw);
    const uint32_t *ids = ArgTypedArray<uint32_t>(info, 4, "ids", &ni);
    size_t total = 0;
    for (size_t i = 0; i + kShape <= shapes; i += kShape) total += static_cast<size_t>(shape[i]);
    if (shapes % kShape != 0 || total != n || nw != n || ni != n)
      throw Napi::RangeError::New(info.Env(), "MaglevBuilder.post: the shape does not match the backends");
    u->shape.assign(shape, shape + shapes);
    u->endpoints.assign(endpoints, endpoints + n);
    u->weights.assign(weights, weights + n);
    u->ids.assign(ids, ids + n);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (threads_.empty()) throw Napi::Error::New(info.Env(), "MaglevBuilder.post: the builder is closed");
      batch_.push_back(u);
      queue_.push_back(u);
    }
    work_.notify_one();
    return info.Env().Undefined();
  }

  // Waits for the units the threads took; takes the batch's units off; says what went wrong, if anything.
  std::string Through() {
    std::string trouble;
    std::unique_lock<std::mutex> lock(mu_);
    auto deadline = std::chrono::steady_clock::now() + kWait;
    for (auto &u : batch_) {
      if (u->taken.load() != kByThread) continue;
      if (!through_.wait_until(lock, deadline, [&] { return u->done; }))
        trouble = "a Maglev builder thread built no table within " + std::to_string(kWait.count()) + " s";
      else if (!u->error.empty() && trouble.empty())
        trouble = u->error;
    }
    batch_.clear();
    queue_.clear();
    return trouble;
  }

  // Builds what no thread took, waits for the rest; throws what went wrong.
  Napi::Value Finish(const Napi::CallbackInfo &info) {
    std::vector<std::shared_ptr<Unit>> units;
    {
      std::lock_guard<std::mutex> lock(mu_);
      units = batch_;
    }
    std::string trouble;
    for (auto it = units.rbegin(); it != units.rend(); ++it) {
      int idle = 0;
      if (!(*it)->taken.compare_exchange_strong(idle, kByCaller)) continue;
      // After a failure nothing more is built: the sync fails and is tried again.
      if (trouble.empty()) trouble = BuildUnit(**it);
    }
    std::string threads = Through();
    if (trouble.empty()) trouble = threads;
    if (!trouble.empty()) throw Napi::Error::New(info.Env(), trouble);
    return info.Env().Undefined();
  }

  // Builds nothing more of the batch; waits for what the threads are building (their
  // chunks' fds must stay open until then).
  Napi::Value Cancel(const Napi::CallbackInfo &info) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto &u : batch_) {
        int idle = 0;
        u->taken.compare_exchange_strong(idle, kByCaller);
      }
    }
    Through();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    Stop();
    return info.Env().Undefined();
  }
};

}  // namespace

// maglevFill(endpoints, weights, values, out): the table of `out.length` slots.
Napi::Value MaglevFill(const Napi::CallbackInfo &info) {
  size_t n, nw, nv, size;
  const double *endpoints = ArgTypedArray<double>(info, 0, "endpoints", &n);
  const uint32_t *weights = ArgTypedArray<uint32_t>(info, 1, "weights", &nw);
  const uint32_t *values = ArgTypedArray<uint32_t>(info, 2, "values", &nv);
  uint32_t *out = ArgTypedArray<uint32_t>(info, 3, "out", &size);
  if (nw != n || nv != n) throw Napi::RangeError::New(info.Env(), "maglevFill: endpoints, weights and values differ in length");
  std::string error = Fill({endpoints, weights, values, static_cast<uint32_t>(n), static_cast<uint32_t>(size)}, out);
  if (!error.empty()) throw Napi::RangeError::New(info.Env(), error);
  return info.Env().Undefined();
}

Napi::Function MaglevBuilderClass(Napi::Env env) { return MaglevBuilder::Define(env); }

}  // namespace xlb
