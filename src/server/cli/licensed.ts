#!/usr/bin/env node
import { Command } from 'commander';
import { loadConfig, readConfigFile } from '../config';
import { errorMessage } from '../errors';
import { createLogger } from '../log';
import { createNode } from '../node';
import { reloadOnSighup } from '../policy/policy-watch';
import { VERSION } from '../version';

/** The node exits within this time of SIGTERM whatever happens (contract: 5 s). */
const HARD_EXIT_MS = 4_500;

async function serve(opts: { config?: string }): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, opts.config ? readConfigFile(opts.config) : {});
  } catch (err) {
    process.stderr.write(`licensed: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  let node: ReturnType<typeof createNode> | undefined;
  const logger = createLogger({
    level: config.logLevel,
    context: {
      node: config.nodeId,
      cluster: config.clusterId,
      dynamic: () => {
        const m = node?.controller.machine;
        return { state: m?.state ?? 'STARTING', epoch: m?.epoch ?? 0 };
      },
    },
  });
  try {
    node = createNode({ config, logger });
  } catch (err) {
    process.stderr.write(`licensed: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  const started = node;

  let signalled = false;
  const shutdown = (signal: string): void => {
    if (signalled) return;
    signalled = true;
    logger.info('shutting down: planned handover', { signal });
    setTimeout(() => {
      logger.error('shutdown took too long; exiting anyway');
      process.exit(1);
    }, HARD_EXIT_MS).unref();
    started.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err: errorMessage(err) });
        process.exit(1);
      },
    );
  };
  // SIGHUP re-reads the seat policy. Either way it no longer ends the process (Node's default):
  // a reload signal sent to a daemon must not stop it.
  if (started.policy) reloadOnSighup(started.policy);
  else process.on('SIGHUP', () => logger.info('SIGHUP: nothing to re-read (no LICENSE_POLICY_FILE)'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    await started.start();
  } catch (err) {
    process.stderr.write(`licensed: ${errorMessage(err)}\n`);
    process.exit(2);
  }
}

const program = new Command('licensed').description('Redundant floating-license server node').version(VERSION);

program
  .command('serve')
  .description('run one license server node, configured by LICENSE_* environment variables (and --config)')
  .option('--config <file>', 'YAML or JSON file with LICENSE_* keys; the environment overrides it')
  .action(serve);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`licensed: ${errorMessage(err)}\n`);
  process.exit(1);
});
