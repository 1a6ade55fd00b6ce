/*
 * wsgate's optional native tunnel: after a 101, both descriptors of a plain
 * tunnel (no TLS, no frame following) are dup()ed here and the bytes move
 * with read/write in C, on Node's own event loop (one uv_poll_t per
 * descriptor), through one buffer shared by every tunnel. JavaScript hears of
 * a tunnel once, when it ends: why, and the bytes read and written each way.
 *
 * The rules are the TypeScript tunnel's (src/proxy/tunnel.ts), which are
 * nginx's (ngx_http_upstream_process_upgraded):
 *   - back-pressure: what a write could not take waits (only that rest, in a
 *     buffer of its own), the source is not read, the target is polled for
 *     room;
 *   - when a side ends (EOF) or fails, nothing more is read; what was read is
 *     delivered to the sides still up, then both are closed;
 *   - proxy_read_timeout: nothing moved either way for that long;
 *     send_timeout / proxy_send_timeout: bytes waited to be written to the
 *     client / the upstream and none was taken for that long;
 *   - reset_timedout_connection: the client's send timeout ends in RST.
 * The timers are one uv_timer_t sweeping every tunnel, not one per tunnel.
 */

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CLIENT = 0, UPSTREAM = 1 };

/* Why a tunnel ended: the index into the JS side's list of TunnelEnd reasons (native-tunnel.ts). */
enum {
  END_NONE, END_CLIENT_CLOSED, END_UPSTREAM_CLOSED, END_CLIENT_ERROR, END_UPSTREAM_ERROR,
  END_UPSTREAM_TIMED_OUT, END_CLIENT_TIMED_OUT, END_UPSTREAM_SEND_TIMED_OUT
};

#define BUFFER_SIZE (64 * 1024)
#define SWEEP_MS 250
/* How long a side may take to take what is left for it once the other ended, without a send limit. */
#define LINGER_MS 60000

typedef struct tunnel tunnel;

typedef struct {
  uv_poll_t poll;
  tunnel *t;
  int fd;
  int events;  /* what the poll watches now */
  int dead;    /* failed: nothing more is written to it */
  char *wait;  /* bytes waiting to be written to this side */
  size_t wait_len, wait_off;
  double read, written;
} side;

struct tunnel {
  side s[2];
  uint32_t slot;
  int how;
  int err; /* the errno of the failure that ended it (how: an error), for the error log */
  int closing;
  int reset_client;
  int resets;  /* reset_timedout_connection */
  int handles;  /* uv_poll_t handles not yet closed */
  uint64_t last_ms;
  uint32_t idle_ms, send_ms[2];
};

static char shared[BUFFER_SIZE];
static napi_env g_env;
static napi_ref g_on_end;
static napi_async_context g_async;
static uv_loop_t *g_loop;
static uv_timer_t g_timer;
static int g_timer_running;
static tunnel **g_slots;
static uint32_t g_nslots, g_open;
static uint32_t *g_free;
static uint32_t g_nfree;

static void update(tunnel *t);
static void finish(tunnel *t);

/* Forget what waits for a side. */
static void drop(side *s) {
  free(s->wait);
  s->wait = NULL;
  s->wait_len = s->wait_off = 0;
}

/* A side ended (EOF: `error` 0) or failed (`error`: its errno): nothing more is read; what waits for the sides still
   up is delivered, then both close. */
static void side_ended(tunnel *t, int which, int error) {
  if (t->how == END_NONE) {
    t->how = which == CLIENT ? (error ? END_CLIENT_ERROR : END_CLIENT_CLOSED)
                             : (error ? END_UPSTREAM_ERROR : END_UPSTREAM_CLOSED);
    t->err = error;
  }
  if (error) {
    t->s[which].dead = 1;
    drop(&t->s[which]);
  }
  t->closing = 1;
}

static int waiting(const side *s) { return s->wait != NULL; }

/* Write what waits for side `which`, as much as it takes. */
static void flush(tunnel *t, int which) {
  side *s = &t->s[which];
  while (s->wait) {
    size_t left = s->wait_len - s->wait_off;
    ssize_t n = send(s->fd, s->wait + s->wait_off, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) side_ended(t, which, errno);
      return;
    }
    s->written += (double)n;
    s->wait_off += (size_t)n;
    t->last_ms = uv_now(g_loop);
    if (s->wait_off == s->wait_len) drop(s);
  }
}

/* Keep `len` bytes for side `which`: only what a write could not take. */
static int keep(side *s, const char *bytes, size_t len) {
  s->wait = malloc(len);
  if (s->wait == NULL) return -1;
  memcpy(s->wait, bytes, len);
  s->wait_len = len;
  s->wait_off = 0;
  return 0;
}

/* Read once from side `from` and write it to the other side; the rest waits there and `from` is read no more. */
static void pump(tunnel *t, int from) {
  side *src = &t->s[from];
  int to = 1 - from;
  side *dst = &t->s[to];
  ssize_t n;
  do n = recv(src->fd, shared, sizeof shared, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) side_ended(t, from, errno);
    return;
  }
  if (n == 0) {
    side_ended(t, from, 0);
    return;
  }
  src->read += (double)n;
  t->last_ms = uv_now(g_loop);
  if (dst->dead) return;
  ssize_t w;
  do w = send(dst->fd, shared, (size_t)n, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      side_ended(t, to, errno);
      return;
    }
    w = 0;
  }
  dst->written += (double)w;
  if (w < n && keep(dst, shared + w, (size_t)(n - w)) != 0) side_ended(t, to, ENOMEM);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  side *s = (side *)handle;
  tunnel *t = s->t;
  int which = s == &t->s[CLIENT] ? CLIENT : UPSTREAM;
  if (status < 0) {
    side_ended(t, which, -status); /* libuv's codes are negated errnos */
  } else {
    if ((events & UV_WRITABLE) && waiting(s)) flush(t, which);
    if ((events & UV_READABLE) && !t->closing && !waiting(&t->s[1 - which])) pump(t, which);
  }
  update(t);
}

/* Watch what each side needs: room while bytes wait for it, bytes while its target has room; finish a closed tunnel. */
static void update(tunnel *t) {
  if (t->closing && !waiting(&t->s[CLIENT]) && !waiting(&t->s[UPSTREAM])) {
    finish(t);
    return;
  }
  for (int i = 0; i < 2; i++) {
    side *s = &t->s[i];
    int want = 0;
    if (!s->dead) {
      if (waiting(s)) want |= UV_WRITABLE;
      if (!t->closing && !waiting(&t->s[1 - i])) want |= UV_READABLE;
    }
    if (want == s->events) continue;
    s->events = want;
    if (want == 0) uv_poll_stop(&s->poll);
    else uv_poll_start(&s->poll, want, on_poll);
  }
}

static void sweep_timer(void);

static void on_handle_closed(uv_handle_t *handle) {
  tunnel *t = ((side *)handle)->t;
  if (--t->handles == 0) free(t);
}

/* Stop and close both sides now; the tunnel leaves its slot. What still waits is dropped. */
static void close_sides(tunnel *t) {
  for (int i = 0; i < 2; i++) {
    side *s = &t->s[i];
    uv_poll_stop(&s->poll);
    if (i == CLIENT && t->reset_client) {
      struct linger lg = {1, 0};
      setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else if (!s->dead) {
      // What the peer sent after the end is read and dropped, so that close() sends a FIN, not an RST.
      shutdown(s->fd, SHUT_WR);
      for (int n = 0; n < 16 && recv(s->fd, shared, sizeof shared, MSG_DONTWAIT) > 0; n++) {
      }
    }
    close(s->fd);
    drop(s);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  }
  g_slots[t->slot] = NULL;
  g_free[g_nfree++] = t->slot;
  g_open--;
  sweep_timer();
}

/* The one call into JavaScript: onEnd(slot, how, clientRead, clientWritten, upstreamRead, upstreamWritten, errno). */
static void report(uint32_t slot, int how, const double counts[4], int err) {
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

static void counts_of(const tunnel *t, double counts[4]) {
  for (int i = 0; i < 2; i++) counts[2 * i] = t->s[i].read, counts[2 * i + 1] = t->s[i].written;
}

static void finish(tunnel *t) {
  double counts[4];
  counts_of(t, counts);
  uint32_t slot = t->slot;
  int how = t->how, err = t->err;
  close_sides(t);
  report(slot, how, counts, err);
}

/* A timer ended the tunnel: as tunnel.ts's expire(), a side that was flushing after the other closed names the timer. */
static void expire(tunnel *t, int how) {
  int flushing = (how == END_CLIENT_TIMED_OUT && t->how == END_UPSTREAM_CLOSED) ||
                 (how == END_UPSTREAM_SEND_TIMED_OUT && t->how == END_CLIENT_CLOSED);
  if (flushing || t->how == END_NONE) t->how = how;
  t->reset_client = t->resets && how == END_CLIENT_TIMED_OUT;
  finish(t);
}

static int has_unread(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void check(tunnel *t, uint64_t now) {
  uint64_t quiet = now - t->last_ms;
  int late[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    if (!waiting(&t->s[i])) continue;
    uint32_t limit = t->send_ms[i];
    if (limit > 0 && quiet >= limit) late[i] = 1;
    else if (limit == 0 && t->closing && quiet >= LINGER_MS) {
      finish(t);
      return;
    }
  }
  if (late[CLIENT] && (!late[UPSTREAM] || t->send_ms[CLIENT] <= t->send_ms[UPSTREAM])) {
    expire(t, END_CLIENT_TIMED_OUT);
    return;
  }
  if (late[UPSTREAM]) {
    expire(t, END_UPSTREAM_SEND_TIMED_OUT);
    return;
  }
  if (t->closing || t->idle_ms == 0 || quiet < t->idle_ms) return;
  // The upstream has more to send, unread because the client does not take it: send_timeout rules, as in nginx.
  if (waiting(&t->s[CLIENT]) && has_unread(t->s[UPSTREAM].fd)) return;
  expire(t, END_UPSTREAM_TIMED_OUT);
}

static void on_sweep(uv_timer_t *timer) {
  (void)timer;
  uint64_t now = uv_now(g_loop);
  for (uint32_t i = 0; i < g_nslots; i++) {
    tunnel *t = g_slots[i];
    if (t != NULL) check(t, now);
  }
}

/* The sweep runs while a tunnel is open; it does not keep the process alive (the descriptors do). */
static void sweep_timer(void) {
  if (g_open > 0 && !g_timer_running) {
    uv_timer_start(&g_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    g_timer_running = 1;
  } else if (g_open == 0 && g_timer_running) {
    uv_timer_stop(&g_timer);
    g_timer_running = 0;
  }
}

static int take_slot(uint32_t *slot) {
  if (g_nfree == 0) {
    uint32_t grown = g_nslots == 0 ? 1024 : g_nslots * 2;
    tunnel **slots = realloc(g_slots, grown * sizeof *slots);
    if (slots == NULL) return -1;
    g_slots = slots;
    uint32_t *free_list = realloc(g_free, grown * sizeof *free_list);
    if (free_list == NULL) return -1;
    g_free = free_list;
    for (uint32_t i = grown; i > g_nslots; i--) {
      g_slots[i - 1] = NULL;
      g_free[g_nfree++] = i - 1;
    }
    g_nslots = grown;
  }
  *slot = g_free[--g_nfree];
  return 0;
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
  return len == 0 ? 0 : keep(s, data, len);
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
  if (take_slot(&slot) != 0) {
    free(t);
    return throw_error(env, "start: out of memory");
  }
  for (int i = 0; i < 2; i++) {
    t->s[i].t = t;
    t->s[i].fd = dup(fds[i]);
  }
  int polled = 0;
  while (polled < 2 && t->s[polled].fd >= 0 && uv_poll_init(g_loop, &t->s[polled].poll, t->s[polled].fd) == 0) polled++;
  if (polled < 2) {
    // Out of descriptors (or not a socket): give back what was taken; an initialized poll is freed once closed.
    g_free[g_nfree++] = slot;
    for (int i = 0; i < 2; i++)
      if (t->s[i].fd >= 0) close(t->s[i].fd);
    t->handles = polled;
    if (polled == 0) free(t);
    else uv_close((uv_handle_t *)&t->s[CLIENT].poll, on_handle_closed);
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
  t->last_ms = uv_now(g_loop);
  g_slots[slot] = t;
  g_open++;
  if (arg_bytes(env, argv[2], &t->s[UPSTREAM]) != 0 || arg_bytes(env, argv[3], &t->s[CLIENT]) != 0) {
    // The sockets go back to the TypeScript tunnel untouched: only the duplicates are closed, no shutdown().
    t->s[CLIENT].dead = t->s[UPSTREAM].dead = 1;
    close_sides(t);
    return throw_error(env, "start: out of memory");
  }
  // The bytes given wait for room: they are written from the loop, never from inside this call.
  update(t);
  sweep_timer();
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
  tunnel *t = slot < g_nslots ? g_slots[slot] : NULL;
  if (t == NULL) return NULL; /* undefined: not open */
  bool reset = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &reset);
  double counts[4];
  counts_of(t, counts);
  int how = t->how;
  t->reset_client = reset;
  close_sides(t);
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
  if (napi_get_uv_event_loop(env, &g_loop) != napi_ok) return NULL;
  uv_timer_init(g_loop, &g_timer);
  uv_unref((uv_handle_t *)&g_timer);
  napi_property_descriptor props[] = {
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, destroy, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
