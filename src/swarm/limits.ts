// Every size, count and timeout the swarm enforces, in one place.

const KiB = 1024;
const MiB = 1024 * KiB;

/** Largest weight piece; pieces are cut at this size, the last one may be shorter. */
export const PIECE_BYTES = 1 * MiB;
/**
 * Largest weight vector a manifest may describe (and a tab will assemble): what a tab can train. The
 * trainer binds the whole vector as one storage buffer (src/model/gpu-gpt.ts), and a tab trains only
 * on adapters that bind at least 64 MiB (REQUIRED_LIMITS, src/tab/gpu-probe.ts). The largest preset,
 * swarm-32mib, is half of it.
 */
export const MAX_MODEL_BYTES = 64 * MiB;
/** Largest signed document (manifest) accepted from anyone. */
export const MAX_SIGNED_DOCUMENT_BYTES = 256 * KiB;
/**
 * Largest JSON document read from a seed over HTTP (/swarm.json, /round.json, /status.json): a few
 * signed documents, 64 helpers, and /status.json's history of one line a round (some 50 bytes: 80,000
 * rounds).
 */
export const MAX_SEED_JSON_BYTES = 4 * MiB;
/** Largest piece request frame: a manifest id and an index. */
export const MAX_PIECE_REQUEST_BYTES = 256;
/** Largest piece reply frame: one status byte and a piece. */
export const MAX_PIECE_REPLY_BYTES = PIECE_BYTES + 1;
/** Largest gossip announcement. */
export const MAX_ANNOUNCE_BYTES = 8 * KiB;
/** Multiaddrs an announcement may carry. */
export const MAX_ANNOUNCE_ADDRS = 8;

/** Piece streams one connection may have open towards us at once (libp2p refuses more). */
export const MAX_PIECE_STREAMS_PER_CONNECTION = 8;
/** Piece requests we serve at once, all peers together; more get a BUSY reply. */
export const MAX_CONCURRENT_UPLOADS = 32;
/**
 * Piece requests we serve at once to one peer: a tab keeps at most MAX_INFLIGHT_TO_SEED (or
 * MAX_INFLIGHT_PER_PEER) in flight, so more is a peer hoarding upload slots.
 */
export const MAX_UPLOADS_PER_PEER = 2;
/**
 * Time to send one reply (a piece: 1 MiB, so a peer reading slower than ~50 KiB/s loses it). A peer
 * that requests and stops reading would otherwise hold an upload slot for as long as it likes.
 */
export const PIECE_SEND_TIMEOUT_MS = 20_000;
/**
 * Super-seeding: after the seed sent a piece, it answers BUSY to other tabs asking for it, for up
 * to this long while the tab that got it stays connected; they fetch it from that tab instead.
 * At 20 s, eight tabs on a 2-core machine (WebRTC links slow, peers often backing off) made the
 * seed send 2.1 copies of the model; 60 s bounds it at one copy a minute per piece.
 */
export const SEED_PIECE_REPEAT_MS = 60_000;
/**
 * Super-seeding's bound on a referral: an asker sent elsewhere for a piece is served by the seed once
 * this long has passed since its first BUSY for it, whoever holds the piece. An honest asker decides
 * when to come back: it asks a holder it knows at once, and asks the seed again only when no holder
 * is usable (SEED_BUSY_RETRY_MS after the BUSY), or in its endgame (PEER_PIECE_PATIENCE_MS after a
 * holder got the request, PEER_LINK_PATIENCE_MS while the link to it is still being set up). A
 * stranger that announces a piece and never serves it delays each asker this long per piece, once.
 * At 60 s the soak's first pieces waited 10–15 s under attack; with one BUSY and no time, a loaded
 * machine's slow WebRTC links made the seed send 4.4 copies of the 32 MiB model to 3 tabs (e2e/swarm.spec).
 */
export const SEED_REFERRAL_MS = 3_000;
/**
 * Tabs one referral names (the seed's REFERRED reply): enough to find one that answers, few enough
 * that askers spread over all holders (each referral starts one further along the list).
 */
export const MAX_REFERRED_HOLDERS = 4;
/** Largest referral a tab reads: MAX_REFERRED_HOLDERS tabs with MAX_ANNOUNCE_ADDRS addresses each. */
export const MAX_REFERRAL_BYTES = 24 * KiB;
/**
 * Weight manifests whose pieces the seed keeps servable: the current round's and the one before,
 * since a round closes while slower tabs are still fetching the weights it started from.
 */
export const SEED_SERVABLE_MANIFESTS = 2;
/**
 * How long a tab leaves a piece alone at the seed after the seed answered BUSY or REFERRED for it: an
 * announcement period (ANNOUNCE_INTERVAL_MS), time for the links to the tabs it was referred to to
 * come up, or to hear of holders when the reply named none. At 1 s (before referrals named the
 * holders), a tab's second ask came before it knew any, the seed's referral ran out while its first
 * WebRTC link was being set up, and the seed sent 1.8–2.7 copies of the model to 4 tabs behind NAT
 * (test/nat/homes.spec).
 */
export const SEED_BUSY_RETRY_MS = 3_000;
/** How long a tab leaves another tab alone after it answered BUSY (or the connection budget said no). */
export const PEER_BUSY_RETRY_MS = 1_000;
/**
 * How long a tab leaves a piece to another tab that says it is fetching it from the seed (a 1 MiB
 * piece comes from the seed in a second or two; the seed itself refers askers to the tab it is
 * sending to). Past that, that tab's claims are not believed by this tab again. At 10 s, a stranger
 * claiming every piece made each victim's first piece of every round wait 10–15 s (the soak).
 */
export const COMING_WAIT_MS = 3_000;
/** Tabs whose claims a tab remembers not to believe; the oldest is forgotten past this. */
export const MAX_DISTRUSTED_CLAIMANTS = 1_024;
/**
 * How long a piece request may wait on another tab, once sent over an open link, before the seed is
 * asked for it too in the endgame (the first answer wins). A 1 MiB piece took 0.3–1.5 s over a live
 * WebRTC link on a loaded 2-core machine, and up to 3.1 s as a fresh link's first (its congestion
 * window still small): at 3 s, the seed sent such pieces too. A peer that stalls would otherwise hold
 * the piece up to PIECE_REQUEST_TIMEOUT_MS.
 */
export const PEER_PIECE_PATIENCE_MS = 5_000;
/**
 * The same patience while the link to that tab is still being set up (signalling through the relay,
 * then ICE: 1–3 s measured between homes behind NAT, TURN included, on a loaded 2-core machine). Counted
 * from the request, not from the link, a 3 s patience sent the endgame's pieces to the seed while
 * the links were still being set up.
 */
export const PEER_LINK_PATIENCE_MS = 10_000;
/**
 * The endgame (the seed asked too for a piece a peer is slow to deliver) starts once at most this many
 * pieces are missing: a download's tail, as in BitTorrent, so slow links cost the seed a few pieces of
 * a download, not the whole model.
 */
export const ENDGAME_MAX_MISSING = 4;
/** Piece requests a tab keeps in flight towards one other tab. */
export const MAX_INFLIGHT_PER_PEER = 2;
/** Piece requests a tab keeps in flight towards the seed (the source of last resort). */
export const MAX_INFLIGHT_TO_SEED = 2;
/** Piece requests a tab keeps in flight in all. */
export const MAX_INFLIGHT_TOTAL = 12;

/**
 * Time for a peer to send its request after opening a stream. Generous: the first megabytes on a
 * fresh WebRTC link crawl for a few seconds (measured: ~4-7 s for the first 4 MiB, then 8 MiB/s).
 */
export const REQUEST_READ_TIMEOUT_MS = 20_000;
/** Time for a tab to open a connection (a WebRTC dial signals through the relay first). */
export const DIAL_TIMEOUT_MS = 30_000;
/**
 * Time for a direct WebRTC dial to another tab: 3× the slowest measured (1–3 s between homes behind
 * NAT, TURN included). A dial whose peer connection closes during ICE never fails on its own in
 * @libp2p/webrtc 6.0.33: readCandidatesUntilConnected swallows the "closed" state unless the dial's
 * signal has aborted, and the dial then waits for a data channel that never opens. Between 1 dial in
 * 6 and 1 in 70 did so between Node peers on one machine; this bounds what each costs.
 */
export const PEER_DIAL_TIMEOUT_MS = 10_000;
/** Time for a whole piece request, dial included. */
export const PIECE_REQUEST_TIMEOUT_MS = 30_000;
/** Announcement period: how often a tab repeats what it holds (it also announces after each new piece). */
export const ANNOUNCE_INTERVAL_MS = 3_000;
/** An announcement older than this no longer counts (its sender may have left). */
export const ANNOUNCE_STALE_MS = 3 * ANNOUNCE_INTERVAL_MS;
/** Shortest gap between two announcements of one tab. */
export const ANNOUNCE_MIN_GAP_MS = 150;
/**
 * Manifests a tab serves and announces: the current round's weights, delta and second moment, and
 * the weights before (what other tabs still fetch, like SEED_SERVABLE_MANIFESTS); older ones are
 * forgotten.
 */
export const TAB_SERVED_MANIFESTS = 4;
/**
 * Announcements one sender may have passed on: `count` per `perMs`, in bursts of up to `count`.
 * An honest tab sends one per served manifest at most every ANNOUNCE_MIN_GAP_MS (TAB_SERVED_MANIFESTS per 150 ms);
 * this allows twice that. Past it, the seed and the tabs drop them (and score the sender down).
 */
export const ANNOUNCE_BUDGET = { count: 4 * TAB_SERVED_MANIFESTS, perMs: 2 * ANNOUNCE_MIN_GAP_MS } as const;
/** Largest gossipsub RPC a node reads (several announcements can share one). */
export const MAX_GOSSIP_RPC_BYTES = 256 * KiB;
/**
 * How long a node remembers the gossip score of a peer that left: a flooder that reconnects is still
 * silenced; bounded, since each identity it remembers costs memory.
 */
export const GOSSIP_SCORE_RETAIN_MS = 10 * 60_000;
/**
 * Failures (errors, timeouts; BUSY aside) before a peer is set aside for a while. Each failure
 * also pauses the peer for a second, and failures within that second count once: concurrent
 * requests to a peer usually fail together (one lost link).
 */
export const MAX_PEER_FAILURES = 3;
/** How long a failing peer is set aside. */
export const PEER_BACKOFF_MS = 5_000;
/**
 * Corrupted pieces from the seed that end a download (a tab bans another tab at its first). Noise's
 * MAC catches a bit flipped in transit, so a piece from the seed that fails its hash left the seed
 * wrong: its store, or the seed itself, is broken or hostile. The second one ends it: one retry
 * covers a single fault in either end's memory, and a broken store serves the same bytes again.
 */
export const MAX_SEED_CORRUPT_PIECES = 2;
/**
 * How long the tab with the larger peer id waits for the other to dial it before dialling itself: the
 * other dials as soon as it hears an announcement (a few hundred ms), unless it spent its dials or
 * never heard it; without this a piece request waited its whole PIECE_REQUEST_TIMEOUT_MS (30 s).
 */
export const INBOUND_DIAL_WAIT_MS = 3_000;
/**
 * New WebRTC peer connections a tab creates in any hour, dialled or accepted (connection-budget.ts).
 * Chrome allows a tab 500 RTCPeerConnections in its life, a reload included (js-libp2p #2591). A tab
 * reuses its connections and keeps an idle one PEER_IDLE_CLOSE_MS (two default rounds), so it dials
 * the same peers once, and new peers as they come: 48 lets it replace all its MAX_DIRECT_PEERS three
 * times an hour. Spent at full rate, 500 lasts some 10 hours; a churning swarm gets there slower.
 */
export const MAX_PEER_CONNECTIONS_PER_HOUR = 48;
/**
 * A connection to another tab with no stream but gossipsub's (pieces, signalling, identify, ping)
 * for this long is closed. Rounds take minutes (120 s by default) and each fetches new weights from
 * the same peers: 5 minutes keeps a link used every round, and frees one whose peer went quiet.
 */
export const PEER_IDLE_CLOSE_MS = 5 * 60_000;
/** How often a tab looks for idle connections (a look finding a stream resets the idle time). */
export const PEER_IDLE_CHECK_MS = 5_000;
/** Other tabs a tab keeps direct connections to. */
export const MAX_DIRECT_PEERS = 16;
/**
 * Tabs whose announced addresses a tab remembers; past this the one heard from longest ago is
 * forgotten. Without a bound, a tab open for days keeps the addresses of every tab that ever passed
 * (a kilobyte or two each). Sixteen times MAX_DIRECT_PEERS: a forgotten tab still there announces
 * again within ANNOUNCE_INTERVAL_MS.
 */
export const MAX_KNOWN_TABS = 256;

/** Connections a seed keeps: every tab holds one to it. */
export const SEED_MAX_CONNECTIONS = 1024;
/** Connections a tab keeps: the seed and a few other tabs (MAX_DIRECT_PEERS). */
export const TAB_MAX_CONNECTIONS = 32;
/**
 * Connections the seed accepts from one IP address: a household or an office of volunteers behind
 * one NAT, not a stranger's thousand throwaway identities.
 */
export const MAX_CONNECTIONS_PER_IP = 64;

/**
 * Relay limits on the seed: relayed links only carry WebRTC signalling, so they are small and short.
 * A reservation lasts 10 minutes (tabs renew theirs 5 minutes before it ends) and ends when its
 * holder disconnects; one IP address holds at most maxReservationsPerIp of them.
 */
export const RELAY_LIMITS = {
  maxReservations: 256,
  maxReservationsPerIp: 32,
  reservationTtlMs: 10 * 60_000,
  durationLimitMs: 2 * 60_000,
  dataLimitBytes: 1n * BigInt(MiB),
  maxInboundHopStreams: 64,
  maxOutboundStopStreams: 64,
} as const;
