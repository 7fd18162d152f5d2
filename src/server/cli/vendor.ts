import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { systemClock } from '../clock';
import { parseHostPort } from '../config';
import { errorMessage } from '../errors';
import { parseUnsignedLicense, type SignedLicense, signLicense } from '../license/license-file';
import { generateVendorKeys, loadPrivateKey } from '../license/vendor-keys';
import { openDecisionLog, readDecisionLog } from '../vendor/decision-log';
import { DEMO_MAX_ACTIVATIONS_PER_EPISODE, demoPolicy, loadPolicyFile, tokenProblem, tokenSha256 } from '../vendor/vendor-policy';
import { createVendorService } from '../vendor/vendor-service';

/** `licensectl vendor keygen`: refuses to overwrite keys unless forced (a lost private key cannot be recovered). */
export function writeVendorKeys(dir: string, force: boolean): { privateKeyFile: string; publicKeyFile: string } {
  mkdirSync(dir, { recursive: true });
  const privateKeyFile = path.join(dir, 'vendor-private.pem');
  const publicKeyFile = path.join(dir, 'vendor-public.pem');
  if (!force && (existsSync(privateKeyFile) || existsSync(publicKeyFile))) {
    throw new Error(`${dir} already holds vendor keys; pass --force to replace them (licenses signed with the old key stop verifying)`);
  }
  const keys = generateVendorKeys();
  writeFileSync(privateKeyFile, keys.privateKeyPem, { mode: 0o600 });
  writeFileSync(publicKeyFile, keys.publicKeyPem);
  return { privateKeyFile, publicKeyFile };
}

/** `licensectl vendor sign-license`: validates the unsigned JSON (naming the bad field) and writes the signed file. */
export function signLicenseFile(keyFile: string, inFile: string, outFile: string): SignedLicense {
  const key = loadPrivateKey(keyFile);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(inFile, 'utf8'));
  } catch (err) {
    throw new Error(`--in ${inFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON (${(err as Error).message})`}`, {
      cause: err,
    });
  }
  let unsigned;
  try {
    unsigned = parseUnsignedLicense(raw);
  } catch (err) {
    throw new Error(`--in ${inFile}: ${(err as Error).message}`, { cause: err });
  }
  const signed = signLicense(unsigned, key);
  writeFileSync(outFile, `${JSON.stringify(signed, null, 2)}\n`);
  return signed;
}

/** `licensectl vendor serve` options, as commander hands them over. */
export interface ServeVendorOptions {
  readonly key: string;
  readonly listen: string;
  readonly policy?: string;
  readonly log?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly demoToken?: string;
}

export interface RunningVendorService {
  readonly url: string;
  /** Stops accepting, lets open requests finish, closes the log. */
  close(): Promise<void>;
}

/**
 * `licensectl vendor serve`: loads the key, the policy (or demo mode) and the decision log,
 * replays the log's grants, and listens. Notes for the operator (demo mode, plain tokens,
 * a readable key file, what was replayed) go to `note`; decisions go to --log FILE or stdout.
 */
export async function serveVendor(o: ServeVendorOptions, io: { note: (line: string) => void; stdout: (line: string) => void }): Promise<RunningVendorService> {
  if (o.policy !== undefined && o.demoToken !== undefined) throw new Error('give --policy FILE or --demo-token TOKEN, not both');
  if (o.policy === undefined && o.demoToken === undefined) {
    throw new Error(
      'no --policy FILE: the service signs only for the customers and clusters a policy names (docs/VENDOR-SERVICE.md); --demo-token TOKEN runs a demo that signs for any cluster',
    );
  }
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new Error('--tls-cert and --tls-key go together');
  let listen;
  try {
    listen = parseHostPort(o.listen);
  } catch (err) {
    throw new Error(`--listen: ${errorMessage(err)}`, { cause: err });
  }
  const privateKey = loadPrivateKey(o.key);
  try {
    // The key signs activation keys for every customer: say so when others can read it.
    if ((statSync(o.key).mode & 0o077) !== 0 && process.platform !== 'win32') io.note(`warning: ${o.key} is readable by other users; chmod 600 it`);
  } catch {
    // loadPrivateKey read it; a stat failing now changes nothing.
  }
  const policy = o.policy !== undefined ? loadPolicyFile(o.policy) : demoPolicy(o.demoToken ?? '');
  for (const w of policy.warnings) io.note(`warning: ${w}`);
  if (policy.mode === 'demo') {
    io.note(`DEMO MODE: one token, any cluster, ${DEMO_MAX_ACTIVATIONS_PER_EPISODE} activations per failover episode; run with --policy FILE for customers`);
  }
  const tls =
    o.tlsCert !== undefined && o.tlsKey !== undefined
      ? { cert: readFileOrExplain(o.tlsCert, '--tls-cert'), key: readFileOrExplain(o.tlsKey, '--tls-key') }
      : undefined;

  const history = o.log !== undefined ? readDecisionLog(o.log) : undefined;
  const logFile = o.log !== undefined ? openDecisionLog(o.log) : undefined;
  const service = createVendorService({
    privateKey,
    policy,
    clock: systemClock,
    ...(tls ? { tls } : {}),
    ...(history ? { history: history.granted } : {}),
    log: logFile ? (d) => logFile.write(d) : (d) => io.stdout(JSON.stringify(d)),
  });
  if (o.log !== undefined && history) {
    io.note(
      `decision log ${o.log}: replayed ${service.replayed} grant(s)${history.unreadable > 0 ? `, read past ${history.unreadable} unreadable line(s) (torn by a crash; their keys were never answered)` : ''}`,
    );
  }
  let url: string;
  try {
    url = await service.listen(listen.host, listen.port);
  } catch (err) {
    logFile?.close();
    throw new Error(`--listen ${o.listen}: ${errorMessage(err)}`, { cause: err });
  }
  return {
    url,
    async close() {
      await service.close();
      logFile?.close();
    },
  };
}

function readFileOrExplain(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${flag} ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** `licensectl vendor token-hash`: the SHA-256 hex a policy file stores for a customer's token. */
export function tokenHash(token: string): string {
  const t = token.trim();
  const problem = tokenProblem(t);
  if (problem) throw new Error(`the token ${problem}`);
  return tokenSha256(t);
}
