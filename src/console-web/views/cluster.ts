import type { View } from '../context.js';
import { h, replace, safeHttpUrl } from '../dom.js';
import { ago, dateTime, duration, stateName } from '../format.js';
import type { PeerStatus, Status } from '../types.js';
import { badge, facts, roleBadge, section, stateBadge } from '../widgets.js';

/** #/cluster: both nodes side by side, this one marked, and what they share (leader, epoch, Redis). */
export function clusterView(): View {
  const el = h('div', { class: 'view', 'data-testid': 'cluster-view' });
  let ages: [HTMLElement, number][] = [];

  const ageOf = (atMs: number): HTMLElement => {
    const span = h('span', { class: 'muted' }, ago(atMs, Date.now()));
    ages.push([span, atMs]);
    return span;
  };

  function update(s: Status): void {
    ages = [];
    const peer = s.peer && s.peer.node_id ? s.peer : null;
    const leader = s.leader_node_id;
    const digestsDiffer = !!peer && !!peer.license_digest && !!s.license_digest && peer.license_digest !== s.license_digest;
    const policiesDiffer = !!peer && !!peer.policy_digest && !!s.policy_digest && peer.policy_digest !== s.policy_digest;
    replace(
      el,
      section(
        'Cluster',
        facts([
          ['Cluster id', s.cluster_id],
          ['Leader', leader ? `${leader}${s.leader_addr ? ` (${s.leader_addr})` : ''}` : h('span', { class: 'warn-text' }, 'none: no node holds the lease')],
          ['Highest epoch', String(s.highest_epoch)],
          [
            'Redis',
            s.redis_topology
              ? h('span', { 'data-testid': 'redis-topology' }, s.redis_topology)
              : h('span', { class: 'muted', 'data-testid': 'redis-topology' }, 'not reported'),
          ],
          [
            'Reachable from',
            h(
              'span',
              { class: 'badges' },
              h('span', null, `${s.node_id} (this node) `, storeBadge(s.store_ok, 'store-status')),
              peer ? [h('span', { class: 'muted' }, '·'), h('span', null, `${peer.node_id} `, peerStoreBadge(peer))] : null,
            ),
          ],
          [
            'License',
            h('span', null, `serial ${s.license_serial}`, digestsDiffer ? h('span', { class: 'bad-text' }, ' — the nodes load different license files') : ''),
          ],
          [
            'Seat policy',
            h(
              'span',
              { 'data-testid': 'policy' },
              h('code', { title: s.policy_digest }, s.policy_digest ? `digest ${s.policy_digest.slice(0, 16)}` : 'not reported'),
              policiesDiffer ? h('span', { class: 'bad-text' }, ' — the nodes enforce different seat policies') : '',
              s.policy_error
                ? h(
                    'div',
                    { class: 'bad-text', 'data-testid': 'policy-error' },
                    `The policy file on disk is refused; the last good policy stays: ${s.policy_error}`,
                  )
                : '',
            ),
          ],
        ]),
      ),
      h('div', { class: 'cards' }, nodeCard(s), peer ? peerCard(s, peer, ageOf) : noPeerCard()),
    );
  }

  return {
    el,
    update,
    tick() {
      const now = Date.now();
      for (const [span, at] of ages) span.textContent = ago(at, now);
    },
  };
}

function cardHead(nodeId: string, isLeader: boolean, ...marks: HTMLElement[]): HTMLElement {
  return h('div', { class: 'card-head' }, h('h3', null, nodeId), isLeader ? badge('leader', 'ok', 'leader-badge') : null, marks);
}

function nodeCard(s: Status): HTMLElement {
  const url = safeHttpUrl(s.console_url);
  return h(
    'article',
    { class: 'card node this', 'data-testid': 'node-card', 'data-node-id': s.node_id, 'data-this-node': 'true', 'aria-label': `node ${s.node_id} (this node)` },
    cardHead(s.node_id, s.leader_node_id === s.node_id, h('span', { class: 'here', 'data-testid': 'this-node-marker' }, 'this node')),
    h('div', { class: 'badges' }, roleBadge(s.role), stateBadge(s.state, 'node-state')),
    facts([
      ['Address', s.advertise_addr || '—'],
      ['Epoch', s.epoch ? String(s.epoch) : '— (holds no lease)'],
      s.lease_valid_for_ms > 0 && ['Lease valid for', duration(s.lease_valid_for_ms)],
      ['Redis', storeBadge(s.store_ok, 'node-store')],
      ['License serial', String(s.license_serial)],
      !!s.license_error && ['License error', h('span', { class: 'bad-text' }, s.license_error)],
      ['Version', s.version || '—'],
      ['Console', url ? h('span', null, url) : '—'],
    ]),
  );
}

function peerCard(s: Status, p: PeerStatus, ageOf: (ms: number) => HTMLElement): HTMLElement {
  const url = safeHttpUrl(p.console_url);
  return h(
    'article',
    { class: `card node${p.reachable ? '' : ' unreachable'}`, 'data-testid': 'node-card', 'data-node-id': p.node_id, 'aria-label': `node ${p.node_id} (peer)` },
    cardHead(p.node_id, s.leader_node_id === p.node_id, h('span', { class: 'muted' }, 'peer')),
    h(
      'div',
      { class: 'badges' },
      roleBadge(p.role),
      stateBadge(p.state, 'node-state'),
      p.reachable ? badge('reachable', 'ok', 'peer-reachable') : badge('unreachable', 'bad', 'peer-reachable'),
    ),
    facts([
      !!p.error && ['Error', h('span', { class: 'bad-text', 'data-testid': 'peer-error' }, p.error)],
      ['Address', p.addr || '—'],
      ['Epoch', p.epoch ? String(p.epoch) : '— (holds no lease)'],
      ['Last heartbeat', p.last_heartbeat_ms ? h('span', null, ageOf(p.last_heartbeat_ms), ` · ${dateTime(p.last_heartbeat_ms)}`) : 'never'],
      !!p.last_heartbeat_ms && ['Clock skew', `${p.clock_skew_ms} ms`],
      [
        'Redis',
        p.reachable
          ? peerStoreBadge(p, 'peer-store')
          : h('span', null, peerStoreBadge(p, 'peer-store'), h('span', { class: 'muted' }, ' while the peer is unreachable')),
      ],
      ['License serial', p.license_serial ? String(p.license_serial) : '—'],
      ['Console', url ? h('a', { href: url, rel: 'noreferrer', 'data-testid': 'peer-console-link' }, url) : '—'],
    ]),
    p.reachable ? null : h('p', { class: 'note' }, `State and epoch as last heard; ${stateName(p.state)} may be out of date.`),
  );
}

function storeBadge(ok: boolean, testid?: string): HTMLElement {
  return ok ? badge('reachable', 'ok', testid) : badge('unreachable', 'bad', testid);
}

/** The peer's word on Redis comes with its heartbeat: stale, so "unknown", while the peer is unreachable. */
function peerStoreBadge(p: PeerStatus, testid?: string): HTMLElement {
  return p.reachable ? storeBadge(p.store_ok, testid) : badge('unknown', 'idle', testid);
}

function noPeerCard(): HTMLElement {
  return h(
    'article',
    { class: 'card node empty', 'data-testid': 'no-peer-card' },
    h('h3', null, 'No peer'),
    h('p', { class: 'muted' }, 'This node has no peer address (LICENSE_PEER_ADDR) and has heard from no peer.'),
  );
}
