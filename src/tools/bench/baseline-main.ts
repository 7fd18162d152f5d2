/**
 * Child-process entry of the baseline server (forked by ./baseline-process.ts), so
 * it never shares an event loop with the load workers or the bench parent.
 */
import { errorMessage } from '../../server/errors';
import { createBaselineServer } from './baseline-server';
import { BASELINE_REDIS_URL_ENV, type BaselineToParent } from './protocol';

const send = (m: BaselineToParent): void => {
  process.send?.(m);
};

// The parent's going away (even SIGKILL) closes the IPC channel: do not outlive it.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the parent decides when we stop.
process.on('SIGINT', () => {});

const redisUrl = process.env[BASELINE_REDIS_URL_ENV];
if (!redisUrl) {
  send({ type: 'error', error: `${BASELINE_REDIS_URL_ENV} is not set` });
  process.exit(2);
}
createBaselineServer({ redisUrl }).then(
  (server) => {
    process.on('SIGTERM', () => {
      server.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    send({ type: 'listening', port: server.port });
  },
  (err: unknown) => {
    send({ type: 'error', error: errorMessage(err) });
    process.exit(1);
  },
);
