import { messageOf } from '../api.js';
import { budgetTone, chargingNode, liveRemaining } from '../budget-math.js';
import type { Ctx, View } from '../context.js';
import { h, replace } from '../dom.js';
import { count, dateTime, duration } from '../format.js';
import type { AuditEntry, GetAuditResponse, Status } from '../types.js';
import { bar, facts, section, setBar } from '../widgets.js';

const AUDIT_LIMIT = 50;
const AUDIT_EVERY_MS = 10_000;

/** #/budget: the failover budget as a live countdown and a bar, and the audit trail. */
export function budgetView(ctx: Ctx, tools: { requestKey: () => void; inputKey: () => void }): View {
  const remainingText = h('span', { class: 'big', 'data-testid': 'budget-remaining' }, '—');
  const grantedText = h('span', { class: 'muted' });
  const meter = bar(0, 'ok', 'failover budget remaining', 'budget-bar');
  const blockedBadge = h('span');
  const countingLine = h('p', { class: 'counting', 'data-testid': 'budget-counting' });
  const details = h('div');
  const audit = h('div', { 'data-testid': 'audit' }, h('p', { class: 'muted' }, 'Loading the audit trail…'));
  let auditAt = 0;
  let auditEpisode: string | undefined;
  let auditBusy = false;

  const el = h(
    'div',
    { class: 'view', 'data-testid': 'budget-view' },
    section(
      'Failover budget',
      h('div', { class: 'budget-top' }, h('div', null, remainingText, ' ', grantedText), blockedBadge),
      meter,
      countingLine,
      details,
      h(
        'div',
        { class: 'actions left' },
        h('button', { type: 'button', 'data-testid': 'budget-request-key', onclick: tools.requestKey }, 'Request activation key'),
        h('button', { type: 'button', 'data-testid': 'budget-input-key', onclick: tools.inputKey }, 'Input activation key'),
      ),
    ),
    section('Audit trail', audit),
  );

  function tick(): void {
    const s = ctx.status();
    if (!s?.budget) return;
    const remaining = liveRemaining(s, ctx.statusAt());
    remainingText.textContent = duration(remaining);
    setBar(meter, s.budget.granted_ms > 0 ? remaining / s.budget.granted_ms : 0, budgetTone(remaining, s.budget.granted_ms, s.budget.blocked));
  }

  function update(s: Status): void {
    const b = s.budget;
    if (!b) {
      remainingText.textContent = '—';
      replace(details, h('p', { class: 'muted' }, 'This node reports no failover budget.'));
      return;
    }
    grantedText.textContent = `left of ${duration(b.granted_ms)} granted`;
    replace(
      blockedBadge,
      b.blocked
        ? h('span', { class: 'badge bad', 'data-testid': 'budget-blocked', 'data-blocked': 'true' }, 'BLOCKED')
        : h('span', { class: 'badge ok', 'data-testid': 'budget-blocked', 'data-blocked': 'false' }, 'not blocked'),
    );
    const charging = chargingNode(s);
    countingLine.textContent = b.blocked
      ? 'Spent: the redundant grants no new seats until an activation key is applied. Blocked time is not charged.'
      : charging
        ? `Counting down: ${charging} serves on the failover budget.`
        : 'Not counting down: no redundant node is serving.';
    countingLine.className = `counting ${b.blocked ? 'bad-text' : charging ? 'warn-text' : 'muted'}`;
    replace(
      details,
      facts([
        [
          'Episode',
          b.episode_id
            ? h('code', { 'data-testid': 'budget-episode' }, b.episode_id)
            : h('span', { class: 'muted', 'data-testid': 'budget-episode' }, 'none open'),
        ],
        ['Consumed', duration(b.consumed_ms)],
        ['Granted', duration(b.granted_ms)],
        ['Activations applied', h('span', { 'data-testid': 'budget-activations' }, String(b.activations))],
      ]),
    );
    tick();
    if (!auditBusy && (Date.now() - auditAt > AUDIT_EVERY_MS || auditEpisode !== `${b.episode_id}/${b.activations}/${b.blocked}`)) {
      auditEpisode = `${b.episode_id}/${b.activations}/${b.blocked}`;
      void loadAudit();
    }
  }

  async function loadAudit(): Promise<void> {
    auditBusy = true;
    try {
      const r = await ctx.api.get<GetAuditResponse>('/api/v1/audit', { limit: AUDIT_LIMIT });
      auditAt = Date.now();
      replace(audit, auditTable(r));
    } catch (err) {
      replace(audit, h('p', { class: 'error', 'data-testid': 'audit-error' }, `Cannot read the audit trail: ${messageOf(err)}`));
    } finally {
      auditBusy = false;
    }
  }

  return { el, update, tick };
}

function parseEntry(text: string): AuditEntry | undefined {
  try {
    const e = JSON.parse(text) as Partial<AuditEntry> | null;
    if (!e || typeof e !== 'object' || typeof e.seq !== 'number') return undefined;
    return {
      seq: e.seq,
      at_ms: Number(e.at_ms) || 0,
      node_id: String(e.node_id ?? ''),
      episode_id: String(e.episode_id ?? ''),
      event: String(e.event ?? ''),
      detail: e.detail ?? {},
    };
  } catch {
    return undefined;
  }
}

function detailText(d: AuditEntry['detail']): string {
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'number' && /_ms$/.test(k) ? duration(v) : String(v)}`)
    .join(', ');
}

function auditTable(r: GetAuditResponse): HTMLElement {
  const entries = r.entries ?? [];
  if (entries.length === 0) {
    return h('p', { class: 'muted', 'data-testid': 'audit-empty' }, 'No audit entries yet: the trail starts with the first failover episode.');
  }
  const rows = entries
    .slice()
    .reverse()
    .map((text) => {
      const e = parseEntry(text);
      if (!e) return h('tr', { 'data-testid': 'audit-row' }, h('td', { colspan: 5, class: 'bad-text' }, `unreadable entry: ${text.slice(0, 120)}`));
      return h(
        'tr',
        { 'data-testid': 'audit-row' },
        h('td', { class: 'num' }, String(e.seq)),
        h('td', { class: 'nowrap' }, dateTime(e.at_ms)),
        h('td', null, e.node_id),
        h('td', null, h('span', { class: `event ${e.event}` }, e.event.replace(/_/g, ' '))),
        h('td', { class: 'detail' }, detailText(e.detail)),
      );
    });
  return h(
    'div',
    null,
    h(
      'p',
      { class: 'muted' },
      `Newest first, the last ${count(entries.length, 'entry', 'entries')}. Head in Redis: `,
      h('code', null, r.head || '—'),
      r.local_head ? h('span', null, ' · this node’s own chain: ', h('code', null, r.local_head)) : null,
      '. Verify the chain with licensectl audit --verify.',
    ),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'grid' },
        h(
          'thead',
          null,
          h('tr', null, h('th', { class: 'num' }, '#'), h('th', null, 'Time'), h('th', null, 'Node'), h('th', null, 'Event'), h('th', null, 'Detail')),
        ),
        h('tbody', null, rows),
      ),
    ),
  );
}
