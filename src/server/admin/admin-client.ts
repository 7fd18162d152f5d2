import * as grpc from '@grpc/grpc-js';
import type { AdminServiceClient } from '../../contract/generated/license/v1/AdminService';
import type { GetStatusResponse__Output } from '../../contract/generated/license/v1/GetStatusResponse';
import type { ActivateResponse__Output } from '../../contract/generated/license/v1/ActivateResponse';
import type { RequestActivationKeyResponse__Output } from '../../contract/generated/license/v1/RequestActivationKeyResponse';
import type { ListLeasesResponse__Output } from '../../contract/generated/license/v1/ListLeasesResponse';
import type { LeaseInfo__Output } from '../../contract/generated/license/v1/LeaseInfo';
import type { StepDownResponse__Output } from '../../contract/generated/license/v1/StepDownResponse';
import type { GetAuditResponse__Output } from '../../contract/generated/license/v1/GetAuditResponse';
import type { ReleaseLeaseResponse__Output } from '../../contract/generated/license/v1/ReleaseLeaseResponse';
import type { CheckActivationKeyResponse__Output } from '../../contract/generated/license/v1/CheckActivationKeyResponse';
import type { SendActivationRequestResponse__Output } from '../../contract/generated/license/v1/SendActivationRequestResponse';
import { FAST_RECONNECT_OPTIONS } from '../grpc/server';
import { type ClientTlsOptions, channelCredentials } from '../grpc/tls';
import { loadLicenseProto } from '../../contract/proto';

export interface AdminClient {
  getStatus(): Promise<GetStatusResponse__Output>;
  stepDown(): Promise<StepDownResponse__Output>;
  /** One page of ListLeases (page size 0: the server's default, 500); its next_page_token is '' on the last page. */
  listLeases(feature?: string, page?: LeasePageRequest): Promise<ListLeasesResponse__Output>;
  /** Every lease, following next_page_token page after page (`pageSize` 0: the server's default). */
  listAllLeases(feature?: string, pageSize?: number): Promise<LeaseInfo__Output[]>;
  requestActivationKey(): Promise<RequestActivationKeyResponse__Output>;
  activate(key: string): Promise<ActivateResponse__Output>;
  getAudit(limit?: number): Promise<GetAuditResponse__Output>;
  /** Frees a lease of any client (like lmremove). */
  releaseLease(leaseId: string): Promise<ReleaseLeaseResponse__Output>;
  /** Every check Activate makes, nothing applied. */
  checkActivationKey(key: string): Promise<CheckActivationKeyResponse__Output>;
  /** The node sends its request key to LICENSE_VENDOR_ACTIVATION_URL and applies the answer. */
  sendActivationRequest(): Promise<SendActivationRequestResponse__Output>;
  close(): void;
}

export interface LeasePageRequest {
  readonly pageSize?: number;
  /** The next_page_token of the previous page; '' or unset for the first. */
  readonly pageToken?: string;
  /** Only leases of this user / host. */
  readonly user?: string;
  readonly hostname?: string;
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
  const listLeasesPage = (feature: string, page: LeasePageRequest): Promise<ListLeasesResponse__Output> =>
    call<ListLeasesResponse__Output>((m, o, cb) =>
      client.ListLeases(
        { feature, page_size: page.pageSize ?? 0, page_token: page.pageToken ?? '', user: page.user ?? '', hostname: page.hostname ?? '' },
        m,
        o,
        cb,
      ),
    );
  return {
    getStatus: () => call<GetStatusResponse__Output>((m, o, cb) => client.GetStatus({}, m, o, cb)),
    stepDown: () => call<StepDownResponse__Output>((m, o, cb) => client.StepDown({}, m, o, cb)),
    requestActivationKey: () => call<RequestActivationKeyResponse__Output>((m, o, cb) => client.RequestActivationKey({}, m, o, cb)),
    activate: (key) => call<ActivateResponse__Output>((m, o, cb) => client.Activate({ activation_key: key }, m, o, cb)),
    getAudit: (limit = 0) => call<GetAuditResponse__Output>((m, o, cb) => client.GetAudit({ limit }, m, o, cb)),
    releaseLease: (leaseId) => call<ReleaseLeaseResponse__Output>((m, o, cb) => client.ReleaseLease({ lease_id: leaseId }, m, o, cb)),
    checkActivationKey: (key) => call<CheckActivationKeyResponse__Output>((m, o, cb) => client.CheckActivationKey({ activation_key: key }, m, o, cb)),
    sendActivationRequest: () => call<SendActivationRequestResponse__Output>((m, o, cb) => client.SendActivationRequest({}, m, o, cb)),
    listLeases: (feature = '', page = {}) => listLeasesPage(feature, page),
    async listAllLeases(feature = '', pageSize = 0) {
      const leases: LeaseInfo__Output[] = [];
      let pageToken = '';
      do {
        const page = await listLeasesPage(feature, { pageSize, pageToken });
        leases.push(...page.leases);
        pageToken = page.next_page_token;
      } while (pageToken !== '');
      return leases;
    },
    close: () => client.close(),
  };
}
