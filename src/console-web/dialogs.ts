import { type Child, h } from './dom.js';

export interface DialogHandle {
  readonly el: HTMLDialogElement;
  close(): void;
}

/** A modal <dialog> appended to the body and removed again when it closes (Esc, the × or close()). */
export function openDialog(opts: { title: string; testid: string; wide?: boolean; onClose?: () => void }, ...body: Child[]): DialogHandle {
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const el = h(
    'dialog',
    { class: opts.wide ? 'dlg wide' : 'dlg', 'data-testid': opts.testid, 'aria-labelledby': titleId },
    h(
      'div',
      { class: 'dlg-head' },
      h('h2', { id: titleId }, opts.title),
      h('button', { type: 'button', class: 'icon', 'aria-label': 'Close', 'data-testid': 'dialog-close', onclick: () => el.close() }, '×'),
    ),
    h('div', { class: 'dlg-body' }, body),
  );
  el.addEventListener('close', () => {
    el.remove();
    opts.onClose?.();
  });
  document.body.appendChild(el);
  el.showModal();
  return { el, close: () => el.close() };
}

/** Closes every open dialog (sign-out, session ended). */
export function closeAllDialogs(): void {
  for (const d of document.querySelectorAll('dialog')) d.close();
}

/**
 * Asks before something that cannot be undone; resolves true only on the confirm button.
 * Buttons: data-testid confirm-ok / confirm-cancel, the dialog confirm-dialog.
 */
export function confirmDialog(opts: { title: string; okLabel: string; danger?: boolean }, ...body: Child[]): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false;
    const d = openDialog(
      { title: opts.title, testid: 'confirm-dialog', onClose: () => resolve(answer) },
      body,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', 'data-testid': 'confirm-cancel', onclick: () => d.close() }, 'Cancel'),
        h(
          'button',
          {
            type: 'button',
            class: opts.danger ? 'danger' : 'primary',
            'data-testid': 'confirm-ok',
            onclick: () => {
              answer = true;
              d.close();
            },
          },
          opts.okLabel,
        ),
      ),
    );
    // The safe choice has the focus: Enter alone never confirms.
    d.el.querySelector<HTMLButtonElement>('[data-testid="confirm-cancel"]')?.focus();
  });
}
