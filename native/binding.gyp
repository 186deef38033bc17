{
  "targets": [
    {
      "target_name": "xlb_addon",
      "sources": ["addon.cc", "async_update.cc", "attach.cc", "cgroup.cc", "errors.cc", "inspect.cc", "iter.cc", "layout.cc", "maglev.cc", "maps.cc", "object.cc", "testrun.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "libraries": ["<!@(pkg-config --libs libbpf)", "-lelf", "-lz"]
    }
  ]
}
