/*
 * The N-API face of wsgate's native tunnel (tunnel.c moves the bytes):
 * init(onEnd) once, start(...) per tunnel, destroy(slot, reset) for a fast
 * shutdown, and tun_report(), the one call into JavaScript when a tunnel ends.
 */

#define NAPI_VERSION 8
#include <node_api.h>

#include "tunnel.h"

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

static napi_env g_env;
static napi_ref g_on_end;
static napi_async_context g_async;

/* The one call into JavaScript: onEnd(slot, how, clientRead, clientWritten, upstreamRead, upstreamWritten, errno). */
void tun_report(uint32_t slot, int how, const double counts[4], int err) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(g_env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[7], result;
  napi_get_reference_value(g_env, g_on_end, &fn);
  napi_get_global(g_env, &recv);
  napi_create_uint32(g_env, slot, &argv[0]);
  napi_create_int32(g_env, how, &argv[1]);
  for (int i = 0; i < 4; i++) napi_create_double(g_env, counts[i], &argv[2 + i]);
  napi_create_int32(g_env, err, &argv[6]);
  if (napi_make_callback(g_env, g_async, recv, fn, 7, argv, &result) == napi_pending_exception) {
    // A throw in the callback is the process's uncaught exception, as from any other event.
    napi_value error;
    napi_get_and_clear_last_exception(g_env, &error);
    napi_fatal_exception(g_env, error);
  }
  napi_close_handle_scope(g_env, scope);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static uint32_t arg_uint(napi_env env, napi_value v) {
  uint32_t n = 0;
  napi_get_value_uint32(env, v, &n);
  return n;
}

/* Bytes given with the tunnel (a Buffer, or undefined). */
static int arg_bytes(napi_env env, napi_value v, side *s) {
  bool is_buffer = false;
  napi_is_buffer(env, v, &is_buffer);
  if (!is_buffer) return 0;
  void *data;
  size_t len;
  napi_get_buffer_info(env, v, &data, &len);
  return len == 0 ? 0 : tun_keep(s, data, len);
}

/*
 * start(clientFd, upstreamFd, fromClient, fromUpstream, idleMs, clientSendMs, upstreamSendMs, resetTimedout) → slot.
 * The descriptors are dup()ed: the caller closes its own. fromClient waits for the upstream, fromUpstream for the client.
 */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8 || g_on_end == NULL) return throw_error(env, "start: 8 arguments, after init()");
  int fds[2] = {(int)arg_uint(env, argv[0]), (int)arg_uint(env, argv[1])};
  tunnel *t = calloc(1, sizeof *t);
  if (t == NULL) return throw_error(env, "start: out of memory");
  uint32_t slot;
  if (tun_take_slot(&slot) != 0) {
    free(t);
    return throw_error(env, "start: out of memory");
  }
  for (int i = 0; i < 2; i++) {
    t->s[i].t = t;
    t->s[i].fd = dup(fds[i]);
  }
  int polled = 0;
  while (polled < 2 && t->s[polled].fd >= 0 && uv_poll_init(tun_loop, &t->s[polled].poll, t->s[polled].fd) == 0) polled++;
  if (polled < 2) {
    // Out of descriptors (or not a socket): give back what was taken; an initialized poll is freed once closed.
    tun_free[tun_nfree++] = slot;
    for (int i = 0; i < 2; i++)
      if (t->s[i].fd >= 0) close(t->s[i].fd);
    t->handles = polled;
    if (polled == 0) free(t);
    else uv_close((uv_handle_t *)&t->s[CLIENT].poll, tun_on_handle_closed);
    return throw_error(env, "start: cannot take the descriptors");
  }
  t->handles = 2;
  t->slot = slot;
  t->idle_ms = arg_uint(env, argv[4]);
  t->send_ms[CLIENT] = arg_uint(env, argv[5]);
  t->send_ms[UPSTREAM] = arg_uint(env, argv[6]);
  bool resets = false;
  napi_get_value_bool(env, argv[7], &resets);
  t->resets = resets;
  t->last_ms = uv_now(tun_loop);
  tun_slots[slot] = t;
  tun_open++;
  if (arg_bytes(env, argv[2], &t->s[UPSTREAM]) != 0 || arg_bytes(env, argv[3], &t->s[CLIENT]) != 0) {
    // The sockets go back to the TypeScript tunnel untouched: only the duplicates are closed, no shutdown().
    t->s[CLIENT].dead = t->s[UPSTREAM].dead = 1;
    tun_close_sides(t);
    return throw_error(env, "start: out of memory");
  }
  // The bytes given wait for room: they are written from the loop, never from inside this call.
  tun_update(t);
  tun_sweep_timer();
  napi_value result;
  napi_create_uint32(env, slot, &result);
  return result;
}

/* What the JS side gets back from destroy(): [how, clientRead, clientWritten, upstreamRead, upstreamWritten]. */
static napi_value end_value(napi_env env, int how, const double counts[4]) {
  napi_value array, v;
  napi_create_array_with_length(env, 5, &array);
  napi_create_int32(env, how, &v);
  napi_set_element(env, array, 0, v);
  for (uint32_t i = 0; i < 4; i++) {
    napi_create_double(env, counts[i], &v);
    napi_set_element(env, array, i + 1, v);
  }
  return array;
}

/* destroy(slot, reset): close both sides now (fast shutdown); the end is returned, not reported. */
static napi_value destroy(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t slot = argc >= 1 ? arg_uint(env, argv[0]) : UINT32_MAX;
  tunnel *t = slot < tun_nslots ? tun_slots[slot] : NULL;
  if (t == NULL) return NULL; /* undefined: not open */
  bool reset = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &reset);
  double counts[4];
  tun_counts_of(t, counts);
  int how = t->how;
  t->reset_client = reset;
  tun_close_sides(t);
  return end_value(env, how, counts);
}

/* init(onEnd): the function told of every tunnel's end, once per process. */
static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_function) return throw_error(env, "init: a function");
  if (g_on_end != NULL) return throw_error(env, "init: once");
  napi_value name;
  napi_create_string_utf8(env, "wsgate.tunnel", NAPI_AUTO_LENGTH, &name);
  if (napi_async_init(env, NULL, name, &g_async) != napi_ok) return throw_error(env, "init: async context");
  napi_create_reference(env, argv[0], 1, &g_on_end);
  return NULL;
}

static napi_value module_init(napi_env env, napi_value exports) {
  if (g_env != NULL) {
    napi_throw_error(env, NULL, "the native tunnel serves the main thread only");
    return NULL;
  }
  g_env = env;
  if (napi_get_uv_event_loop(env, &tun_loop) != napi_ok) return NULL;
  uv_timer_init(tun_loop, &tun_timer);
  uv_unref((uv_handle_t *)&tun_timer);
  napi_property_descriptor props[] = {
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, destroy, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
