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
      {"loadObjectAsync", LoadObjectAsync},
      {"objectInfo", ObjectInfo},
      {"createObjectMap", CreateObjectMap},
      {"pinnedMapInfo", PinnedMapInfo},
      {"mapMigrate", MapMigrate},
      {"mapCreate", MapCreate},
      {"mapUpdate", MapUpdate},
      {"mapUpdateBatch", MapUpdateBatch},
      {"mapUpdateAsync", MapUpdateAsync},
      {"mapMmap", MapMmap},
      {"mapUnmap", MapUnmap},
      {"mapLookup", MapLookup},
      {"mapDelete", MapDelete},
      {"mapDump", MapDump},
      {"mapInfo", MapInfo},
      {"mapDeleteExpired", MapDeleteExpired},
      {"mapCount", MapCount},
      {"mapFdById", MapFdById},
      {"objGet", ObjGet},
      {"closeFd", CloseFd},
      {"ifIndex", IfIndex},
      {"xdpAttach", XdpAttach},
      {"xdpDetach", XdpDetach},
      {"tcAttach", TcAttach},
      {"tcDetach", TcDetach},
      {"ifDriver", IfDriver},
      {"tcQuery", TcQuery},
      {"xdpQuery", XdpQuery},
      {"progInfo", ProgInfo},
      {"linkProgId", LinkProgId},
      {"cgroupAttach", CgroupAttach},
      {"cgroupDetach", CgroupDetach},
      {"iterRun", IterRun},
      {"progTestRun", ProgTestRun},
      {"monotonicNs", MonotonicNs},
      {"maglevFill", MaglevFill},
  };
  for (const auto &f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  exports.Set("MaglevBuilder", MaglevBuilderClass(env));
  return exports;
}

NODE_API_MODULE(xlb_addon, Init)

}  // namespace xlb
