{
  "targets": [
    {
      "target_name": "lmdb_addon",
      "sources": ["native/lmdb_addon.c"],
      "libraries": ["-llmdb"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "deflate_addon",
      "sources": ["native/deflate_addon.c"],
      "libraries": ["-ldeflate"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
