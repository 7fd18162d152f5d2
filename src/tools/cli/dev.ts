#!/usr/bin/env node
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import type { Role } from '../../server/config';
import { errorMessage } from '../../server/errors';
import { type LocalCluster, startLocalCluster } from '../local/local-cluster';
import { REDIS_INSTALL_HINT, redisServerAvailable } from '../local/redis-process';
import { preferredPort } from '../local/ports';

/**
 * `npm run dev`: redis-server (unless LICENSE_REDIS_URL is set), a primary and a
 * redundant on loopback, their logs in one terminal, and Ctrl-C stops everything.
 * `npm run dev -- --budget-ms 60000` signs a short failover budget into the demo license
 * (the budget is a license term; no setting changes it).
 */
const ROLES: Role[] = ['primary', 'redundant'];
const COLORS: Record<Role, string> = { primary: '\x1b[36m', redundant: '\x1b[35m' };
const RESET = '\x1b[0m';

function echo(role: string, raw: string): void {
  let text = raw;
  try {
    const l = JSON.parse(raw) as Record<string, unknown>;
    const { timestamp, level, message, node, cluster, state, epoch, ...rest } = l;
    void node;
    void cluster;
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    text = `${String(timestamp).slice(11, 23)} ${String(level).padEnd(5)} ${String(state).padEnd(16)} e${String(epoch)} ${String(message)}${extra}`;
  } catch {
    // not JSON: print as is
  }
  const color = process.stdout.isTTY ? (COLORS[role as Role] ?? '') : '';
  process.stdout.write(`${color}[${role.padEnd(9)}]${color ? RESET : ''} ${text}\n`);
}

const positiveMs = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number of milliseconds above 0');
  return n;
};

interface DevOptions {
  budgetMs?: number;
  resetAfterMs?: number;
}

function parseArgs(): DevOptions {
  return new Command('dev')
    .description('Redis + a primary + a redundant on loopback, with a throwaway vendor key and demo license')
    .option('--budget-ms <ms>', 'failover budget signed into the demo license (default: the license default, 72 h)', positiveMs)
    .option('--reset-after-ms <ms>', 'how long the primary must hold the lease before the budget refills (default: the license default, 1 h)', positiveMs)
    .parse(process.argv)
    .opts<DevOptions>();
}

async function main(): Promise<void> {
  const opts = parseArgs();
  const failover = {
    ...(opts.budgetMs === undefined ? {} : { budget_ms: opts.budgetMs }),
    ...(opts.resetAfterMs === undefined ? {} : { reset_after_ms: opts.resetAfterMs }),
  };
  const redisUrl = process.env['LICENSE_REDIS_URL'];
  if (!redisUrl && !redisServerAvailable()) {
    process.stderr.write(`${REDIS_INSTALL_HINT}\n`);
    process.exit(1);
  }
  const dir = path.resolve(process.env['DEV_CLUSTER_DIR'] ?? '.dev-cluster');
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster({
      clusterId: process.env['LICENSE_CLUSTER_ID'] ?? 'dev',
      dir,
      ...(redisUrl ? { redisUrl } : {}),
      echo,
      logFiles: true,
      // The documented console ports when free, so the URL in the README works as printed.
      consolePorts: { primary: await preferredPort(7480), redundant: await preferredPort(7481) },
      ...(Object.keys(failover).length ? { failover } : {}),
    });
  } catch (err) {
    process.stderr.write(`dev: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  const c = cluster;
  const ctl = `npx licensectl --token ${c.token}`;
  process.stdout.write(
    [
      '',
      `license cluster "${c.clusterId}" running (state and logs in ${dir})`,
      `  redis      ${c.redisUrl}${c.redis ? ` (pid ${c.redis.child.pid})` : ''}`,
      `  primary    grpc ${c.addr.primary}  metrics http://${c.metricsAddr.primary}/metrics  pid ${c.primary.pid}`,
      `  redundant  grpc ${c.addr.redundant}  metrics http://${c.metricsAddr.redundant}/metrics  pid ${c.redundant.pid}`,
      `  console    primary ${c.consoleUrl.primary}/   redundant ${c.consoleUrl.redundant}/   (sign in with the admin token)`,
      `  admin token ${c.token}`,
      `  license    ${c.license.licenseFile}: serial 1, node-a primary, node-b redundant${
        opts.budgetMs === undefined ? '' : `, failover budget ${opts.budgetMs} ms`
      }${opts.resetAfterMs === undefined ? '' : `, refills after ${opts.resetAfterMs} ms`}`,
      '  peer heartbeats are signed with a LICENSE_CLUSTER_SECRET generated for this run',
      '',
      'try:',
      `  ${ctl} --server ${c.addr.primary} status`,
      `  kill -9 ${c.primary.pid}        # crash the primary: the redundant takes over within one lease TTL`,
      `  ${ctl} --server ${c.addr.primary} step-down   # planned handover`,
      '  press Enter to restart any node that exited (the primary takes the cluster back after the handback delay)',
      '  Ctrl-C stops everything',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const watch = (role: Role): void => {
    c.node(role)
      .waitExit(24 * 3_600_000)
      .then(({ code, signal }) => {
        if (!stopping) process.stdout.write(`[dev] ${role} exited (${signal ?? `code ${code}`}); press Enter to restart it\n`);
      })
      .catch(() => {});
  };
  ROLES.forEach(watch);
  createInterface({ input: process.stdin }).on('line', () => {
    for (const role of ROLES) {
      const node = c.node(role);
      if (node.running || stopping) continue;
      node.start();
      process.stdout.write(`[dev] restarted ${role}, pid ${node.pid}\n`);
      watch(role);
    }
  });

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\n[dev] stopping: SIGTERM to both nodes, then redis\n');
    for (const role of ROLES) c.node(role).signal('SIGTERM');
    await Promise.all(
      ROLES.map((r) =>
        c
          .node(r)
          .waitExit(6_000)
          .catch(() => undefined),
      ),
    );
    await c.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

void main();
