{
  "targets": [
    {
      "target_name": "wsgate_tunnel",
      "sources": ["native/tunnel.c", "native/tunnel-napi.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
    }
  ]
}
