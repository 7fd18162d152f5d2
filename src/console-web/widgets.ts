import { type Child, h } from './dom.js';
import { roleName, stateName, stateTone } from './format.js';

export function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'idle' | 'info' = 'idle', testid?: string): HTMLSpanElement {
  return h('span', { class: `badge ${tone}`, 'data-testid': testid }, text);
}

export function stateBadge(state: string, testid?: string): HTMLSpanElement {
  return badge(stateName(state), stateTone(state), testid);
}

export function roleBadge(role: string): HTMLSpanElement {
  return badge(roleName(role), 'info');
}

/** A definition list of label / value rows; rows with an undefined value are left out. */
export function facts(rows: readonly (readonly [string, Child] | false)[], cls = 'facts'): HTMLDListElement {
  const dl = h('dl', { class: cls });
  for (const r of rows) {
    if (!r || r[1] === undefined) continue;
    dl.append(h('dt', null, r[0]), h('dd', null, r[1]));
  }
  return dl;
}

/** A horizontal bar; the width is set through the CSSOM (CSP allows it, unlike a style attribute). */
export function bar(fraction: number, tone: 'ok' | 'warn' | 'bad', label: string, testid?: string): HTMLDivElement {
  const fill = h('div', { class: `bar-fill ${tone}` });
  const el = h('div', { class: 'bar', role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'data-testid': testid }, fill);
  setBar(el, fraction, tone);
  return el;
}

export function setBar(el: HTMLElement, fraction: number, tone: 'ok' | 'warn' | 'bad'): void {
  const pct = Math.round(Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0)) * 1000) / 10;
  el.setAttribute('aria-valuenow', String(pct));
  const fill = el.firstElementChild as HTMLElement | null;
  if (!fill) return;
  fill.className = `bar-fill ${tone}`;
  fill.style.width = `${pct}%`;
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', null, title), children);
}
