import { type Api, ApiError, createApi, messageOf } from './api.js';
import { liveRemaining } from './budget-math.js';
import type { Ctx, View } from './context.js';
import { closeAllDialogs } from './dialogs.js';
import { type Child, h, replace, safeHttpUrl } from './dom.js';
import { duration, roleName, stateName, stateTone, timeOfDay } from './format.js';
import type { ConsoleInfo, SessionInfo, Status } from './types.js';
import { clusterView } from './views/cluster.js';
import { signInView } from './views/signin.js';
import { badge } from './widgets.js';

const POLL_MS = 2000;
// The default route's code loads with the page; the other views and the tools when first
// used (dynamic import is plain script-src 'self'), which keeps the first load small.
const loadTools = () => import('./tools.js');

const ROUTES = [
  { hash: '#/cluster', label: 'Cluster' },
  { hash: '#/budget', label: 'Failover budget' },
  { hash: '#/seats', label: 'Seats' },
] as const;

interface Shell {
  stop(): void;
}

const root = document.getElementById('app') as HTMLElement;
let shell: Shell | undefined;
const api = createApi((message) => {
  if (shell) showSignIn(`Your session has ended. The server said: ${message}`);
});

function showSignIn(notice?: string): void {
  shell?.stop();
  shell = undefined;
  api.setSession(undefined);
  closeAllDialogs();
  document.title = 'Sign in · License Server Control Panel';
  replace(
    root,
    signInView(api, notice, (s) => void start(s)),
  );
}

async function start(session: SessionInfo): Promise<void> {
  api.setSession(session);
  let info: ConsoleInfo;
  try {
    info = await api.get<ConsoleInfo>('/api/v1/console');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showSignIn(`Your session has ended. The server said: ${err.message}`);
    info = { node_id: '', cluster_id: '', vendor_contact: '', send_available: false, version: '' };
  }
  shell?.stop();
  shell = createShell(api, info, session);
}

function createShell(api: Api, info: ConsoleInfo, session: SessionInfo): Shell {
  let status: Status | undefined;
  let statusAt = 0;
  let lastError: string | undefined;
  let lastOkMs = 0;
  let view: View | undefined;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let polling = false;
  let stopped = false;

  const headCluster = h('span', { class: 'head-value', 'data-testid': 'header-cluster' }, info.cluster_id || '…');
  const headNode = h('span', { class: 'head-value', 'data-testid': 'header-node' }, info.node_id || '…');
  const headBadges = h('span', { class: 'badges' });
  const banners = h('div', { class: 'banners', 'data-testid': 'banners', 'aria-live': 'polite' });
  const main = h('main', { id: 'main', tabindex: -1 });
  const toasts = h('div', { class: 'toasts', 'data-testid': 'toasts' });
  const footer = h('span', { 'data-testid': 'last-update' }, 'waiting for the first status…');
  const tabs = ROUTES.map((r) => h('a', { href: r.hash, 'data-testid': `nav-${r.hash.slice(2)}` }, r.label));

  const ctx: Ctx = {
    api,
    info,
    status: () => status,
    statusAt: () => statusAt,
    refresh: () => void poll(),
    toast,
  };

  const menu = h(
    'details',
    { class: 'menu', 'data-testid': 'tools-menu' },
    h('summary', { 'data-testid': 'tools-button' }, 'Tools'),
    h(
      'div',
      { class: 'menu-list', role: 'menu' },
      menuItem('tool-request-key', 'Request activation key', () => tool((t) => t.requestKeyDialog(ctx))),
      menuItem('tool-input-key', 'Input activation key', () => tool((t) => t.inputKeyDialog(ctx))),
      h('hr'),
      menuItem('step-down-button', 'Step down…', () => tool((t) => void t.stepDown(ctx))),
    ),
  );
  function tool(run: (t: Awaited<ReturnType<typeof loadTools>>) => void): void {
    loadTools().then(run, (err) => toast(`Cannot load the console's tools: ${messageOf(err)}`, 'error'));
  }
  function menuItem(testid: string, label: string, run: () => void): HTMLButtonElement {
    return h(
      'button',
      {
        type: 'button',
        role: 'menuitem',
        'data-testid': testid,
        onclick: () => {
          menu.open = false;
          run();
        },
      },
      label,
    );
  }
  const closeMenu = (ev: Event): void => {
    if (menu.open && !menu.contains(ev.target as Node)) menu.open = false;
  };
  document.addEventListener('click', closeMenu);

  const signOut = h(
    'button',
    {
      type: 'button',
      class: 'small',
      'data-testid': 'signout',
      onclick: () => {
        signOut.disabled = true;
        void api.del('/api/v1/session').then(
          () => showSignIn('Signed out.'),
          (err) => showSignIn(`Signed out here; the server said: ${messageOf(err)}`),
        );
      },
    },
    'Sign out',
  );

  replace(
    root,
    h(
      'header',
      { class: 'topbar' },
      h(
        'a',
        { class: 'brand', href: '#/cluster' },
        h('img', { src: 'logo.svg', alt: '', width: 28, height: 28 }),
        h('span', null, 'License Server Control Panel'),
      ),
      h('span', { class: 'head-item' }, h('span', { class: 'head-label' }, 'cluster'), headCluster),
      h('span', { class: 'head-item' }, h('span', { class: 'head-label' }, 'node'), headNode, headBadges),
      h('span', { class: 'grow' }),
      menu,
      h('span', { class: 'session', 'data-testid': 'session-status', title: `Session until ${new Date(session.expires_at_ms).toLocaleString()}` }, 'Signed in'),
      signOut,
    ),
    h('nav', { class: 'tabs', 'aria-label': 'Sections' }, tabs),
    banners,
    main,
    h('footer', null, footer, info.version ? ` · version ${info.version}` : ''),
    toasts,
  );

  let routeSeq = 0;
  async function makeView(hash: string): Promise<View> {
    if (hash === '#/budget') {
      const tools = { requestKey: () => tool((t) => t.requestKeyDialog(ctx)), inputKey: () => tool((t) => t.inputKeyDialog(ctx)) };
      return (await import('./views/budget.js')).budgetView(ctx, tools);
    }
    if (hash === '#/seats') return (await import('./views/seats.js')).seatsView(ctx);
    return clusterView();
  }

  async function route(): Promise<void> {
    const mine = ++routeSeq;
    const hash = ROUTES.some((r) => r.hash === location.hash) ? location.hash : '#/cluster';
    for (const t of tabs) {
      if (t.getAttribute('href') === hash) t.setAttribute('aria-current', 'page');
      else t.removeAttribute('aria-current');
    }
    let next: View;
    try {
      next = await makeView(hash);
    } catch (err) {
      replace(main, h('p', { class: 'error' }, `Cannot load this page of the console: ${messageOf(err)}`));
      return;
    }
    if (mine !== routeSeq || stopped) return next.dispose?.();
    view?.dispose?.();
    view = next;
    replace(main, view.el);
    if (status) view.update(status);
    else main.append(h('p', { class: 'muted loading' }, 'Loading the cluster status…'));
  }
  const onHash = (): void => void route();

  async function poll(): Promise<void> {
    if (stopped || polling) return;
    clearTimeout(pollTimer);
    polling = true;
    try {
      const s = await api.get<Status>('/api/v1/status');
      if (stopped) return;
      status = { ...s, features: s.features ?? [], peer: s.peer ?? null, budget: s.budget ?? null };
      statusAt = performance.now();
      lastError = undefined;
      lastOkMs = Date.now();
      render(status);
    } catch (err) {
      if (stopped) return;
      lastError = messageOf(err);
      renderBanners();
    } finally {
      polling = false;
      if (!stopped && !document.hidden) pollTimer = setTimeout(() => void poll(), POLL_MS);
    }
  }

  function render(s: Status): void {
    headCluster.textContent = s.cluster_id;
    headNode.textContent = s.node_id;
    replace(headBadges, badge(roleName(s.role), 'info', 'header-role'), badge(stateName(s.state), stateTone(s.state), 'header-state'));
    document.title = `${s.node_id} · ${stateName(s.state)} · License Server Control Panel`;
    footer.textContent = `Updated ${timeOfDay(lastOkMs)} · every ${POLL_MS / 1000} s while this tab is visible`;
    renderBanners();
    if (main.querySelector('.loading')) main.querySelector('.loading')?.remove();
    view?.update(s);
  }

  function renderBanners(): void {
    const list: HTMLElement[] = [];
    const add = (tone: 'bad' | 'warn' | 'info', testid: string, ...text: Child[]): void => {
      list.push(h('div', { class: `banner ${tone}`, 'data-testid': testid, role: tone === 'bad' ? 'alert' : 'status' }, text));
    };
    if (lastError) {
      add(
        'bad',
        'banner-stale',
        `Lost contact with this node${lastOkMs ? ` (last status ${timeOfDay(lastOkMs)})` : ''}: ${lastError}. The figures shown are the last known.`,
      );
    }
    const s = status;
    if (s) {
      const peer = s.peer?.node_id ? s.peer : null;
      if (s.state === 'NODE_STATE_FAILOVER_BLOCKED') {
        add(
          'bad',
          'banner-blocked',
          'This node is blocked (FAILOVER_BLOCKED): its failover budget is spent and it grants no new seats. Apply an activation key: ',
          bannerLink('Tools > Input activation key', () => tool((t) => t.inputKeyDialog(ctx))),
          '.',
        );
      } else if (peer?.reachable && peer.state === 'NODE_STATE_FAILOVER_BLOCKED') {
        add(
          'bad',
          'banner-blocked',
          `The redundant node ${peer.node_id} is blocked (FAILOVER_BLOCKED): its failover budget is spent. Apply an activation key on its console.`,
        );
      }
      if (s.state === 'NODE_STATE_FAILOVER_ACTIVE') {
        add(
          'warn',
          'banner-failover',
          `This node serves on its failover budget (${duration(liveRemaining(s, statusAt))} left when last polled). `,
          h('a', { href: '#/budget' }, 'Failover budget'),
        );
      }
      if (!s.store_ok) {
        add(
          'bad',
          'banner-store',
          'Redis is unreachable from this node (store_ok false): it cannot take or renew the lease, and seat changes fail until Redis is back.',
        );
      }
      if (peer && !peer.reachable) {
        add('warn', 'banner-peer', `The peer ${peer.node_id} is unreachable${peer.error ? `: ${peer.error}` : ''}.`);
      }
      if (s.license_error) add('bad', 'banner-license', `This node does not serve with its license: ${s.license_error}`);
      if (s.state === 'NODE_STATE_STANDBY' || s.state === 'NODE_STATE_STARTING') {
        const leader = s.leader_node_id;
        const url = peer && leader === peer.node_id ? safeHttpUrl(peer.console_url) : undefined;
        if (url) {
          add(
            'info',
            'banner-standby',
            'This node is a standby: the active console is at ',
            h('a', { href: url, rel: 'noreferrer', 'data-testid': 'active-console-link' }, url),
            '.',
          );
        } else if (leader) {
          add(
            'info',
            'banner-standby',
            `This node is a standby: the active node is ${leader}${s.leader_addr ? ` (${s.leader_addr})` : ''}; its console address is not known.`,
          );
        } else {
          add('warn', 'banner-standby', 'This node is a standby and no node holds the lease right now.');
        }
      }
    }
    replace(banners, list);
  }

  function bannerLink(label: string, run: () => void): HTMLButtonElement {
    return h('button', { type: 'button', class: 'link', onclick: run }, label);
  }

  function toast(text: string, kind: 'ok' | 'error' = 'ok'): void {
    const t = h(
      'div',
      { class: `toast ${kind}`, 'data-testid': 'toast', 'data-kind': kind, role: kind === 'error' ? 'alert' : 'status' },
      h('span', null, text),
      h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'),
    );
    toasts.append(t);
    setTimeout(() => t.remove(), kind === 'error' ? 20_000 : 8_000);
  }

  const ticker = setInterval(() => {
    if (!document.hidden) view?.tick?.();
  }, 1000);
  const onVisibility = (): void => {
    if (document.hidden) clearTimeout(pollTimer);
    else void poll();
  };
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('hashchange', onHash);
  void route();
  void poll();

  return {
    stop() {
      stopped = true;
      clearTimeout(pollTimer);
      clearInterval(ticker);
      document.removeEventListener('visibilitychange', onVisibility);
      document.removeEventListener('click', closeMenu);
      window.removeEventListener('hashchange', onHash);
      view?.dispose?.();
    },
  };
}

async function boot(): Promise<void> {
  try {
    await start(await api.get<SessionInfo>('/api/v1/session'));
  } catch (err) {
    showSignIn(err instanceof ApiError && err.status === 401 ? undefined : `Cannot reach the console API: ${messageOf(err)}`);
  }
}

void boot();
