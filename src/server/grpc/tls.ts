import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { TlsConfig } from '../config';
import { ErrorCode, LicenseError } from '../errors';

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new LicenseError(ErrorCode.CONFIG_INVALID, `${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * Credentials for every gRPC listener. Without TLS: plaintext. With LICENSE_TLS_CA
 * the server asks every client for a certificate but does not demand one at the TLS
 * layer, so SDK clients need none; peer and admin calls are then required to present
 * one that chains to the CA (requireClientCertificate below). Certificates are
 * re-read from disk periodically, so rotating them needs no restart.
 */
export function serverCredentials(tls: TlsConfig | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  // Read once now so a missing or unreadable file stops the node at start, naming the key.
  readPem(tls.certFile, 'LICENSE_TLS_CERT');
  readPem(tls.keyFile, 'LICENSE_TLS_KEY');
  if (tls.caFile !== undefined) readPem(tls.caFile, 'LICENSE_TLS_CA');
  const refreshIntervalMs = 60_000;
  const identity = new grpc.experimental.FileWatcherCertificateProvider({ certificateFile: tls.certFile, privateKeyFile: tls.keyFile, refreshIntervalMs });
  const ca = tls.caFile === undefined ? null : new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: tls.caFile, refreshIntervalMs });
  // grpc-js passes these on as (identity, ca, requireClientCertificate).
  return grpc.experimental.createCertificateProviderServerCredentials(identity, ca, false);
}

export interface ClientTlsOptions {
  /** CA to verify the server with (default: the system's roots). */
  readonly caFile?: string;
  /** Client certificate and key, for servers that verify clients (peer and admin calls). */
  readonly certFile?: string;
  readonly keyFile?: string;
}

export function channelCredentials(tls: ClientTlsOptions | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const ca = tls.caFile === undefined ? null : readPem(tls.caFile, 'TLS CA');
  const key = tls.keyFile === undefined ? null : readPem(tls.keyFile, 'TLS key');
  const cert = tls.certFile === undefined ? null : readPem(tls.certFile, 'TLS certificate');
  return grpc.credentials.createSsl(ca, key, cert);
}

/** With LICENSE_TLS_CA set, peer and admin calls must come with a verified client certificate. */
export function requireClientCertificate(call: grpc.ServerUnaryCall<unknown, unknown>, tls: TlsConfig | undefined, what: string): void {
  if (tls?.caFile === undefined) return;
  if (!call.getAuthContext().sslPeerCertificate) {
    throw new LicenseError(
      ErrorCode.UNAUTHENTICATED,
      `${what} needs a client certificate signed by this cluster's CA (LICENSE_TLS_CA); licensectl: --tls-cert/--tls-key`,
    );
  }
}
