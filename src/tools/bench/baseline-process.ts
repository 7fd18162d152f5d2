import path from 'node:path';
import { forkCompiled, firstMessage, stopChild } from './child';
import { BASELINE_REDIS_URL_ENV, type BaselineToParent, isBaselineToParent } from './protocol';

export const BASELINE_MAIN_JS = path.join(__dirname, 'baseline-main.js');

export interface BaselineProcess {
  readonly pid: number;
  readonly addr: string;
  stop(): Promise<void>;
}

/** Starts the baseline SeatService (./baseline-server.ts) in its own process. */
export async function startBaselineProcess(redisUrl: string): Promise<BaselineProcess> {
  const child = forkCompiled(BASELINE_MAIN_JS, { [BASELINE_REDIS_URL_ENV]: redisUrl });
  let m: BaselineToParent;
  try {
    m = await firstMessage(child, isBaselineToParent, 'baseline server');
  } catch (err) {
    await stopChild(child, 500);
    throw err;
  }
  if (m.type === 'error') {
    await stopChild(child, 500);
    throw new Error(`baseline server failed to start: ${m.error}`);
  }
  return { pid: child.pid ?? 0, addr: `127.0.0.1:${m.port}`, stop: () => stopChild(child) };
}
