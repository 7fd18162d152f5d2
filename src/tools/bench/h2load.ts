/**
 * h2load (nghttp2's C load generator) as a gRPC client: a unary call is an HTTP/2 POST
 * whose body is one length-prefixed message, so h2load can send a pre-encoded request at
 * a fixed rate without a Node client's GC pauses and scheduling in the figures.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../server/errors';
import type { CheckoutRequest } from '../../contract/generated/license/v1/CheckoutRequest';
import type { CheckoutResponse__Output } from '../../contract/generated/license/v1/CheckoutResponse';
import { loadLicenseProto } from '../../contract/proto';
import { stopChild } from './child';
import { reapedChildrenCpuSeconds } from './proc-stats';
import { GRPC_HEADERS, grpcFrame, RawGrpcClient } from './raw-grpc';

/** The binary (Debian: nghttp2-client); BENCH_H2LOAD overrides it. */
export const H2LOAD = process.env['BENCH_H2LOAD'] ?? 'h2load';

export const CHECKOUT_PATH = '/license.v1.SeatService/Checkout';

/** `h2load --version`'s first line; throws with an install hint when it is missing. */
export function h2loadVersion(): string {
  const r = spawnSync(H2LOAD, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `${H2LOAD} not found or not runnable (${r.error ? errorMessage(r.error) : `exit ${r.status}`}): install nghttp2-client (Debian/Ubuntu) or set BENCH_H2LOAD`,
    );
  }
  return r.stdout.split('\n', 1)[0]?.trim() ?? '?';
}

/** A CheckoutRequest as h2load posts it, encoded with the same proto loader the server uses. */
export function checkoutBody(req: CheckoutRequest): Buffer {
  return grpcFrame(loadLicenseProto().SeatService.service.Checkout.requestSerialize(req));
}

export interface ProbeResult {
  readonly httpStatus: number;
  /** undefined when the answer carried no grpc-status at all. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly response: CheckoutResponse__Output | undefined;
}

/**
 * Posts `body` to the Checkout path exactly as h2load will (same bytes, same headers) and
 * reads what h2load cannot: grpc-status, which gRPC sends in trailers (or in the headers
 * of a trailers-only answer) under HTTP 200 even when the call failed.
 */
export async function probeCheckout(addr: string, body: Buffer, timeoutMs = 5_000): Promise<ProbeResult> {
  const client = await RawGrpcClient.connect(addr, timeoutMs);
  try {
    const a = await client.call(CHECKOUT_PATH, body, timeoutMs);
    let response: CheckoutResponse__Output | undefined;
    try {
      response = a.message.length > 0 ? loadLicenseProto().SeatService.service.Checkout.responseDeserialize(a.message) : undefined;
    } catch (err) {
      throw new Error(`probe: the answer does not decode as a CheckoutResponse: ${errorMessage(err)}`, { cause: err });
    }
    return { httpStatus: a.httpStatus, grpcStatus: a.grpcStatus, grpcMessage: a.grpcMessage, response };
  } finally {
    client.close();
  }
}

export interface H2loadOptions {
  /** host:port of a plaintext (h2c) gRPC server. */
  readonly addr: string;
  readonly bodyFile: string;
  /** Requests in all (-n); the run lasts about requests / ratePerSec. */
  readonly requests: number;
  /** All connections together; h2load's --rps is per connection, so each gets ratePerSec / clients. */
  readonly ratePerSec: number;
  readonly clients: number;
  /** Streams in flight per connection at most (-m). */
  readonly streams: number;
  /** Per-request log (--log-file); omitted for a warm-up. */
  readonly logFile?: string;
}

export interface H2loadRun {
  /** Exit status and the summary lines h2load printed. */
  readonly status: number | null;
  readonly summary: string;
  /** CPU seconds h2load used (its own process, read once it was reaped). */
  readonly cpuSeconds: number | undefined;
  readonly wallSeconds: number;
}

/**
 * Runs h2load to completion. With -n (not -D) every request is sent and waited for, so
 * the server's own count of grants for the run can be compared with the requests sent:
 * a -D run stops with calls still in flight, which the server grants and h2load never logs.
 * `track` registers the child so that Ctrl-C stops it; the returned function unregisters.
 */
export async function runH2load(o: H2loadOptions, track: (stop: () => Promise<void>) => () => Promise<void>): Promise<H2loadRun> {
  const args = [
    '-c',
    String(o.clients),
    '-m',
    String(o.streams),
    '--rps',
    String(o.ratePerSec / o.clients),
    '-n',
    String(o.requests),
    ...(o.logFile ? ['--log-file', o.logFile] : []),
    '-d',
    o.bodyFile,
    ...Object.entries(GRPC_HEADERS).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    `http://${o.addr}${CHECKOUT_PATH}`,
  ];
  const cpuBefore = reapedChildrenCpuSeconds();
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(H2LOAD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const untrack = track(() => stopChild(child, 1_000));
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  // A stalled server must not hang the bench: the run's own length plus a minute.
  const limitMs = (o.requests / o.ratePerSec) * 1_000 + 60_000;
  const killer = setTimeout(() => void stopChild(child, 1_000), limitMs);
  let status: number | null;
  try {
    status = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
  } finally {
    clearTimeout(killer);
    await untrack();
  }
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = reapedChildrenCpuSeconds();
  const summary = out
    .split('\n')
    .filter((l) => /^(finished|requests|status codes):/.test(l))
    .join('\n');
  return { status, summary, cpuSeconds: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore, wallSeconds };
}

export interface H2loadLog {
  /** Lines (requests that finished, one way or another). */
  readonly lines: number;
  /** Lines with HTTP status 200 (a gRPC error is a 200 too: see probeCheckout). */
  readonly ok: number;
  /** Response times of the 200s in µs, sorted ascending. */
  readonly sortedUs: Float64Array;
  /** From the first request's start to the last response's end, seconds. */
  readonly spanSeconds: number;
}

/** Reads an h2load --log-file: start µs since the epoch, HTTP status (-1 failed), µs to the end of the response. */
export function readH2loadLog(file: string): H2loadLog {
  const text = readFileSync(file, 'utf8');
  const times: number[] = [];
  let lines = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [startText, statusText, durText] = line.split('\t');
    const start = Number(startText);
    const dur = Number(durText);
    if (!Number.isFinite(start) || !Number.isFinite(dur)) continue;
    lines++;
    first = Math.min(first, start);
    last = Math.max(last, start + dur);
    if (statusText === '200') times.push(dur);
  }
  const sortedUs = Float64Array.from(times).sort();
  return { lines, ok: times.length, sortedUs, spanSeconds: lines > 0 ? (last - first) / 1e6 : 0 };
}

/** Nearest-rank percentile (ms) of sorted µs values; NaN when empty. */
export function percentileMs(sortedUs: Float64Array, p: number): number {
  if (sortedUs.length === 0) return Number.NaN;
  const rank = Math.min(sortedUs.length, Math.max(1, Math.ceil((p / 100) * sortedUs.length)));
  return (sortedUs[rank - 1] ?? Number.NaN) / 1_000;
}
