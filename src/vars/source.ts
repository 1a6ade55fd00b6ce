/**
 * What variables read from a request. The HTTP layer's request context
 * implements this; keeping it here lets vars/ stand without importing http/.
 */

import type { GzipCounts } from "./gzip-ratio.js";

export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

/** What a TLS connection's variables read ($ssl_protocol, $ssl_cipher, $ssl_server_name …). */
export interface TlsFacts {
  /** "TLSv1.3" (SSL_get_version). */
  readonly protocol: string;
  /** OpenSSL's name of the cipher: "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256". */
  readonly cipher: string;
  /** The SNI name as the client sent it; "" without one. */
  readonly serverName: string;
  readonly sessionReused: boolean;
  /** The protocol ALPN chose ("http/1.1"); "" when the client offered none. */
  readonly alpnProtocol: string;
  /** The session's id in hex ($ssl_session_id); undefined where Node does not tell it. */
  readonly sessionId?: string | undefined;
  /** The key-exchange group chosen ($ssl_curve): "X25519"; undefined where Node does not tell it. */
  readonly curve?: string | undefined;
  /** The client's ciphers and groups as OpenSSL names them, ":"-joined ($ssl_ciphers, $ssl_curves). */
  readonly clientCiphers?: string | undefined;
  readonly clientCurves?: string | undefined;
}

/** The request body as it was read ($request_body, $request_body_file). */
export interface RequestBodyFacts {
  /** The body read into memory (nginx's request_body->bufs without a temp file); undefined otherwise. */
  readonly memory?: readonly Buffer[] | undefined;
  /** The temporary file the body was written to. */
  readonly file?: string | undefined;
}

/** ngx_http_stub_status_module's counters of the worker. */
export interface ConnectionCounters {
  readonly active: number;
  readonly reading: number;
  readonly writing: number;
  readonly waiting: number;
}

/** The addresses of a `listen … proxy_protocol` connection's PROXY header ($proxy_protocol_addr …). */
export interface ProxyProtocolFacts {
  /** As sent in v1 (not checked to be an address, as nginx); printed by ngx_sock_ntop() from v2. */
  readonly srcAddr: string;
  readonly dstAddr: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** The v2 header's TLVs, unparsed ($proxy_protocol_tlv_*). */
  readonly tlvs?: Buffer | undefined;
}

/** The token auth_jwt accepted: its JOSE header and claims ($jwt_header_NAME, $jwt_claim_NAME, $jwt_payload). */
export interface JwtFacts {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The payload as the token carried it (JSON text). */
  readonly payload: string;
}

/** What a WebSocket tunnel that follows frames counted ($wsgate_messages_from_client …). */
export interface WsTunnelFacts {
  readonly messagesFromClient: number;
  readonly messagesFromUpstream: number;
  /** Payload bytes of data frames. */
  readonly bytesFromClient: number;
  readonly bytesFromUpstream: number;
  /** The code of the first close frame seen or sent; 0: none (or one without a code). */
  readonly closeCode: number;
  /** Who closed first: "client", "upstream", "wsgate"; "" while open. */
  readonly closedBy: string;
  /** The last round trip of a ping to the client, ms; -1: none. */
  readonly pingRttMs: number;
}

export interface VariableSource {
  /** Per-request cache of cacheable variables by registry index: null is "not found". */
  readonly variableCache: Array<string | null | undefined>;

  // The connection.
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly serverAddress: string;
  readonly serverPort: number;
  readonly connectionId: number;
  readonly connectionRequests: number;
  /** When the connection was accepted: $connection_time counts from it. */
  readonly connectionStartMs?: number;
  /** The request was read from bytes already received after the previous one (nginx's r->pipeline): $pipe. */
  readonly pipelined?: boolean;
  /** The connection's TLS session; undefined for plain HTTP. */
  readonly tls?: TlsFacts | undefined;
  /** "h2" for a request on an HTTP/2 stream over TLS, "h2c" over plain TCP; undefined otherwise ($http2). */
  readonly http2Protocol?: string;
  /** The PROXY protocol header's addresses; undefined without one (or for UNKNOWN and LOCAL). */
  readonly proxyProtocol?: ProxyProtocolFacts | undefined;
  /** The connection's own address and port, whatever realip made of $remote_addr ($realip_remote_addr). */
  readonly realipRemoteAddress?: string;
  readonly realipRemotePort?: number;
  /** Where a variable reports an error at request time (nginx logs it with the request's context). */
  readonly variableError?: ((message: string) => void) | undefined;

  // The request as received.
  readonly method: string;
  readonly requestLine: string;
  /** The request target exactly as sent: $request_uri. */
  readonly requestTarget: string;
  /** The normalised, decoded path being processed: $uri. */
  readonly uri: string;
  /** The query string without "?": $args. */
  readonly args: string;
  /**
   * `set $args`: the arguments change (ngx_http_variable_set_args()), and proxy_pass without a URI
   * then sends the escaped URI with them, no longer the client's request line.
   */
  changeArgs?(args: string): void;
  readonly httpVersion: string;
  /** Request headers in arrival order, names as sent. */
  readonly headers: HeaderList;
  /** Host from the request line or Host header, lower-cased, without port; "" when absent. */
  readonly hostHeader: string;
  readonly serverName: string;
  readonly startMs: number;
  readonly requestLength: number;
  /** The request body, once read (undefined while it is not, or when it is streamed). */
  readonly requestBody?: RequestBodyFacts | undefined;
  /** $request_filename and $document_root, where the HTTP layer maps URIs to files. */
  readonly requestFilename?: string;
  readonly documentRoot?: string;
  /** $realpath_root: the document root with symbolic links resolved; not found when it cannot be. */
  readonly realpathRoot?: string | undefined;

  // The response, as it is being sent.
  readonly status: number;
  readonly bytesSent: number;
  readonly bodyBytesSent: number;
  readonly responseHeaders: HeaderList;
  /** The gzip filter's bytes in and out, once a compressed body is through ($gzip_ratio). */
  readonly gzipCounts?: GzipCounts | undefined;
  /** The token auth_jwt accepted for this request; undefined before the access phase or without one. */
  readonly jwt?: JwtFacts | undefined;
  /** r->limit_rate: $limit_rate reads it, `set $limit_rate` writes it; undefined until set or evaluated. */
  limitRate?: number | undefined;
  /** r->main->limit_conn_status as $limit_conn_status prints it (PASSED …); undefined until limit_conn decided. */
  readonly limitConnStatus?: string | undefined;
  /** r->main->limit_req_status as $limit_req_status prints it (PASSED, DELAYED …); undefined until limit_req decided. */
  readonly limitReqStatus?: string | undefined;

  // The upstream side: one entry per try, as nginx's comma-separated lists.
  readonly upstreamTries: ReadonlyArray<UpstreamTry>;
  /** $proxy_host of the location's proxy_pass. */
  readonly proxyHost: string;
  /** $proxy_port: the port of proxy_pass's URL, or the scheme's ("80", "443"); "" before a proxy_pass. */
  readonly proxyPort?: string | undefined;
  /** The worker's connection counters ($connections_active …), where the HTTP layer provides them. */
  connectionStats?(): ConnectionCounters | undefined;
  /** The request's WebSocket tunnel, when it follows frames ($wsgate_… variables); undefined otherwise. */
  readonly wsTunnel?: WsTunnelFacts | undefined;
  /** Captures of the last regex matched for this request ($1 … $9); a match replaces them, as in nginx. */
  captures: readonly string[] | undefined;
  /** Named captures of the regexes matched so far ($name). */
  namedCaptures?: Readonly<Record<string, string>> | undefined;
}

export interface UpstreamTry {
  readonly addr: string;
  /** 0 until a status line was read; nginx prints "-" then for a 502. */
  status: number;
  connectMs: number;
  headerMs: number;
  responseMs: number;
  bytesReceived: number;
  bytesSent: number;
  responseHeaders: HeaderList;
  /** Body bytes of the upstream's response ($upstream_response_length); 0 before any. */
  responseLength?: number;
  /** The upstream's trailer fields, where read ($upstream_trailer_NAME). */
  responseTrailers?: HeaderList;
}
