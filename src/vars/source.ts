/**
 * What variables read from a request. The HTTP layer's request context
 * implements this; keeping it here lets vars/ stand without importing http/.
 */

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
  /** The connection's TLS session; undefined for plain HTTP. */
  readonly tls?: TlsFacts | undefined;

  // The request as received.
  readonly method: string;
  readonly requestLine: string;
  /** The request target exactly as sent: $request_uri. */
  readonly requestTarget: string;
  /** The normalised, decoded path being processed: $uri. */
  readonly uri: string;
  /** The query string without "?": $args. */
  readonly args: string;
  readonly httpVersion: string;
  /** Request headers in arrival order, names as sent. */
  readonly headers: HeaderList;
  /** Host from the request line or Host header, lower-cased, without port; "" when absent. */
  readonly hostHeader: string;
  readonly serverName: string;
  readonly startMs: number;
  readonly requestLength: number;
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
  /** r->limit_rate: $limit_rate reads it, `set $limit_rate` writes it; undefined until set or evaluated. */
  limitRate?: number | undefined;

  // The upstream side: one entry per try, as nginx's comma-separated lists.
  readonly upstreamTries: ReadonlyArray<UpstreamTry>;
  /** $proxy_host of the location's proxy_pass. */
  readonly proxyHost: string;
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
}
