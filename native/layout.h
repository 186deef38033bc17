// What object.cc shares with layout.cc besides the entry points (addon.h).
#pragma once
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <napi.h>

namespace xlb {

// An object's map as objectInfo lists it: its definition, key and value layouts (null
// without BTF) and inner map definition (null unless a map-in-map).
Napi::Object DescribeObjectMap(Napi::Env env, bpf_map *map, const btf *b);

}  // namespace xlb
