// Renders the swarm part of the page from the volunteer's state (plain DOM, no framework).
import type { VolunteerState } from './volunteer';

const PHASE_TEXT: Record<VolunteerState['phase'], string> = {
  connecting: 'Connecting to the seed…',
  retrying: 'Seed unreachable, retrying',
  downloading: 'Connected: fetching the model weights',
  ready: 'Connected: weights ready',
};

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

export function renderSwarm(root: HTMLElement, s: VolunteerState): void {
  const parts: HTMLElement[] = [];
  let phase = PHASE_TEXT[s.phase];
  if (s.phase === 'retrying' && s.retryAt) phase += ` in ${Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000))} s (${s.error ?? ''})`;
  parts.push(el('p', phase, { 'data-testid': 'swarm-phase' }));
  if (s.peerId) parts.push(el('p', `Seed ${s.seedUrl} · this tab is peer …${s.peerId.slice(-8)}`));

  const peers = el('ul', undefined, { 'data-testid': 'peers', 'aria-label': 'peers' });
  for (const p of s.peers) peers.append(el('li', `…${p.id.slice(-8)}: ${p.kind === 'seed' ? 'seed (WebSocket)' : p.kind === 'direct' ? 'direct (WebRTC)' : 'relayed'}`));
  parts.push(el('h3', `Peers (${s.peers.length})`), peers);

  for (const d of s.downloads) {
    const label = `${d.name} ${d.id.slice(0, 8)}: ${d.held}/${d.total} pieces of ${mib(d.totalBytes)}`;
    const bar = el('progress', undefined, { max: String(d.total), value: String(d.held), 'aria-label': label });
    const from = `${mib(d.fromPeersBytes)} from peers, ${mib(d.fromSeedBytes)} from the seed${d.corruptPieces ? `, ${d.corruptPieces} corrupted pieces dropped` : ''}`;
    parts.push(el('p', `${label}${d.done ? ' ✓ verified' : ''}`), bar, el('p', from));
  }
  const t = s.training;
  const doing = t.status === 'training' ? `training round ${t.round}: step ${t.step}/${t.steps}, loss ${t.losses.at(-1)?.loss.toFixed(3) ?? '-'}` : t.status;
  parts.push(el('h3', 'Training'), el('p', `${doing}${t.reason ? ` (${t.reason})` : ''}`, { 'data-testid': 'training-status' }));
  if (t.receipts.length) {
    const sent = t.lastUpdateBytes ? `, last update ${mib(t.lastUpdateBytes)} (dense fp32: ${mib(t.lastDenseBytes ?? 0)})` : '';
    parts.push(el('p', `Rounds accepted: ${t.acceptedRounds} of ${t.receipts.length} · ${t.tokens} tokens · ${(t.trainMs / 1000).toFixed(0)} s of GPU training${sent}`, { 'data-testid': 'receipts' }));
  }
  parts.push(el('p', `Served to other tabs: ${mib(s.uploads.uploadedBytes)} (${s.uploads.piecesServed} pieces)`));
  if (s.warnings.length) {
    const list = el('ul', undefined, { 'aria-label': 'warnings' });
    for (const w of s.warnings.slice(-5)) list.append(el('li', w));
    parts.push(list);
  }
  root.replaceChildren(...parts);
}
