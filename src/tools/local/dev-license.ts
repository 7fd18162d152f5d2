import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { signLicense, type UnsignedLicense } from '../../server/license/license-file';
import { generateVendorKeys, type VendorKeyPair } from '../../server/license/vendor-keys';

export interface DevLicenseFiles {
  readonly licenseFile: string;
  readonly publicKeyFile: string;
  readonly privateKeyFile: string;
}

export const DEV_FEATURES: UnsignedLicense['features'] = [
  { name: 'cad-pro', seats: 5 },
  { name: 'solver', seats: 50 },
];

/** The node ids the local cluster (and the test helpers) run with. */
export const DEV_SERVERS: UnsignedLicense['servers'] = [
  { node_id: 'node-a', role: 'primary' },
  { node_id: 'node-b', role: 'redundant' },
];

/** The license terms a dev or test license is signed with; each defaults as noted. */
export interface DevLicenseTerms {
  /** Default DEV_FEATURES. */
  readonly features?: UnsignedLicense['features'];
  /** Default DEV_SERVERS (node-a primary, node-b redundant). */
  readonly servers?: UnsignedLicense['servers'];
  /** Default 1. */
  readonly serial?: number;
  /** Default: none, so the license defaults apply (72 h budget, 1 h reset, 72 h per activation). */
  readonly failover?: UnsignedLicense['failover'];
}

function unsignedDevLicense(clusterId: string, terms: DevLicenseTerms): UnsignedLicense {
  return {
    licensee: 'Local development',
    cluster_id: clusterId,
    serial: terms.serial ?? 1,
    servers: terms.servers ?? DEV_SERVERS,
    ...(terms.failover === undefined ? {} : { failover: terms.failover }),
    features: terms.features ?? DEV_FEATURES,
  };
}

/** Signs a dev license with the throwaway vendor key in `files` into `out` (another serial, other terms). */
export function signDevLicense(files: DevLicenseFiles, out: string, clusterId: string, terms: DevLicenseTerms = {}): string {
  const signed = signLicense(unsignedDevLicense(clusterId, terms), createPrivateKey(readFileSync(files.privateKeyFile, 'utf8')));
  writeFileSync(out, `${JSON.stringify(signed, null, 2)}\n`);
  return out;
}

/**
 * A throwaway vendor key pair and a license signed with it, for the dev cluster,
 * drills and tests. Real deployments get both from the vendor.
 */
export function writeDevLicense(dir: string, clusterId: string, terms: DevLicenseTerms = {}, keys: VendorKeyPair = generateVendorKeys()): DevLicenseFiles {
  const files: DevLicenseFiles = {
    licenseFile: path.join(dir, 'license.json'),
    publicKeyFile: path.join(dir, 'vendor-public.pem'),
    privateKeyFile: path.join(dir, 'vendor-private.pem'),
  };
  writeFileSync(files.privateKeyFile, keys.privateKeyPem, { mode: 0o600 });
  writeFileSync(files.publicKeyFile, keys.publicKeyPem);
  signDevLicense(files, files.licenseFile, clusterId, terms);
  return files;
}
