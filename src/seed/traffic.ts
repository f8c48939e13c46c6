// What the seed sent and received, counted where the bytes leave or enter it: every byte its HTTP server writes to a socket
// (status lines, headers, bodies: the app, the documents, the data and weight files), and every byte
// libp2p writes to a connection (multistream-select, the Noise handshake, and Noise-encrypted yamux
// frames carrying every stream: pieces, gossip, identify, ping, relay signalling and relayed data).
// Not counted: WebSocket frame headers and the WebSocket upgrade response (below libp2p's
// connection), TCP/IP headers.
import type { Socket } from 'node:net';
import type { Metrics, Stream } from '@libp2p/interface';

export interface SentBytes {
  /** Written to the HTTP server's sockets. */
  http: number;
  /** Written to libp2p connections, framing and encryption included. */
  libp2p: number;
  /** Stream payloads by protocol (the part of `libp2p` inside yamux frames, before framing). */
  libp2pStreams: Record<string, number>;
}

/** Every byte the seed received so far. */
export interface ReceivedBytes {
  /** Read from the HTTP server's sockets. */
  http: number;
  /** Read from libp2p connections, framing and encryption included. */
  libp2p: number;
}

export interface TrafficCounter {
  /** libp2p's metrics hook: it counts what every connection sends and receives, and what every protocol stream sends. */
  libp2pMetrics: Metrics;
  /** Counts what `socket` writes and reads until it closes: give it every socket the HTTP server accepts. */
  trackHttpSocket(socket: Socket): void;
  sent(): SentBytes;
  received(): ReceivedBytes;
}

const noop = (): void => {};
/** What libp2p's own metrics get when they register: a metric of every kind that records nothing. */
const UNRECORDED = { update: noop, increment: noop, decrement: noop, reset: noop, observe: noop, timer: () => noop };

export function createTrafficCounter(): TrafficCounter {
  let closedHttpSockets = 0;
  let closedHttpSocketsRead = 0;
  const openHttpSockets = new Set<Socket>();
  let libp2p = 0;
  let libp2pReceived = 0;
  const libp2pStreams: Record<string, number> = {};

  /** Counts every `send` on a connection or stream (libp2p v3 writes through it). */
  const countSends = (stream: Pick<Stream, 'send'>, count: (bytes: number) => void): void => {
    const send = stream.send.bind(stream);
    stream.send = (data) => {
      count(data.byteLength);
      return send(data);
    };
  };

  return {
    libp2pMetrics: {
      trackMultiaddrConnection: (connection) => {
        countSends(connection, (n) => {
          libp2p += n;
        });
        connection.addEventListener('message', (evt) => {
          libp2pReceived += evt.data.byteLength;
        });
      },
      trackProtocolStream: (stream) =>
        countSends(stream, (n) => {
          libp2pStreams[stream.protocol] = (libp2pStreams[stream.protocol] ?? 0) + n;
        }),
      registerMetric: () => UNRECORDED,
      registerMetricGroup: () => UNRECORDED,
      registerCounter: () => UNRECORDED,
      registerCounterGroup: () => UNRECORDED,
      registerHistogram: () => UNRECORDED,
      registerHistogramGroup: () => UNRECORDED,
      registerSummary: () => UNRECORDED,
      registerSummaryGroup: () => UNRECORDED,
      traceFunction: <F>(_name: string, fn: F) => fn,
      createTrace: () => undefined,
    },
    trackHttpSocket(socket) {
      openHttpSockets.add(socket);
      socket.once('close', () => {
        openHttpSockets.delete(socket);
        closedHttpSockets += socket.bytesWritten;
        closedHttpSocketsRead += socket.bytesRead;
      });
    },
    sent() {
      let http = closedHttpSockets;
      for (const socket of openHttpSockets) http += socket.bytesWritten;
      return { http, libp2p, libp2pStreams: { ...libp2pStreams } };
    },
    received() {
      let http = closedHttpSocketsRead;
      for (const socket of openHttpSockets) http += socket.bytesRead;
      return { http, libp2p: libp2pReceived };
    },
  };
}
