/*
 * wsgate's native tunnel, shared by its two files: tunnel.c moves the bytes
 * and keeps the timers; tunnel-napi.c is the N-API face JavaScript calls
 * (start, destroy, init) and the one call back into it (tun_report).
 */

#ifndef WSGATE_TUNNEL_H
#define WSGATE_TUNNEL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

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

/* The loop, the sweep timer and the tunnels by slot (tunnel.c); tunnel-napi.c sets up the loop and timer. */
extern uv_loop_t *tun_loop;
extern uv_timer_t tun_timer;
extern tunnel **tun_slots;
extern uint32_t tun_nslots, tun_open;
extern uint32_t *tun_free;
extern uint32_t tun_nfree;

int tun_keep(side *s, const char *bytes, size_t len);
void tun_on_handle_closed(uv_handle_t *handle);
int tun_take_slot(uint32_t *slot);
void tun_update(tunnel *t);
void tun_sweep_timer(void);
void tun_close_sides(tunnel *t);
void tun_counts_of(const tunnel *t, double counts[4]);
/* The tunnel in `slot` ended (tunnel-napi.c calls JavaScript's onEnd). */
void tun_report(uint32_t slot, int how, const double counts[4], int err);

#endif
