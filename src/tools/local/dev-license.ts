import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { signLicense, type UnsignedLicense } from '../../server/license/license-file';
import { generateVendorKeys } from '../../server/license/vendor-keys';

export interface DevLicenseFiles {
  readonly licenseFile: string;
  readonly publicKeyFile: string;
  readonly privateKeyFile: string;
}

export const DEV_FEATURES: UnsignedLicense['features'] = [
  { name: 'cad-pro', seats: 5 },
  { name: 'solver', seats: 50 },
];

/**
 * A throwaway vendor key pair and a license signed with it, for the dev cluster,
 * drills and tests. Real deployments get both from the vendor.
 */
export function writeDevLicense(dir: string, clusterId: string, features: UnsignedLicense['features'] = DEV_FEATURES): DevLicenseFiles {
  const keys = generateVendorKeys();
  const files: DevLicenseFiles = {
    licenseFile: path.join(dir, 'license.json'),
    publicKeyFile: path.join(dir, 'vendor-public.pem'),
    privateKeyFile: path.join(dir, 'vendor-private.pem'),
  };
  writeFileSync(files.privateKeyFile, keys.privateKeyPem, { mode: 0o600 });
  writeFileSync(files.publicKeyFile, keys.publicKeyPem);
  const signed = signLicense({ licensee: 'Local development', cluster_id: clusterId, features }, createPrivateKey(keys.privateKeyPem));
  writeFileSync(files.licenseFile, `${JSON.stringify(signed, null, 2)}\n`);
  return files;
}
