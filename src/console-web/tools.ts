import { messageOf } from './api.js';
import type { Ctx } from './context.js';
import { confirmDialog, openDialog } from './dialogs.js';
import { type Child, h, replace } from './dom.js';
import { dateTime, duration, stateName } from './format.js';
import type { Budget, CheckActivationKeyResponse, SendActivationResponse, StepDownResponse } from './types.js';
import { facts } from './widgets.js';

/** Tools > Request activation key: the request key, to copy, mail to the vendor, or send automatically. */
export function requestKeyDialog(ctx: Ctx): void {
  const body = h('div', { 'data-testid': 'request-key-body' }, h('p', { class: 'muted' }, 'Asking this node for a request key…'));
  openDialog({ title: 'Request activation key', testid: 'request-key-dialog', wide: true }, body);
  void ctx.api.post<{ request_key: string }>('/api/v1/activation/request').then(
    (r) => replace(body, requestKeyShown(ctx, r.request_key)),
    (err) => replace(body, h('p', { class: 'error', 'data-testid': 'request-key-error', role: 'alert' }, messageOf(err)), sendBlock(ctx)),
  );
}

function requestKeyShown(ctx: Ctx, key: string): Child[] {
  const keyEl = h('pre', { class: 'key', 'data-testid': 'request-key', tabindex: 0 }, key);
  const copied = h('span', { class: 'muted', 'data-testid': 'copy-status', 'aria-live': 'polite' });
  const vendor = validEmail(ctx.info.vendor_contact);
  const s = ctx.status();
  const subject = `Activation request: cluster ${ctx.info.cluster_id}, node ${ctx.info.node_id}`;
  const mailBody =
    `Please sign an activation key for this request key:\n\n${key}\n\n` +
    `Cluster: ${ctx.info.cluster_id}\nNode: ${ctx.info.node_id}\n` +
    (s?.budget ? `Episode: ${s.budget.episode_id || '-'}\nActivations applied: ${s.budget.activations}\n` : '');
  const href = `mailto:${vendor ?? ''}?subject=${encodeURIComponent(subject)}&body=${encodeURIComponent(mailBody)}`;
  return [
    h('h3', null, 'This is your request key'),
    keyEl,
    h(
      'div',
      { class: 'actions left' },
      h(
        'button',
        {
          type: 'button',
          class: 'primary',
          'data-testid': 'copy-request-key',
          onclick: () =>
            void copyText(key, keyEl).then((ok) => {
              copied.textContent = ok ? 'Copied.' : 'Cannot copy here: select the key and copy it by hand.';
            }),
        },
        'Copy',
      ),
      h('a', { class: 'button', href, 'data-testid': 'mailto-vendor' }, vendor ? `E-mail to ${vendor}` : 'E-mail to the vendor'),
      copied,
    ),
    h(
      'p',
      { class: 'muted' },
      vendor
        ? 'Send it to your vendor; the answer is an activation key (LAK1…) to enter with Tools > Input activation key.'
        : 'No vendor address is configured on this node (LICENSE_VENDOR_CONTACT): send the key to your vendor, then enter their activation key (LAK1…) with Tools > Input activation key.',
    ),
    sendBlock(ctx),
  ];
}

/** "Send automatically": request out to the vendor's activation service, key back, applied. */
function sendBlock(ctx: Ctx): HTMLElement | null {
  if (!ctx.info.send_available) return null;
  const result = h('div', { 'aria-live': 'polite' });
  const button = h(
    'button',
    {
      type: 'button',
      'data-testid': 'send-request',
      onclick: () => {
        button.disabled = true;
        replace(result, h('p', { class: 'muted' }, 'Sending the request to the vendor…'));
        ctx.api.post<SendActivationResponse>('/api/v1/activation/send').then(
          (r) => {
            replace(
              result,
              h('p', { class: 'success', 'data-testid': 'send-result', role: 'status' }, `Activation key received and applied. ${budgetSentence(r.budget)}`),
              h('pre', { class: 'key small' }, r.activation_key),
            );
            ctx.refresh();
          },
          (err) => {
            button.disabled = false;
            replace(result, h('p', { class: 'error', 'data-testid': 'send-error', role: 'alert' }, messageOf(err)));
          },
        );
      },
    },
    'Send automatically',
  );
  return h(
    'div',
    { class: 'subpanel' },
    h('p', null, 'Or let this node send the request to the vendor’s activation service and apply the key it answers, in one step.'),
    button,
    result,
  );
}

/** Tools > Input activation key: paste, check what it grants, apply, see the result. */
export function inputKeyDialog(ctx: Ctx): void {
  const input = h('textarea', {
    id: 'activation-key',
    rows: 5,
    spellcheck: 'false',
    autocomplete: 'off',
    placeholder: 'LAK1…',
    'data-testid': 'activation-key-input',
  });
  const checkBtn = h('button', { type: 'button', 'data-testid': 'activation-check' }, 'Check key');
  const applyBtn = h('button', { type: 'button', class: 'primary', disabled: true, 'data-testid': 'activation-apply' }, 'Apply key');
  const out = h('div', { 'aria-live': 'polite' });
  let checkedKey: string | undefined;

  input.addEventListener('input', () => {
    if (checkedKey !== undefined && input.value.trim() !== checkedKey) {
      checkedKey = undefined;
      applyBtn.disabled = true;
      replace(out, h('p', { class: 'muted' }, 'The key changed: check it again before applying.'));
    }
  });

  checkBtn.addEventListener('click', () => {
    const key = input.value.trim();
    if (!key) {
      replace(out, h('p', { class: 'error', 'data-testid': 'activation-error', role: 'alert' }, 'Paste the activation key (LAK1…) first.'));
      return;
    }
    checkBtn.disabled = true;
    applyBtn.disabled = true;
    replace(out, h('p', { class: 'muted' }, 'Checking…'));
    ctx.api.post<CheckActivationKeyResponse>('/api/v1/activation/check', { activation_key: key }).then(
      (r) => {
        checkBtn.disabled = false;
        checkedKey = key;
        applyBtn.disabled = false;
        replace(
          out,
          h(
            'div',
            { class: 'check-ok', 'data-testid': 'activation-check-result', role: 'status' },
            h('p', { class: 'success' }, `This key is valid and adds ${duration(r.granted_ms)} to the failover budget.`),
            facts([
              ['Grants', `+${duration(r.granted_ms)}`],
              ['For node', `${r.node_id} in cluster ${r.cluster_id}`],
              ['Episode', h('span', null, h('code', null, r.episode_id), ` · activation #${r.seq}`)],
              ['Apply before', dateTime(r.expires_at_ms)],
              ['Budget after', budgetSentence(r.budget_after)],
            ]),
          ),
        );
      },
      (err) => {
        checkBtn.disabled = false;
        replace(out, h('p', { class: 'error', 'data-testid': 'activation-error', role: 'alert' }, `Refused: ${messageOf(err)}`));
      },
    );
  });

  applyBtn.addEventListener('click', () => {
    const key = checkedKey;
    if (!key) return;
    checkBtn.disabled = true;
    applyBtn.disabled = true;
    replace(out, h('p', { class: 'muted' }, 'Applying…'));
    ctx.api.post<{ budget: Budget | null }>('/api/v1/activation/apply', { activation_key: key }).then(
      (r) => {
        checkBtn.disabled = false;
        checkedKey = undefined;
        replace(out, h('p', { class: 'success', 'data-testid': 'activation-result', role: 'status' }, `Applied. ${budgetSentence(r.budget)}`));
        ctx.refresh();
      },
      (err) => {
        checkBtn.disabled = false;
        replace(out, h('p', { class: 'error', 'data-testid': 'activation-error', role: 'alert' }, `Refused: ${messageOf(err)}`));
      },
    );
  });

  openDialog(
    { title: 'Input activation key', testid: 'activation-dialog', wide: true },
    h('label', { for: 'activation-key' }, 'Activation key from the vendor'),
    input,
    h('p', { class: 'muted' }, 'Check the key to see what it grants and for which node and episode; nothing changes until you apply it.'),
    h('div', { class: 'actions left' }, checkBtn, applyBtn),
    out,
  );
  input.focus();
}

/** Tools > Step down: a planned handover of the lease, after a confirmation. */
export async function stepDown(ctx: Ctx): Promise<void> {
  const s = ctx.status();
  const peer = s?.peer?.node_id;
  const ok = await confirmDialog(
    { title: `Step down ${ctx.info.node_id}?`, okLabel: 'Step down', danger: true },
    h(
      'p',
      null,
      `This node stops granting seats, releases the lease and tells its peer; ${peer ? `${peer} takes over` : 'the peer takes over'} in about one round trip. Clients follow the new leader; held seats stay held.`,
    ),
    s && s.state !== 'NODE_STATE_ACTIVE' && s.state !== 'NODE_STATE_FAILOVER_ACTIVE'
      ? h('p', { class: 'warn-text' }, `This node is ${stateName(s.state)}: it may hold no lease to give up.`)
      : null,
    s?.peer && !s.peer.reachable ? h('p', { class: 'bad-text' }, `The peer ${s.peer.node_id} is unreachable: no node may serve after this.`) : null,
  );
  if (!ok) return;
  try {
    const r = await ctx.api.post<StepDownResponse>('/api/v1/step-down');
    ctx.toast(
      r.stepped_down ? `Stepped down: this node is now ${stateName(r.state)}.` : `Nothing to step down from: this node held no lease (${stateName(r.state)}).`,
      'ok',
    );
  } catch (err) {
    ctx.toast(`Step-down refused: ${messageOf(err)}`, 'error');
  }
  ctx.refresh();
}

function budgetSentence(b: Budget | null | undefined): string {
  if (!b) return '';
  return `The failover budget has ${duration(b.remaining_ms)} left of ${duration(b.granted_ms)} granted; ${b.blocked ? 'the node is still blocked' : 'not blocked'}.`;
}

function validEmail(s: string): string | undefined {
  const t = s.trim();
  return /^[^\s@?&#:/]+@[^\s@?&#:/]+$/.test(t) ? t : undefined;
}

async function copyText(text: string, el: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Plain http on a LAN address is no secure context: select the text for the user instead.
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    return false;
  }
}
