import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseUnsignedLicense, type SignedLicense, signLicense } from '../license/license-file';
import { generateVendorKeys, loadPrivateKey } from '../license/vendor-keys';

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
