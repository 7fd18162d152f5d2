#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { systemClock } from '../../server/clock';
import { errorMessage } from '../../server/errors';
import { createLoadgen } from '../loadgen/loadgen';
import { LOADGEN_ENV, type LoadgenEnvKey, type LoadgenOptions, parse } from '../loadgen/options';
import type { LoadgenEvent } from '../loadgen/simulated-client';

/**
 * `node dist/tools/cli/loadgen.js`: simulated license users against a cluster, through the SDK.
 * Every line on stdout is JSON: start, connected, failover, seat_lost, blocked,
 * exhausted, error, a summary every --summary-ms, and a final_summary. SIGTERM/SIGINT
 * close every client (their seats are freed) and exit 0; a second signal exits at once.
 */

/** Grace for closing clients on a signal; CloseSession is best effort within callTimeoutMs. */
const STOP_GRACE_MS = 15_000;

function write(e: LoadgenEvent): void {
  process.stdout.write(`${JSON.stringify({ time: new Date(systemClock.now()).toISOString(), ...e })}\n`);
}

/** A commander option whose value may also come from its LOADGEN_* variable. */
function opt<T>(key: LoadgenEnvKey, valueName: string, description: string, parser: (v: string) => T): Option {
  const { flag, default: dflt } = LOADGEN_ENV[key];
  return new Option(`${flag} <${valueName}>`, description)
    .env(key)
    .default(parser(dflt), dflt)
    .argParser((v: string) => {
      try {
        return parser(v);
      } catch (err) {
        throw new InvalidArgumentError(errorMessage(err));
      }
    });
}

const ms = parse.int(0);
const program = new Command('loadgen')
  .description(
    'Load client for a license cluster: simulated users check out, hold and release seats through the SDK, and log failovers, lost seats and refusals as JSON lines',
  )
  .addOption(opt('LOADGEN_ENDPOINTS', 'host:port,...', 'license servers, primary and redundant', parse.endpoints))
  .addOption(opt('LOADGEN_FEATURES', 'name,...', 'features to check out (one at random per checkout)', parse.features))
  .addOption(opt('LOADGEN_CLIENTS', 'n', 'concurrent simulated clients (one LicenseClient and session each)', parse.int(1)))
  .addOption(opt('LOADGEN_SEATS_PER_CLIENT', 'n', 'checkouts per cycle of one client, held together', parse.int(1)))
  .addOption(opt('LOADGEN_COUNT', 'n', 'seats per checkout', parse.int(1)))
  .addOption(opt('LOADGEN_HOLD_MS', 'ms', 'mean time a cycle holds its seats (uniform 0.5x..1.5x)', ms))
  .addOption(opt('LOADGEN_PAUSE_MS', 'ms', 'mean pause between cycles (uniform 0..2x)', ms))
  .addOption(opt('LOADGEN_RETRY_MS', 'ms', 'mean wait after a refused or failed checkout', ms))
  .addOption(opt('LOADGEN_RAMP_MS', 'ms', 'spread client starts over this window', ms))
  .addOption(opt('LOADGEN_DURATION_MS', 'ms', 'stop after this long (0: run until SIGTERM/SIGINT)', ms))
  .addOption(opt('LOADGEN_SUMMARY_MS', 'ms', 'summary line interval', parse.int(100)))
  .addOption(opt('LOADGEN_CLIENT_ID', 'prefix', 'client ids are <prefix>-<n> (shown by licensectl leases)', parse.clientId))
  .addOption(opt('LOADGEN_CALL_TIMEOUT_MS', 'ms', 'SDK deadline of each call', parse.int(1)))
  .addOption(opt('LOADGEN_RETRY_TIMEOUT_MS', 'ms', 'SDK: how long one operation retries through a failover', parse.int(1)))
  .action(async (o: Record<string, unknown>) => {
    const options: LoadgenOptions = Object.freeze({
      endpoints: o['endpoints'] as string[],
      features: o['features'] as string[],
      clients: o['clients'] as number,
      seatsPerClient: o['seatsPerClient'] as number,
      count: o['count'] as number,
      holdMs: o['holdMs'] as number,
      pauseMs: o['pauseMs'] as number,
      retryMs: o['retryMs'] as number,
      rampMs: o['rampMs'] as number,
      durationMs: o['durationMs'] as number,
      summaryMs: o['summaryMs'] as number,
      clientIdPrefix: o['clientId'] as string,
      callTimeoutMs: o['callTimeoutMs'] as number,
      retryTimeoutMs: o['retryTimeoutMs'] as number,
    });
    const loadgen = createLoadgen(options, { clock: systemClock, emit: write });
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        write({ event: 'exit', reason: `second ${signal}: exiting without waiting` });
        process.exit(130);
      }
      setTimeout(() => {
        write({ event: 'exit', reason: `clients did not close within ${STOP_GRACE_MS} ms` });
        process.exit(1);
      }, STOP_GRACE_MS).unref();
      void loadgen.stop(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    loadgen.start();
    await loadgen.finished;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Nothing is left running: clients closed their channels and timers, so node exits by itself.
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`loadgen: ${errorMessage(err)}\n`);
  process.exit(1);
});
