import * as grpc from '@grpc/grpc-js';
import type { AdminServiceClient } from '../../contract/generated/license/v1/AdminService';
import type { GetStatusResponse__Output } from '../../contract/generated/license/v1/GetStatusResponse';
import type { ActivateResponse__Output } from '../../contract/generated/license/v1/ActivateResponse';
import type { RequestActivationKeyResponse__Output } from '../../contract/generated/license/v1/RequestActivationKeyResponse';
import type { ListLeasesResponse__Output } from '../../contract/generated/license/v1/ListLeasesResponse';
import type { StepDownResponse__Output } from '../../contract/generated/license/v1/StepDownResponse';
import type { GetAuditResponse__Output } from '../../contract/generated/license/v1/GetAuditResponse';
import { FAST_RECONNECT_OPTIONS } from '../grpc/server';
import { type ClientTlsOptions, channelCredentials } from '../grpc/tls';
import { loadLicenseProto } from '../../contract/proto';

export interface AdminClient {
  getStatus(): Promise<GetStatusResponse__Output>;
  stepDown(): Promise<StepDownResponse__Output>;
  listLeases(feature?: string): Promise<ListLeasesResponse__Output>;
  requestActivationKey(): Promise<RequestActivationKeyResponse__Output>;
  activate(key: string): Promise<ActivateResponse__Output>;
  getAudit(limit?: number): Promise<GetAuditResponse__Output>;
  close(): void;
}

export interface AdminClientOptions {
  /** Per-call deadline. */
  readonly timeoutMs?: number;
  /** TLS towards the node; unset: plaintext. */
  readonly tls?: ClientTlsOptions;
}

/** A typed AdminService client that sends the bearer token on every call (licensectl, drills, tests). */
export function createAdminClient(addr: string, token: string, opts: AdminClientOptions = {}): AdminClient {
  const proto = loadLicenseProto();
  const client: AdminServiceClient = new proto.AdminService(addr, channelCredentials(opts.tls), FAST_RECONNECT_OPTIONS);
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const md = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${token}`);
    return m;
  };
  const call = <Res>(fn: (m: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown) =>
    new Promise<Res>((resolve, reject) => {
      fn(md(), { deadline: Date.now() + timeoutMs }, (err, res) => (err || res === undefined ? reject(err ?? new Error('empty response')) : resolve(res)));
    });
  return {
    getStatus: () => call<GetStatusResponse__Output>((m, o, cb) => client.GetStatus({}, m, o, cb)),
    stepDown: () => call<StepDownResponse__Output>((m, o, cb) => client.StepDown({}, m, o, cb)),
    requestActivationKey: () => call<RequestActivationKeyResponse__Output>((m, o, cb) => client.RequestActivationKey({}, m, o, cb)),
    activate: (key) => call<ActivateResponse__Output>((m, o, cb) => client.Activate({ activation_key: key }, m, o, cb)),
    getAudit: (limit = 0) => call<GetAuditResponse__Output>((m, o, cb) => client.GetAudit({ limit }, m, o, cb)),
    listLeases: (feature = '') => call<ListLeasesResponse__Output>((m, o, cb) => client.ListLeases({ feature }, m, o, cb)),
    close: () => client.close(),
  };
}
