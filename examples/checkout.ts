/**
 * Checks out a seat and holds it until Ctrl-C, logging what the SDK sees on the way
 * (heartbeats, failovers, lost seats). Try it against `npm run dev`, then kill or step
 * down the active node and watch the seat survive the failover:
 *
 *   npx tsx examples/checkout.ts --endpoints 127.0.0.1:7400,127.0.0.1:7401 --feature cad-pro
 */
import { parseArgs } from 'node:util';
import { LicenseClient, LicenseClientError, type Seat } from '../src/sdk/index';

const USAGE = 'usage: npx tsx examples/checkout.ts --endpoints HOST:PORT[,HOST:PORT...] --feature NAME [--count N] [--client-id ID] [--verbose]';

function log(msg: string, extra?: object): void {
  console.log(`${new Date().toISOString()} ${msg}${extra ? ` ${JSON.stringify(extra)}` : ''}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      endpoints: { type: 'string' },
      feature: { type: 'string' },
      count: { type: 'string', default: '1' },
      'client-id': { type: 'string', default: 'example-checkout' },
      verbose: { type: 'boolean', short: 'v', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.endpoints || !values.feature) {
    console.error(USAGE);
    return 2;
  }
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1) {
    console.error(`--count must be a positive integer, got ${values.count}`);
    return 2;
  }

  const client = new LicenseClient({
    endpoints: values.endpoints
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== ''),
    clientId: values['client-id'],
  });
  client.on('failover', ({ from, to }) => log('failover: the cluster now answers from another node', { from, to }));
  client.on('blocked', ({ endpoint, error }) => log('server blocked', { endpoint, message: error.message }));
  client.on('seatLost', ({ seat, reason, error }) => log('seat lost', { leaseId: seat.leaseId, feature: seat.feature, reason, message: error.message }));
  client.on('sessionReopened', (e) => log('session reopened', e));
  if (values.verbose) client.on('heartbeat', (e) => log('heartbeat', e));

  let seat: Seat | undefined;
  try {
    await client.connect();
    log('connected', { endpoint: client.activeEndpoint, sessionId: client.sessionId });
    for (const f of await client.features()) log('feature', { ...f });
    seat = await client.checkout(values.feature, { count });
    log('seat checked out; holding it until Ctrl-C', { leaseId: seat.leaseId, feature: seat.feature, count: seat.count });

    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    log('releasing');
    if (seat.held) await seat.release();
    log('released');
    return 0;
  } catch (err) {
    // Typed errors say what happened and what to do; `code` is stable for programs.
    if (err instanceof LicenseClientError) console.error(`${err.name} (${err.code}): ${err.message}`);
    else console.error(err);
    return 1;
  } finally {
    // Always: stops the heartbeat timer (which keeps the process alive) and frees the session.
    await client.close();
    log('closed');
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
