import { type Api, messageOf } from '../api.js';
import { h } from '../dom.js';
import type { SessionInfo } from '../types.js';

/** The sign-in page: the admin token (or a client certificate) for a console session. */
export function signInView(api: Api, notice: string | undefined, onSignedIn: (s: SessionInfo) => void): HTMLElement {
  const token = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    spellcheck: 'false',
    'data-testid': 'signin-token',
  });
  const submit = h('button', { type: 'submit', class: 'primary wide', 'data-testid': 'signin-submit' }, 'Sign in');
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'signin-error', hidden: true });

  async function signIn(body: { token?: string }): Promise<void> {
    submit.disabled = true;
    error.hidden = true;
    try {
      const s = await api.post<SessionInfo>('/api/v1/session', body);
      onSignedIn(s);
    } catch (err) {
      error.textContent = `Not signed in: ${messageOf(err)}`;
      error.hidden = false;
      token.select();
    } finally {
      submit.disabled = false;
    }
  }

  const view = h(
    'div',
    { class: 'signin', 'data-testid': 'signin-view' },
    h(
      'form',
      {
        class: 'signin-card',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void signIn({ token: token.value });
        },
      },
      h('div', { class: 'brand' }, h('img', { src: 'logo.svg', alt: '', width: 36, height: 36 }), h('h1', null, 'License Server Control Panel')),
      notice ? h('p', { class: 'notice', role: 'status', 'data-testid': 'signin-message' }, notice) : null,
      h('label', { for: 'token' }, 'Admin token'),
      token,
      h('p', { class: 'hint' }, 'The node’s LICENSE_ADMIN_TOKEN. The session lasts until you sign out or it expires.'),
      submit,
      error,
      h(
        'p',
        { class: 'hint' },
        h('button', { type: 'button', class: 'link', 'data-testid': 'signin-cert', onclick: () => void signIn({}) }, 'Sign in with my client certificate'),
        ' (when the node asks for one).',
      ),
    ),
  );
  queueMicrotask(() => token.focus());
  return view;
}
