// The seed's HTTP budgets: what strangers can hold of its HTTP server (connections, buffered bytes,
// time), in one place. A client that stops reading holds at most two send chunks of the seed's
// memory (its file stream's read-ahead and the chunk queued on its socket), for at most
// HTTP_SEND_IDLE_TIMEOUT_MS, on at most HTTP_MAX_CONNECTIONS connections: 256 × 128 KiB = 32 MiB.
// The dashboard's streams add at most DASHBOARD_MAX_STREAMS × DASHBOARD_STREAM_BUFFER_BYTES = 8 MiB.

const KiB = 1024;

/**
 * Open HTTP connections, all clients together; the ones past it are closed as they are accepted.
 * Far more than the tabs the swarm serves at once need (a tab loads the page once, then polls a
 * few documents on a keep-alive connection).
 */
export const HTTP_MAX_CONNECTIONS = 256;
/**
 * Open HTTP connections from one IP address; the ones past it are closed as they are accepted. A
 * browser opens at most 6 to a host, so this is a household or an office of tabs behind one NAT,
 * not one stranger holding every connection.
 */
export const HTTP_MAX_CONNECTIONS_PER_IP = 32;
/**
 * Time from a request's first byte to the end of its headers (a browser sends them in one packet):
 * a slowloris sending a byte at a time is closed.
 */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
/** Time for a whole request, body included (GET and HEAD have none): a slow body is closed too. */
export const HTTP_REQUEST_TIMEOUT_MS = 20_000;
/**
 * How often the two timeouts above are checked: Node's default (30 s) would let a slow sender hold
 * its connection for 40 s.
 */
export const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** An idle keep-alive connection is closed after this long (Node's default). */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * Bodies (files from disk and from memory, documents) are written in pieces of this size, each when
 * the socket took the one before: the backpressure that bounds what a slow reader holds.
 */
export const HTTP_SEND_CHUNK_BYTES = 64 * KiB;
/**
 * A connection that makes no progress for this long (no send chunk taken by its socket, nothing
 * read) is closed, and its file stream with it. Progress is one chunk: 64 KiB in 30 s is ~17 kbit/s,
 * so a 1 MiB weight piece to a reader on a slow home link (1 Mbit/s: a chunk every 0.5 s, the
 * piece in ~8 s) gets through, and only a reader that all but stopped is cut off.
 */
export const HTTP_SEND_IDLE_TIMEOUT_MS = 30_000;

/** The budgets as the HTTP server takes them (tests shorten the timeouts and lower the caps). */
export interface HttpLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  timeoutCheckIntervalMs: number;
  keepAliveTimeoutMs: number;
  sendChunkBytes: number;
  sendIdleTimeoutMs: number;
}

export const HTTP_LIMITS: HttpLimits = {
  maxConnections: HTTP_MAX_CONNECTIONS,
  maxConnectionsPerIp: HTTP_MAX_CONNECTIONS_PER_IP,
  headersTimeoutMs: HTTP_HEADERS_TIMEOUT_MS,
  requestTimeoutMs: HTTP_REQUEST_TIMEOUT_MS,
  timeoutCheckIntervalMs: HTTP_TIMEOUT_CHECK_INTERVAL_MS,
  keepAliveTimeoutMs: HTTP_KEEP_ALIVE_TIMEOUT_MS,
  sendChunkBytes: HTTP_SEND_CHUNK_BYTES,
  sendIdleTimeoutMs: HTTP_SEND_IDLE_TIMEOUT_MS,
};

// The dashboard's event streams (dashboard-stream.ts): each holds one HTTP connection for as long as
// its page is open, so they are capped apart from the connections above.

/**
 * Dashboards streaming at once, all clients together; more are answered 429. A researcher and a
 * few colleagues need a handful; at most an eighth of HTTP_MAX_CONNECTIONS, the rest stays for tabs.
 */
export const DASHBOARD_MAX_STREAMS = 32;
/**
 * Dashboards streaming to one IP address: a few windows of one person or office. A stranger holds
 * no more than this of the streams, and of its HTTP_MAX_CONNECTIONS_PER_IP.
 */
export const DASHBOARD_MAX_STREAMS_PER_IP = 4;
/**
 * How often the dashboards get the live counters (and the rounds, when they changed). Far below
 * HTTP_SEND_IDLE_TIMEOUT_MS, so a stream that is read is never idle.
 */
export const DASHBOARD_PUSH_INTERVAL_MS = 2_000;
/**
 * What a stream may hold unread before it is closed (its page reconnects and gets the whole state
 * again): several of the largest events (a `run` event is some 70 KiB at most).
 */
export const DASHBOARD_STREAM_BUFFER_BYTES = 256 * KiB;

/** The dashboard's budgets as its streams take them (tests lower the caps and the interval). */
export interface DashboardLimits {
  maxStreams: number;
  maxStreamsPerIp: number;
  pushIntervalMs: number;
  streamBufferBytes: number;
}

export const DASHBOARD_LIMITS: DashboardLimits = {
  maxStreams: DASHBOARD_MAX_STREAMS,
  maxStreamsPerIp: DASHBOARD_MAX_STREAMS_PER_IP,
  pushIntervalMs: DASHBOARD_PUSH_INTERVAL_MS,
  streamBufferBytes: DASHBOARD_STREAM_BUFFER_BYTES,
};
