import { messageOf } from '../api.js';
import type { Ctx, View } from '../context.js';
import { confirmDialog } from '../dialogs.js';
import { h, replace } from '../dom.js';
import { dateTime, seats } from '../format.js';
import type { FeatureStatus, LeaseInfo, ListLeasesResponse, ReleaseLeaseResponse, Status } from '../types.js';
import { bar, facts, section } from '../widgets.js';

const PAGE_SIZE = 50;

interface Filter {
  feature: string;
  user: string;
  hostname: string;
}

/** #/seats: seats per feature (live) and the leases, paged and filtered, each with a force-release. */
export function seatsView(ctx: Ctx): View {
  const featureBody = h('tbody');
  const featureSelect = h('select', { id: 'f-feature', name: 'feature', 'data-testid': 'filter-feature' }, h('option', { value: '' }, 'all features'));
  const userInput = h('input', { id: 'f-user', name: 'user', type: 'text', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'filter-user' });
  const hostInput = h('input', { id: 'f-host', name: 'hostname', type: 'text', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'filter-host' });
  const leaseBody = h('tbody');
  const leaseNote = h('p', { class: 'muted', 'data-testid': 'leases-status' }, 'Loading leases…');
  const prev = h('button', { type: 'button', 'data-testid': 'leases-prev', disabled: true, onclick: () => void go(page - 1) }, '← Previous');
  const next = h('button', { type: 'button', 'data-testid': 'leases-next', disabled: true, onclick: () => void go(page + 1) }, 'Next →');
  const pageLabel = h('span', { class: 'muted' });

  let filter: Filter = { feature: '', user: '', hostname: '' };
  /** page_token of each page seen so far: tokens[0] is "" (the first page). */
  let tokens: string[] = [''];
  let page = 0;
  let nextToken = '';
  let loading = false;
  let seq = 0;
  let featureNames = '';

  const form = h(
    'form',
    {
      class: 'filters',
      'data-testid': 'lease-filter',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        filter = { feature: featureSelect.value, user: userInput.value.trim(), hostname: hostInput.value.trim() };
        tokens = [''];
        void go(0);
      },
    },
    h('label', { for: 'f-feature' }, 'Feature'),
    featureSelect,
    h('label', { for: 'f-user' }, 'User'),
    userInput,
    h('label', { for: 'f-host' }, 'Host'),
    hostInput,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'filter-apply' }, 'Filter'),
    h(
      'button',
      {
        type: 'button',
        'data-testid': 'filter-clear',
        onclick: () => {
          featureSelect.value = '';
          userInput.value = '';
          hostInput.value = '';
          form.requestSubmit();
        },
      },
      'Clear',
    ),
  );

  const el = h(
    'div',
    { class: 'view', 'data-testid': 'seats-view' },
    section(
      'Features and seats',
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'grid features' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'Feature'),
              h('th', null, 'In use / licensed'),
              h('th', { class: 'barcol' }, 'Usage'),
              h('th', { class: 'num' }, 'Queued'),
              h('th', null, 'Expires'),
            ),
          ),
          featureBody,
        ),
      ),
    ),
    section(
      'Sessions and leases',
      form,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'grid leases' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'Feature'),
              h('th', { class: 'num' }, 'Seats'),
              h('th', null, 'Client id'),
              h('th', null, 'User'),
              h('th', null, 'Host'),
              h('th', { class: 'num' }, 'PID'),
              h('th', null, 'Session'),
              h('th', null, 'Granted'),
              h('th', null, 'Expires'),
              h('th', null, h('span', { class: 'sr-only' }, 'Actions')),
            ),
          ),
          leaseBody,
        ),
      ),
      h('div', { class: 'pager' }, leaseNote, h('span', { class: 'grow' }), pageLabel, prev, next),
    ),
  );

  function setFeatures(features: readonly FeatureStatus[]): void {
    replace(
      featureBody,
      features.length === 0
        ? h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'The license lists no features.'))
        : features.map((f) => {
            const used = f.seats_total > 0 ? f.seats_in_use / f.seats_total : 0;
            const expired = f.expires_at_ms > 0 && f.expires_at_ms < Date.now();
            return h(
              'tr',
              { 'data-testid': 'feature-row', 'data-feature': f.name },
              h(
                'th',
                { scope: 'row' },
                h('button', { type: 'button', class: 'link', title: `Show the leases of ${f.name}`, onclick: () => showFeature(f.name) }, f.name),
              ),
              h('td', { class: 'nowrap', 'data-testid': 'feature-seats' }, seats(f.seats_in_use, f.seats_total)),
              h('td', { class: 'barcol' }, bar(used, used >= 1 ? 'bad' : used >= 0.9 ? 'warn' : 'ok', `${f.name} seats in use`)),
              h(
                'td',
                { class: f.queue_length > 0 ? 'num warn-text' : 'num muted', 'data-testid': 'feature-queue', title: 'checkouts waiting for a seat' },
                f.queue_length > 0 ? String(f.queue_length) : '–',
              ),
              h(
                'td',
                { class: expired ? 'bad-text nowrap' : 'nowrap' },
                f.expires_at_ms ? `${dateTime(f.expires_at_ms).slice(0, 10)}${expired ? ' (expired)' : ''}` : 'never',
              ),
            );
          }),
    );
    const names = features.map((f) => f.name).join('\n');
    if (names !== featureNames) {
      featureNames = names;
      const keep = featureSelect.value;
      replace(
        featureSelect,
        h('option', { value: '' }, 'all features'),
        features.map((f) => h('option', { value: f.name }, f.name)),
      );
      featureSelect.value = features.some((f) => f.name === keep) ? keep : '';
    }
  }

  function showFeature(name: string): void {
    featureSelect.value = name;
    form.requestSubmit();
  }

  async function go(p: number): Promise<void> {
    if (p < 0 || p >= tokens.length) return;
    page = p;
    await load();
  }

  async function load(): Promise<void> {
    const mine = ++seq;
    loading = true;
    try {
      const r = await ctx.api.get<ListLeasesResponse>('/api/v1/leases', {
        feature: filter.feature,
        user: filter.user,
        hostname: filter.hostname,
        page_size: PAGE_SIZE,
        page_token: tokens[page] ?? '',
      });
      if (mine !== seq) return;
      const leases = r.leases ?? [];
      nextToken = r.next_page_token ?? '';
      tokens = tokens.slice(0, page + 1);
      if (nextToken) tokens.push(nextToken);
      replace(
        leaseBody,
        leases.length === 0 ? h('tr', null, h('td', { colspan: 10, class: 'muted', 'data-testid': 'leases-empty' }, 'No leases match.')) : leases.map(leaseRow),
      );
      const filtered = filter.feature || filter.user || filter.hostname;
      leaseNote.textContent = `${leases.length} lease${leases.length === 1 ? '' : 's'} on this page${filtered ? ' (filtered)' : ''} · refreshed ${dateTime(Date.now()).slice(11)}`;
      leaseNote.className = 'muted';
      pageLabel.textContent = `Page ${page + 1}`;
      prev.disabled = page === 0;
      next.disabled = !nextToken;
    } catch (err) {
      if (mine !== seq) return;
      leaseNote.textContent = `Cannot list leases: ${messageOf(err)}`;
      leaseNote.className = 'error';
    } finally {
      if (mine === seq) loading = false;
    }
  }

  function leaseRow(l: LeaseInfo): HTMLTableRowElement {
    return h(
      'tr',
      { 'data-testid': 'lease-row', 'data-lease-id': l.lease_id },
      h('td', null, l.feature),
      h('td', { class: 'num' }, String(l.count)),
      h('td', { class: 'client', 'data-testid': 'lease-client' }, l.client_id),
      h('td', { 'data-testid': 'lease-user' }, l.user),
      h('td', { 'data-testid': 'lease-host' }, l.hostname),
      h('td', { class: 'num' }, l.pid ? String(l.pid) : '—'),
      h('td', { class: 'nowrap' }, h('code', { title: l.session_id }, shortId(l.session_id))),
      h('td', { class: 'nowrap' }, dateTime(l.granted_at_ms)),
      h('td', { class: 'nowrap' }, dateTime(l.expires_at_ms)),
      h('td', null, h('button', { type: 'button', class: 'small danger-outline', 'data-testid': 'release-button', onclick: () => void release(l) }, 'Release')),
    );
  }

  async function release(l: LeaseInfo): Promise<void> {
    const s = ctx.status();
    const ok = await confirmDialog(
      { title: 'Force-release this lease?', okLabel: 'Release lease', danger: true },
      h(
        'p',
        null,
        'The seats go back to the pool now and the client’s next heartbeat no longer lists them (like FlexNet’s lmremove). The application may stop working with this feature.',
      ),
      facts([
        ['Feature', `${l.feature} × ${l.count}`],
        ['Client id', h('span', { 'data-testid': 'confirm-client' }, l.client_id)],
        ['User', l.user],
        ['Host', l.hostname],
        ['PID', l.pid ? String(l.pid) : '—'],
        ['Lease', h('code', null, l.lease_id)],
      ]),
      s && s.state !== 'NODE_STATE_ACTIVE' && s.state !== 'NODE_STATE_FAILOVER_ACTIVE' && s.state !== 'NODE_STATE_FAILOVER_BLOCKED'
        ? h('p', { class: 'warn-text' }, `Only the active node frees leases; this node is ${s.state.replace(/^NODE_STATE_/, '')}.`)
        : null,
    );
    if (!ok) return;
    try {
      const r = await ctx.api.post<ReleaseLeaseResponse>('/api/v1/leases/release', { lease_id: l.lease_id });
      ctx.toast(
        r.released
          ? `Released ${l.feature} × ${l.count} of client ${l.client_id} (${l.user}@${l.hostname}).`
          : 'No such lease was held any more (already released or expired).',
        'ok',
      );
    } catch (err) {
      ctx.toast(`Release refused: ${messageOf(err)}`, 'error');
    }
    ctx.refresh();
    void load();
  }

  void load();

  return {
    el,
    update(s: Status) {
      setFeatures(s.features ?? []);
      if (!loading) void load();
    },
  };
}

function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}
