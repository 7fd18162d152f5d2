import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface VendorKeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

/** A new Ed25519 vendor key pair (node:crypto; no extra dependency). */
export function generateVendorKeys(): VendorKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${what} ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** Loads an Ed25519 public key; the message names the file and what is wrong. */
export function loadPublicKey(file: string, what = 'vendor public key'): KeyObject {
  const pem = readPem(file, what);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error(`${what} ${file}: not a PEM public key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${what} ${file}: must be an Ed25519 key, found ${key.asymmetricKeyType}`);
  return key;
}

export function loadPrivateKey(file: string, what = 'vendor private key'): KeyObject {
  const pem = readPem(file, what);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error(`${what} ${file}: not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${what} ${file}: must be an Ed25519 key, found ${key.asymmetricKeyType}`);
  return key;
}
