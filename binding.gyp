{
  "targets": [
    {
      "target_name": "beit_native",
      "sources": [
        "native/addon.cc",
        "native/attention.cc",
        "native/pool.cc",
        "native/gemm.cc",
        "native/gemm_kernels.cc",
        "native/layer.cc",
        "native/ops.cc",
        "native/image.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-Wall", "-Wextra"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {"GCC_ENABLE_CPP_EXCEPTIONS": "YES", "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3"]}
        }]
      ]
    }
  ]
}
