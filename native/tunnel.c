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


#include "tunnel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static char shared[BUFFER_SIZE];
uv_loop_t *tun_loop;
uv_timer_t tun_timer;
static int g_timer_running;
tunnel **tun_slots;
uint32_t tun_nslots, tun_open;
uint32_t *tun_free;
uint32_t tun_nfree;

void tun_update(tunnel *t);
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
    t->last_ms = uv_now(tun_loop);
    if (s->wait_off == s->wait_len) drop(s);
  }
}

/* Keep `len` bytes for side `which`: only what a write could not take. */
int tun_keep(side *s, const char *bytes, size_t len) {
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
  t->last_ms = uv_now(tun_loop);
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
  if (w < n && tun_keep(dst, shared + w, (size_t)(n - w)) != 0) side_ended(t, to, ENOMEM);
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
  tun_update(t);
}

/* Watch what each side needs: room while bytes wait for it, bytes while its target has room; finish a closed tunnel. */
void tun_update(tunnel *t) {
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

void tun_sweep_timer(void);

void tun_on_handle_closed(uv_handle_t *handle) {
  tunnel *t = ((side *)handle)->t;
  if (--t->handles == 0) free(t);
}

/* Stop and close both sides now; the tunnel leaves its slot. What still waits is dropped. */
void tun_close_sides(tunnel *t) {
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
    uv_close((uv_handle_t *)&s->poll, tun_on_handle_closed);
  }
  tun_slots[t->slot] = NULL;
  tun_free[tun_nfree++] = t->slot;
  tun_open--;
  tun_sweep_timer();
}

void tun_counts_of(const tunnel *t, double counts[4]) {
  for (int i = 0; i < 2; i++) counts[2 * i] = t->s[i].read, counts[2 * i + 1] = t->s[i].written;
}

static void finish(tunnel *t) {
  double counts[4];
  tun_counts_of(t, counts);
  uint32_t slot = t->slot;
  int how = t->how, err = t->err;
  tun_close_sides(t);
  tun_report(slot, how, counts, err);
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
  uint64_t now = uv_now(tun_loop);
  for (uint32_t i = 0; i < tun_nslots; i++) {
    tunnel *t = tun_slots[i];
    if (t != NULL) check(t, now);
  }
}

/* The sweep runs while a tunnel is open; it does not tun_keep the process alive (the descriptors do). */
void tun_sweep_timer(void) {
  if (tun_open > 0 && !g_timer_running) {
    uv_timer_start(&tun_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    g_timer_running = 1;
  } else if (tun_open == 0 && g_timer_running) {
    uv_timer_stop(&tun_timer);
    g_timer_running = 0;
  }
}

int tun_take_slot(uint32_t *slot) {
  if (tun_nfree == 0) {
    uint32_t grown = tun_nslots == 0 ? 1024 : tun_nslots * 2;
    tunnel **slots = realloc(tun_slots, grown * sizeof *slots);
    if (slots == NULL) return -1;
    tun_slots = slots;
    uint32_t *free_list = realloc(tun_free, grown * sizeof *free_list);
    if (free_list == NULL) return -1;
    tun_free = free_list;
    for (uint32_t i = grown; i > tun_nslots; i--) {
      tun_slots[i - 1] = NULL;
      tun_free[tun_nfree++] = i - 1;
    }
    tun_nslots = grown;
  }
  *slot = tun_free[--tun_nfree];
  return 0;
}
