import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface DevPki {
  readonly dir: string;
  readonly caFile: string;
  /** Issues a certificate signed by this CA (SAN 127.0.0.1 and localhost); returns the file paths. */
  issue(name: string): { certFile: string; keyFile: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A throwaway CA made with the openssl CLI, for TLS tests, the bench and local trials. */
export function createDevPki(label: string): DevPki {
  const dir = mkdtempSync(path.join(tmpdir(), `pki-${label}-`));
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${label}-ca`], dir);
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    issue(name) {
      openssl(['req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          `${name}.pem`,
          '-days',
          '2',
          '-extfile',
          'san.ext',
        ],
        dir,
      );
      return { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) };
    },
  };
}
