// Registers the addon's functions under the names src/dataplane/bpf/native.ts expects.
#include "addon.h"

namespace xlb {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLogCapture();
  const struct {
    const char *name;
    Napi::Value (*fn)(const Napi::CallbackInfo &);
  } fns[] = {
      {"loadObject", LoadObject},
      {"objectInfo", ObjectInfo},
      {"mapCreate", MapCreate},
      {"mapUpdate", MapUpdate},
      {"mapUpdateBatch", MapUpdateBatch},
      {"mapUpdateAsync", MapUpdateAsync},
      {"mapWriteMmap", MapWriteMmap},
      {"mapLookup", MapLookup},
      {"mapDelete", MapDelete},
      {"mapDump", MapDump},
      {"mapInfo", MapInfo},
      {"mapDeleteExpired", MapDeleteExpired},
      {"mapFdById", MapFdById},
      {"objGet", ObjGet},
      {"closeFd", CloseFd},
      {"ifIndex", IfIndex},
      {"xdpAttach", XdpAttach},
      {"xdpDetach", XdpDetach},
      {"tcAttach", TcAttach},
      {"tcDetach", TcDetach},
      {"ifDriver", IfDriver},
      {"cgroupAttach", CgroupAttach},
      {"cgroupDetach", CgroupDetach},
      {"iterRun", IterRun},
      {"progTestRun", ProgTestRun},
      {"monotonicNs", MonotonicNs},
  };
  for (const auto &f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  return exports;
}

NODE_API_MODULE(xlb_addon, Init)

}  // namespace xlb
