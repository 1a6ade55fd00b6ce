/**
 * How many entries a zone holds, approximated from nginx's slab allocator
 * (src/core/ngx_slab.c) on a 64-bit system with 4 KiB pages: the zone is cut
 * into pages, each with a 24-byte descriptor, less one page for the pool's
 * own structures; an entry takes the power-of-two chunk (8 bytes at least)
 * that holds an rbtree node head (32 bytes), the module's node (4 bytes for
 * limit_conn, 48 for limit_req) and the key, or whole pages past 2 KiB. So a
 * 1m limit_conn zone keyed by $binary_remote_addr holds about 16 000 IPv4
 * addresses (64-byte chunks) and a 1m limit_req zone about 8 000 (128-byte
 * chunks), as nginx's documentation counts them. Exact per key length, not
 * per byte of nginx's pages (mixed key lengths share pages differently).
 */

const PAGE = 4096;
const PAGE_DESCRIPTOR = 24;
const RBTREE_NODE_HEAD = 32;

/** offsetof(ngx_http_limit_conn_node_t, data) and offsetof(ngx_http_limit_req_node_t, data). */
export const CONN_NODE = 4;
export const REQ_NODE = 48;

/** The bytes of a zone of `size` that entries may use. */
export function zoneCapacity(size: number): number {
  return Math.max(0, Math.floor(size / (PAGE + PAGE_DESCRIPTOR)) - 1) * PAGE;
}

/** The slab chunk an entry of the module's `node` size with a key of `keyLength` bytes takes. */
export function entryCost(node: number, keyLength: number): number {
  const bytes = RBTREE_NODE_HEAD + node + keyLength;
  if (bytes > PAGE / 2) return Math.ceil(bytes / PAGE) * PAGE;
  let chunk = 8;
  while (chunk < bytes) chunk *= 2;
  return chunk;
}
