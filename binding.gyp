{
  "targets": [
    {
      "target_name": "wsgate_tunnel",
      "sources": ["native/tunnel.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
