import type { Api } from './api.js';
import type { ConsoleInfo, Status } from './types.js';

/** What a view or a dialog gets from the app: the API, the node's console settings and the last status. */
export interface Ctx {
  readonly api: Api;
  readonly info: ConsoleInfo;
  status(): Status | undefined;
  /** performance.now() when the last status arrived (the budget countdown runs from it). */
  statusAt(): number;
  /** Polls the status now (after an action changed it). */
  refresh(): void;
  toast(text: string, kind?: 'ok' | 'error'): void;
}

/** One routed page: built once when the route opens, updated at every status poll. */
export interface View {
  readonly el: HTMLElement;
  update(s: Status): void;
  /** Every second, between polls (countdowns, ages). */
  tick?(): void;
  dispose?(): void;
}
