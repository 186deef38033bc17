// Entry points of the addon, one group per file; see src/dataplane/bpf/native.ts.
#pragma once
#include <napi.h>

namespace xlb {

// object.cc
// libbpf's messages go into error messages, never to stderr.
void InstallLogCapture();
Napi::Value LoadObject(const Napi::CallbackInfo &info);
Napi::Value LoadObjectAsync(const Napi::CallbackInfo &info);
Napi::Value ObjectInfo(const Napi::CallbackInfo &info);
Napi::Value CreateObjectMap(const Napi::CallbackInfo &info);
// layout.cc
Napi::Value PinnedMapInfo(const Napi::CallbackInfo &info);
Napi::Value MapMigrate(const Napi::CallbackInfo &info);
// maps.cc
Napi::Value MapCreate(const Napi::CallbackInfo &info);
Napi::Value MapUpdate(const Napi::CallbackInfo &info);
Napi::Value MapUpdateBatch(const Napi::CallbackInfo &info);
Napi::Value MapUpdateAsync(const Napi::CallbackInfo &info);
Napi::Value MapMmap(const Napi::CallbackInfo &info);
Napi::Value MapUnmap(const Napi::CallbackInfo &info);
Napi::Value MapLookup(const Napi::CallbackInfo &info);
Napi::Value MapDelete(const Napi::CallbackInfo &info);
Napi::Value MapDump(const Napi::CallbackInfo &info);
Napi::Value MapInfo(const Napi::CallbackInfo &info);
Napi::Value MapDeleteExpired(const Napi::CallbackInfo &info);
Napi::Value MapCount(const Napi::CallbackInfo &info);
Napi::Value MapFdById(const Napi::CallbackInfo &info);
Napi::Value ObjGet(const Napi::CallbackInfo &info);
Napi::Value CloseFd(const Napi::CallbackInfo &info);
// attach.cc
Napi::Value IfIndex(const Napi::CallbackInfo &info);
Napi::Value XdpAttach(const Napi::CallbackInfo &info);
Napi::Value XdpDetach(const Napi::CallbackInfo &info);
Napi::Value TcAttach(const Napi::CallbackInfo &info);
Napi::Value TcDetach(const Napi::CallbackInfo &info);
Napi::Value IfDriver(const Napi::CallbackInfo &info);
Napi::Value TcQuery(const Napi::CallbackInfo &info);
Napi::Value XdpQuery(const Napi::CallbackInfo &info);
// inspect.cc
Napi::Value ProgInfo(const Napi::CallbackInfo &info);
Napi::Value LinkProgId(const Napi::CallbackInfo &info);
// cgroup.cc
Napi::Value CgroupAttach(const Napi::CallbackInfo &info);
Napi::Value CgroupDetach(const Napi::CallbackInfo &info);
// iter.cc
Napi::Value IterRun(const Napi::CallbackInfo &info);
// maglev.cc
Napi::Value MaglevFill(const Napi::CallbackInfo &info);
Napi::Function MaglevBuilderClass(Napi::Env env);
// testrun.cc
Napi::Value ProgTestRun(const Napi::CallbackInfo &info);
Napi::Value MonotonicNs(const Napi::CallbackInfo &info);

}  // namespace xlb
