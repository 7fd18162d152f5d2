#!/usr/bin/env node
import * as grpc from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { type AdminClient, createAdminClient } from '../admin/admin-client';
import { errorMessage } from '../errors';
import type { GetStatusResponse__Output } from '../../contract/generated/license/v1/GetStatusResponse';
import type { ActivateResponse__Output } from '../../contract/generated/license/v1/ActivateResponse';
import { VERSION } from '../version';
import { formatDuration, shortRole, shortState, table } from './format';
import { type ServeVendorOptions, serveVendor, signLicenseFile, tokenHash, writeVendorKeys } from './vendor';
import { activationEndpoint, DEFAULT_VENDOR_TIMEOUT_MS, type SentRequestKey, sendRequestKey } from '../vendor/vendor-client';
import { DEFAULT_EXTENSION_MS, DEFAULT_KEY_VALIDITY_MS, signActivation } from '../budget/activation-keys';
import { readHostId } from '../license/host-id';
import { type AuditEntry, type ChainCheck, verifyStored } from '../budget/audit-chain';
import { readFileSync } from 'node:fs';
import { loadPrivateKey } from '../license/vendor-keys';
import { ID_PATTERN, redactRedisUrl } from '../config-spec';
import { clusterKeys } from '../store/keys';
import { createUsageReport, USAGE_REPORT_BY, type UsageReportBy } from '../usage/usage-report';
import { readUsage } from '../usage/usage-reader';
import { connectUsageStream, parseRedisUrl, RedisReplyError, type UsageStreamConnection } from '../usage/usage-stream-client';
import { formatUsageReport, USAGE_REPORT_FORMATS, type UsageReportFormat } from '../usage/report-format';
import { resolveReportWindow } from '../usage/report-window';

interface GlobalOptions {
  server: string;
  token?: string;
  json?: boolean;
  timeout: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

const program = new Command('licensectl')
  .description('Operate a license server cluster: status, step-down, leases, activation; vendor tools')
  .version(VERSION)
  .option('--server <addr>', 'node gRPC address host:port', process.env['LICENSE_SERVER'] ?? '127.0.0.1:7400')
  .option('--token <token>', 'admin token (default: $LICENSE_ADMIN_TOKEN)')
  .option('--json', 'print JSON instead of text')
  .option('--timeout <ms>', 'deadline for each call, ms', '5000')
  .option('--tls', 'connect with TLS (server verified with the system roots, or --tls-ca)')
  .option('--tls-ca <file>', 'CA certificate to verify the node with (implies --tls)')
  .option('--tls-cert <file>', 'client certificate, when the node verifies clients (LICENSE_TLS_CA)')
  .option('--tls-key <file>', 'client private key for --tls-cert');

function admin(): { client: AdminClient; opts: GlobalOptions } {
  const opts = program.opts<GlobalOptions>();
  const token = opts.token ?? process.env['LICENSE_ADMIN_TOKEN'];
  if (!token) fail('no admin token: pass --token or set LICENSE_ADMIN_TOKEN');
  const timeoutMs = Number(opts.timeout);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) fail(`--timeout must be a whole number of milliseconds, got "${opts.timeout}"`);
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) fail('--tls-cert and --tls-key go together');
  const useTls = opts.tls || opts.tlsCa !== undefined || opts.tlsCert !== undefined;
  const tls = useTls
    ? {
        ...(opts.tlsCa === undefined ? {} : { caFile: opts.tlsCa }),
        ...(opts.tlsCert === undefined ? {} : { certFile: opts.tlsCert }),
        ...(opts.tlsKey === undefined ? {} : { keyFile: opts.tlsKey }),
      }
    : undefined;
  return { client: createAdminClient(opts.server, token, { timeoutMs, ...(tls ? { tls } : {}) }), opts };
}

function fail(message: string): never {
  process.stderr.write(`licensectl: ${message}\n`);
  process.exit(1);
}

/** Runs one admin call and prints a one-line error naming the gRPC code on failure. */
async function run<T>(fn: (c: AdminClient) => Promise<T>, beforeFail?: () => void): Promise<T> {
  const { client, opts } = admin();
  try {
    return await fn(client);
  } catch (err) {
    beforeFail?.();
    const e = err as Partial<grpc.ServiceError>;
    if (typeof e.code === 'number') fail(`${opts.server}: ${grpc.status[e.code]}: ${e.details ?? errorMessage(err)}`);
    fail(`${opts.server}: ${errorMessage(err)}`);
  } finally {
    client.close();
  }
}

function print(json: unknown, text: () => string): void {
  process.stdout.write(`${program.opts<GlobalOptions>().json ? JSON.stringify(json, null, 2) : text()}\n`);
}

function formatStatus(s: GetStatusResponse__Output, nowMs = Date.now()): string {
  const b = s.budget;
  const rows: string[][] = [
    ['cluster', s.cluster_id],
    ['node', `${s.node_id} (${shortRole(s.role)}) at ${s.advertise_addr}`],
    ['state', shortState(s.state)],
    ['license', `serial ${s.license_serial}${s.license_error ? `, NOT SERVING: ${s.license_error}` : ''}`],
    ['epoch', s.epoch ? String(s.epoch) : `none (highest seen ${s.highest_epoch})`],
    ['leader', s.leader_node_id ? `${s.leader_node_id}${s.leader_addr ? ` at ${s.leader_addr}` : ''}` : 'none known'],
  ];
  if (s.epoch) rows.push(['lease', `valid for ${formatDuration(s.lease_valid_for_ms)} without renewal`]);
  rows.push(['redis', s.store_ok ? 'ok' : 'UNREACHABLE']);
  if (s.peer) {
    const p = s.peer;
    const seen = p.last_heartbeat_ms ? `last heartbeat ${formatDuration(nowMs - p.last_heartbeat_ms)} ago` : 'never heard';
    const who = p.node_id ? `${p.node_id} (${shortRole(p.role)}) ${shortState(p.state)}` : p.addr;
    rows.push(['peer', `${who}, ${p.reachable ? 'reachable' : 'NOT reachable'}, ${seen}${p.error ? `; ${p.error}` : ''}`]);
    if (p.node_id && p.license_digest !== s.license_digest) {
      rows.push(['', `WARNING: peer loaded a different license file${p.license_serial ? ` (serial ${p.license_serial})` : ''}`]);
    }
    if (p.node_id && p.policy_digest && s.policy_digest && p.policy_digest !== s.policy_digest) {
      rows.push(['', 'WARNING: peer enforces a different seat policy (LICENSE_POLICY_FILE); load the same file on both nodes']);
    }
  } else {
    rows.push(['peer', 'none configured']);
  }
  if (b) {
    rows.push([
      'budget',
      `${formatDuration(b.remaining_ms)} left of ${formatDuration(b.granted_ms)} (${formatDuration(b.consumed_ms)} used)` +
        `${b.blocked ? ', BLOCKED: apply an activation key' : ''}, ${b.activations} activation(s), ` +
        `${b.episode_id ? `failover episode ${b.episode_id}` : 'no failover episode'}`,
    ]);
  }
  if (s.policy_digest) {
    rows.push([
      'policy',
      `digest ${s.policy_digest.slice(0, 16)}${s.policy_error ? `; the file on disk is REFUSED (the last good policy stays): ${s.policy_error}` : ''}`,
    ]);
  }
  for (const f of s.features) {
    rows.push([
      'feature',
      `${f.name}: ${f.seats_in_use}/${f.seats_total} in use${f.queue_length ? `, ${f.queue_length} queued` : ''}` +
        `${f.expires_at_ms ? `, expires ${new Date(f.expires_at_ms).toISOString()}` : ''}`,
    ]);
  }
  rows.push(['version', s.version]);
  return table(rows);
}

program
  .command('status')
  .description('show the node: state, epoch, leader, peer, budget, features')
  .action(async () => {
    const s = await run((c) => c.getStatus());
    print(s, () => formatStatus(s));
  });

program
  .command('step-down')
  .description('planned handover: the node stops granting, releases the lease and the peer takes over')
  .action(async () => {
    const r = await run((c) => c.stepDown());
    print(r, () => (r.stepped_down ? `stepped down; node is now ${shortState(r.state)}` : `node held no lease (${shortState(r.state)}); nothing to do`));
  });

program
  .command('leases')
  .description('list the seats held now: lease, feature, count, client, expiry (every page)')
  .option('--feature <name>', 'only this feature')
  .action(async (o: { feature?: string }) => {
    // The node answers in pages (ListLeases page_token); this follows them to the end.
    const r = { leases: await run((c) => c.listAllLeases(o.feature ?? '')) };
    print(r, () => {
      if (r.leases.length === 0) return 'no seats in use';
      const now = Date.now();
      return table([
        ['LEASE', 'FEATURE', 'COUNT', 'CLIENT', 'USER', 'HOST', 'PID', 'HELD FOR', 'EXPIRES IN'],
        ...r.leases.map((l) => [
          l.lease_id,
          l.feature,
          String(l.count),
          l.client_id,
          l.user,
          l.hostname,
          String(l.pid),
          formatDuration(now - l.granted_at_ms),
          formatDuration(l.expires_at_ms - now),
        ]),
      ]);
    });
  });

const activation = program.command('activation').description("extend the redundant's failover budget with a vendor-signed activation key");

function describeApplied(r: ActivateResponse__Output): string {
  const b = r.budget;
  return b
    ? `activation applied: ${formatDuration(b.remaining_ms)} left of ${formatDuration(b.granted_ms)}, ${b.activations} activation(s), ${b.blocked ? 'still BLOCKED' : 'not blocked'}`
    : 'activation applied';
}

/** A host an http:// URL can name without the token crossing a network. */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

interface SendOptions {
  send?: string;
  vendorToken?: string;
  vendorCa?: string;
  vendorTimeout: string;
}

/**
 * `activation request --send URL`: request key from the node, activation key from the vendor
 * activation service, applied on the node. Whatever fails, nothing is lost: a refused or
 * unreachable vendor leaves the request key on stderr for the manual flow, and a key the node
 * then refuses is printed for `activation apply`.
 */
async function requestAndSend(o: SendOptions & { send: string }): Promise<void> {
  const token = o.vendorToken ?? process.env['LICENSE_VENDOR_ACTIVATION_TOKEN'];
  if (!token) fail('no vendor activation token: pass --vendor-token or set LICENSE_VENDOR_ACTIVATION_TOKEN (the token the vendor gave you)');
  let endpoint: URL;
  try {
    endpoint = activationEndpoint(o.send);
  } catch (err) {
    fail(`--send: ${errorMessage(err)}`);
  }
  const timeoutMs = Number(o.vendorTimeout);
  if (!/^\d+$/.test(o.vendorTimeout) || !Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    fail(`--vendor-timeout must be a whole number of milliseconds, got "${o.vendorTimeout}"`);
  }
  let ca: Buffer | undefined;
  if (o.vendorCa !== undefined) {
    try {
      ca = readFileSync(o.vendorCa);
    } catch (err) {
      fail(`--vendor-ca ${o.vendorCa}: cannot read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
    }
  }
  if (endpoint.protocol === 'http:' && !isLoopback(endpoint.hostname)) {
    process.stderr.write(
      `licensectl: warning: ${endpoint.host} is plain http: the activation token crosses the network unencrypted; ask the vendor for an https:// URL\n`,
    );
  }
  const { request_key } = await run((c) => c.requestActivationKey());
  let sent: SentRequestKey;
  try {
    sent = await sendRequestKey({ url: o.send, token, requestKey: request_key, timeoutMs, ...(ca ? { ca } : {}) });
  } catch (err) {
    process.stderr.write(`licensectl: the request key, for the vendor by e-mail: ${request_key}\n`);
    fail(errorMessage(err));
  }
  const applied = await run(
    (c) => c.activate(sent.activationKey),
    () => process.stderr.write(`licensectl: the vendor's activation key, not applied (licensectl activation apply KEY): ${sent.activationKey}\n`),
  );
  print(
    { request_key, activation_key: sent.activationKey, granted_ms: sent.grantedMs, ...applied },
    () => `vendor granted ${formatDuration(sent.grantedMs)}; ${describeApplied(applied)}`,
  );
}

activation
  .command('request')
  .description(
    'print a request key to send to the vendor (run against the redundant, during a failover); with --send, send it to the vendor activation service and apply the answer',
  )
  .option('--send <url>', "the vendor activation service's URL (e.g. https://vendor.example.com/v1/activations): request, send and apply in one step")
  .option('--vendor-token <token>', "this customer's token for --send (default: $LICENSE_VENDOR_ACTIVATION_TOKEN)")
  .option('--vendor-ca <file>', 'CA certificate to verify an https:// --send URL with, instead of the system roots')
  .option('--vendor-timeout <ms>', 'deadline for the answer of --send, ms', String(DEFAULT_VENDOR_TIMEOUT_MS))
  .action(async (o: SendOptions) => {
    if (o.send !== undefined) return requestAndSend({ ...o, send: o.send });
    const r = await run((c) => c.requestActivationKey());
    print(r, () => r.request_key);
  });

activation
  .command('apply')
  .description('apply the activation key the vendor sent back')
  .argument('<key>', 'activation key (LAK1....)')
  .action(async (key: string) => {
    const r = await run((c) => c.activate(key));
    print(r, () => describeApplied(r));
  });

function formatAudit(entries: readonly AuditEntry[]): string {
  if (entries.length === 0) return 'the audit trail is empty';
  return table([
    ['SEQ', 'TIME', 'NODE', 'EPISODE', 'EVENT', 'DETAIL', 'HASH'],
    ...entries.map((e) => [
      String(e.seq),
      new Date(e.at_ms).toISOString(),
      e.node_id,
      e.episode_id || '-',
      e.event,
      Object.entries(e.detail)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' '),
      e.hash.slice(0, 12),
    ]),
  ]);
}

function describeCheck(c: ChainCheck): string {
  if (!c.ok) return `audit chain BROKEN at ${c.break?.message ?? 'an unknown entry'}`;
  if (c.head.seq === 0) return 'audit chain: empty';
  const from =
    c.startsAt === 1
      ? 'from the first entry'
      : `from entry #${c.startsAt} (earlier entries are not here: trimmed, --limit, or Redis lost them; its first link is unchecked)`;
  return `audit chain verified ${from} to #${c.head.seq}, head ${c.head.seq}:${c.head.hash}`;
}

program
  .command('audit')
  .description("print the failover budget's audit trail (hash-chained events) and, with --verify, check that nobody edited it")
  .option('--verify', 'check every hash and link; exit 1 naming the first entry that breaks the chain')
  .option('--limit <n>', 'only the last n entries (their first link is then unchecked)')
  .option('--file <path>', "read a node's <node>.audit.jsonl from its state dir instead of asking the server (Redis's copy)")
  .action(async (o: { verify?: boolean; limit?: string; file?: string }) => {
    const limit = o.limit === undefined ? 0 : Number(o.limit);
    if (!Number.isSafeInteger(limit) || limit < 0) fail(`--limit must be a whole number, got "${o.limit ?? ''}"`);
    let lines: string[];
    let heads: { head: string; local_head: string } | undefined;
    if (o.file !== undefined) {
      lines = readFileSync(o.file, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '');
      if (limit > 0) lines = lines.slice(-limit);
    } else {
      const r = await run((c) => c.getAudit(limit));
      lines = r.entries;
      heads = { head: r.head, local_head: r.local_head };
    }
    const { entries, check } = verifyStored(lines);
    print({ entries, ...heads, ...(o.verify ? { verify: check } : {}) }, () => formatAudit(entries));
    if (heads?.local_head && heads.local_head !== heads.head) {
      process.stderr.write(
        `licensectl: note: this node's own chain head is ${heads.local_head}, Redis's is ${heads.head || 'none'} (entries still pending for Redis, or the two differ)\n`,
      );
    }
    if (o.verify) {
      if (!check.ok) fail(describeCheck(check));
      process.stderr.write(`${describeCheck(check)}\n`);
    }
  });

interface UsageReportFlags {
  from?: string;
  to?: string;
  feature?: string;
  by: UsageReportBy;
  format?: UsageReportFormat;
  redisUrl?: string;
  redisTlsCa?: string;
  cluster?: string;
}

/**
 * `report usage`: reads the usage stream straight from Redis (a replica will do), so it works
 * with no node running and costs the nodes nothing but Redis time (~13-30 ms per 10,000 events).
 */
async function reportUsage(o: UsageReportFlags): Promise<void> {
  let window: { fromMs: number; toMs: number };
  try {
    window = resolveReportWindow(o, Date.now());
  } catch (err) {
    fail(errorMessage(err));
  }
  const cluster = o.cluster ?? process.env['LICENSE_CLUSTER_ID'];
  if (cluster === undefined || cluster === '') fail('no cluster id: pass --cluster or set LICENSE_CLUSTER_ID');
  if (!ID_PATTERN.test(cluster)) fail(`--cluster: "${cluster}" is not a cluster id (1-64 of A-Za-z0-9._-, starting with a letter or digit)`);
  const url = o.redisUrl ?? process.env['LICENSE_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  try {
    parseRedisUrl(url);
  } catch (err) {
    fail(`${o.redisUrl === undefined ? 'LICENSE_REDIS_URL' : '--redis-url'}: ${errorMessage(err)}`);
  }
  const caFile = o.redisTlsCa ?? process.env['LICENSE_REDIS_TLS_CA'];
  let tlsCa: Buffer | undefined;
  if (caFile !== undefined && caFile !== '') {
    try {
      tlsCa = readFileSync(caFile);
    } catch (err) {
      fail(`--redis-tls-ca ${caFile}: cannot read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
    }
  }
  const format = o.format ?? (program.opts<GlobalOptions>().json ? 'json' : 'table');
  const key = clusterKeys(cluster).usage;
  const report = createUsageReport({ ...window, by: o.by, ...(o.feature === undefined ? {} : { feature: o.feature }) });
  let conn: UsageStreamConnection | undefined;
  let read: Awaited<ReturnType<typeof readUsage>>;
  try {
    conn = await connectUsageStream({ url, ...(tlsCa ? { tlsCa } : {}) });
    read = await readUsage(conn, { key, toMs: window.toMs }, report);
  } catch (err) {
    // Connection failures name the address already; Redis's own refusals do not.
    const msg = err instanceof RedisReplyError ? `${redactRedisUrl(url) ?? 'Redis'}: ${err.message}` : errorMessage(err);
    const hint = /NOAUTH|WRONGPASS/.test(msg) ? ' (the user and password go in the URL: redis://user:password@host:6379)' : '';
    fail(`${msg}${hint}`);
  } finally {
    conn?.close();
  }
  const result = report.result();
  process.stdout.write(formatUsageReport(result, format, { cluster }));
  const note = (line: string): boolean => process.stderr.write(`licensectl: note: ${line}\n`);
  if (read.events + read.skipped === 0) {
    note(`no usage events in ${key} before ${new Date(window.toMs).toISOString()}: check --cluster and --redis-url`);
  } else if (read.oldestAtMs !== undefined && read.oldestAtMs > window.fromMs) {
    note(
      `the oldest usage event kept is from ${new Date(read.oldestAtMs).toISOString()}, after --from: nothing before it is known (LICENSE_USAGE_RETENTION, or the stream is younger)`,
    );
  }
  if (result.untrackedFrees > 0) {
    note(
      `${result.untrackedFrees} seat(s) freed in the window were granted before the oldest event kept: they are missing from the figures for the time they were held`,
    );
  }
  if (read.skipped > 0) note(`${read.skipped} entries of an unknown kind (a newer server version) were skipped`);
}

const reportCmd = program.command('report').description("reports read from the cluster's Redis (read-only: no node needed, a replica will do)");

reportCmd
  .command('usage')
  .description(
    'seat usage over a window from the usage events the nodes record: per feature (or per user or host of a feature) peak and average seats in use, seat-hours, grants, denials, queue waits (p50/p95), top users; docs/USAGE-REPORTS.md',
  )
  .option('--from <time>', 'start of the window: 2026-11-01, 2026-11-01T08:00Z (UTC without a zone) or ms since 1970 (default: 30 days before --to)')
  .option('--to <time>', 'end of the window, not included (default: now)')
  .option('--feature <name>', 'only this feature')
  .addOption(new Option('--by <group>', 'one row per feature, or per user or host of each feature').choices(USAGE_REPORT_BY).default('feature'))
  .addOption(
    new Option(
      '--format <format>',
      'table (terminal), csv (a spreadsheet opens it as is: hours as decimals, one row per group) or json (default: table, json with --json)',
    ).choices(USAGE_REPORT_FORMATS),
  )
  .option(
    '--redis-url <url>',
    "the cluster's Redis or a replica of it, redis[s]://[user:password@]host:port[/db] (default: $LICENSE_REDIS_URL, else redis://127.0.0.1:6379)",
  )
  .option('--redis-tls-ca <file>', 'CA (PEM) to verify a rediss:// server with (default: $LICENSE_REDIS_TLS_CA, else the system roots)')
  .option('--cluster <id>', 'license cluster id (default: $LICENSE_CLUSTER_ID)')
  .action(reportUsage);

program
  .command('hostid')
  .description("print this machine's host id, for a license that binds a server to it (send it to the vendor)")
  .action(() => {
    process.stdout.write(`${readHostId()}\n`);
  });

const vendor = program.command('vendor').description("vendor tools: keys, license files, activation keys (run at the vendor, never on a customer's node)");

vendor
  .command('keygen')
  .description('write a new Ed25519 key pair: vendor-private.pem (keep secret) and vendor-public.pem (ship to customers)')
  .requiredOption('--out <dir>', 'directory to write the keys to')
  .option('--force', 'overwrite existing key files')
  .action((o: { out: string; force?: boolean }) => {
    const files = writeVendorKeys(o.out, o.force ?? false);
    process.stdout.write(`wrote ${files.privateKeyFile} (keep it secret)\nwrote ${files.publicKeyFile} (LICENSE_VENDOR_PUBLIC_KEY on every node)\n`);
  });

vendor
  .command('sign-license')
  .description(
    'sign a license: {"licensee", "cluster_id", "serial", "servers": [{"node_id", "role", "host_id"?}], "failover"?: {"budget_ms", "reset_after_ms", "max_extension_ms"}, "features": [{"name", "seats", "expires_at"?}]}',
  )
  .requiredOption('--key <file>', 'vendor private key PEM')
  .requiredOption('--in <file>', 'unsigned license JSON')
  .requiredOption('--out <file>', 'signed license file to write')
  .action((o: { key: string; in: string; out: string }) => {
    const signed = signLicenseFile(o.key, o.in, o.out);
    const servers = signed.servers.map((x) => `${x.node_id} (${x.role}${x.host_id ? ` on ${x.host_id}` : ''})`).join(', ');
    process.stdout.write(
      `wrote ${o.out}: ${signed.licensee}, cluster ${signed.cluster_id}, serial ${signed.serial}, servers ${servers}, ${signed.features.map((f) => `${f.name}=${f.seats}`).join(' ')}\n`,
    );
  });

vendor
  .command('sign-activation')
  .description("answer a request key: prints the activation key, on one line; the vendor chooses the extension, up to what the cluster's license accepts")
  .requiredOption('--key <file>', 'vendor private key PEM')
  .option(
    '--extension-ms <ms>',
    `extension to grant (default ${DEFAULT_EXTENSION_MS}, 72 h, or the license's failover.max_extension_ms named in the request key when that is less)`,
  )
  .option('--max-extension-ms <ms>', 'older name of --extension-ms (request keys no longer ask for an extension: the vendor chooses it)')
  .option('--valid-for-ms <ms>', 'how long the customer has to apply the key', String(DEFAULT_KEY_VALIDITY_MS))
  .argument('<request-key>', 'the request key from licensectl activation request (LRQ1....)')
  .action((requestKey: string, o: { key: string; extensionMs?: string; maxExtensionMs?: string; validForMs: string }) => {
    const positive = (v: string, flag: string): number => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a whole number of milliseconds above 0, got "${v}"`);
      return n;
    };
    if (o.extensionMs !== undefined && o.maxExtensionMs !== undefined) throw new Error('--extension-ms and --max-extension-ms are the same option: give one');
    const extension =
      o.extensionMs !== undefined
        ? positive(o.extensionMs, '--extension-ms')
        : o.maxExtensionMs !== undefined
          ? positive(o.maxExtensionMs, '--max-extension-ms')
          : undefined;
    const validForMs = positive(o.validForMs, '--valid-for-ms');
    const { key, grant } = signActivation(requestKey, loadPrivateKey(o.key), { ...(extension === undefined ? {} : { extensionMs: extension }), validForMs });
    // For the vendor's records (stderr: stdout stays the one-line key): a history rewritten later no longer ends in this head.
    if (grant.audit_head) process.stderr.write(`audit head of ${grant.node_id} (cluster ${grant.cluster_id}) at request: ${grant.audit_head}\n`);
    process.stdout.write(`${key}\n`);
  });

vendor
  .command('serve')
  .description(
    'run the vendor activation service: request keys in (POST /v1/activations, one token per customer), activation keys out, under a policy; see docs/VENDOR-SERVICE.md',
  )
  .requiredOption('--key <file>', 'vendor private key PEM')
  .requiredOption('--listen <host:port>', 'address to listen on, e.g. 0.0.0.0:7490 or [::1]:7490 (port 0: a free port)')
  .option('--policy <file>', 'YAML policy: customers, their token hashes, clusters, activations per episode (deploy/vendor/policy.example.yaml)')
  .option(
    '--log <file>',
    'append every decision to this file as JSON lines and, at start, replay its grants (counts and repeats survive a restart); default: stdout, not replayed',
  )
  .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
  .option('--tls-key <file>', 'private key for --tls-cert')
  .option('--demo-token <token>', 'without --policy: a demo that signs for any cluster with this one token (3 activations per episode)')
  .action(async (_o: unknown, cmd: Command) => {
    // --tls-cert/--tls-key share their names with licensectl's own (the node's client certificate),
    // which commander fills wherever they appear; for `vendor serve` they can only mean the service's.
    const o = cmd.optsWithGlobals<ServeVendorOptions>();
    const running = await serveVendor(o, {
      note: (line) => process.stderr.write(`licensectl: ${line}\n`),
      stdout: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`vendor activation service listening on ${running.url}\n`);
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      // Open requests get a few seconds; then the process goes whatever they do.
      setTimeout(() => process.exit(0), 5_000).unref();
      running.close().then(
        () => process.exit(0),
        (err: unknown) => fail(`stopping: ${errorMessage(err)}`),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

vendor
  .command('token-hash')
  .description("print the SHA-256 of a customer's activation token, for token_sha256 in the policy file (reads the token from stdin unless --token)")
  .option('--token <token>', 'the token (visible in the process list and shell history: prefer stdin)')
  .action((_o: unknown, cmd: Command) => {
    // --token is also licensectl's admin token option, which commander fills wherever it appears.
    const given = cmd.optsWithGlobals<{ token?: string }>().token;
    if (given === undefined && process.stdin.isTTY) process.stderr.write('type the token, then Enter and Ctrl-D:\n');
    const token = given ?? readFileSync(0, 'utf8');
    process.stdout.write(`${tokenHash(token)}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => fail(errorMessage(err)));
