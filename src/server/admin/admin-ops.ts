import type { ActivateRequest__Output } from '../../contract/generated/license/v1/ActivateRequest';
import type { ActivateResponse } from '../../contract/generated/license/v1/ActivateResponse';
import type { CheckActivationKeyRequest__Output } from '../../contract/generated/license/v1/CheckActivationKeyRequest';
import type { CheckActivationKeyResponse } from '../../contract/generated/license/v1/CheckActivationKeyResponse';
import type { GetAuditRequest__Output } from '../../contract/generated/license/v1/GetAuditRequest';
import type { GetAuditResponse } from '../../contract/generated/license/v1/GetAuditResponse';
import type { GetStatusResponse } from '../../contract/generated/license/v1/GetStatusResponse';
import type { ListLeasesRequest__Output } from '../../contract/generated/license/v1/ListLeasesRequest';
import type { ListLeasesResponse } from '../../contract/generated/license/v1/ListLeasesResponse';
import type { ReleaseLeaseRequest__Output } from '../../contract/generated/license/v1/ReleaseLeaseRequest';
import type { ReleaseLeaseResponse } from '../../contract/generated/license/v1/ReleaseLeaseResponse';
import type { RequestActivationKeyResponse } from '../../contract/generated/license/v1/RequestActivationKeyResponse';
import type { SendActivationRequestResponse } from '../../contract/generated/license/v1/SendActivationRequestResponse';
import type { StepDownResponse } from '../../contract/generated/license/v1/StepDownResponse';
import type { LeaseInfo } from '../../contract/generated/license/v1/LeaseInfo';
import type { Budget } from '../../contract/generated/license/v1/Budget';
import type { BudgetKeeper } from '../budget/budget-keeper';
import type { NodeController } from '../cluster/node-controller';
import { toProtoState } from '../cluster/states';
import { ErrorCode, LicenseError } from '../errors';
import type { SeatService } from '../seats/seat-service';
import type { BudgetState } from '../store/budget-store';
import type { LeaseRow } from '../store/seat-store';

/**
 * What an operator can do to a node, one method per AdminService RPC, in the RPC's own
 * request and response shapes. The gRPC AdminService and the web console's JSON API
 * (/api/v1/) are two doors onto this one object: each checks who is calling, then calls
 * it. Every method throws LicenseError on refusal.
 */
export interface AdminOps {
  getStatus(): Promise<GetStatusResponse>;
  listLeases(req: ListLeasesRequest__Output): Promise<ListLeasesResponse>;
  requestActivationKey(): Promise<RequestActivationKeyResponse>;
  activate(req: ActivateRequest__Output): Promise<ActivateResponse>;
  checkActivationKey(req: CheckActivationKeyRequest__Output): Promise<CheckActivationKeyResponse>;
  sendActivationRequest(): Promise<SendActivationRequestResponse>;
  stepDown(): Promise<StepDownResponse>;
  getAudit(req: GetAuditRequest__Output): Promise<GetAuditResponse>;
  releaseLease(req: ReleaseLeaseRequest__Output): Promise<ReleaseLeaseResponse>;
}

/** How a node reaches its vendor's activation service (LICENSE_VENDOR_ACTIVATION_URL); absent when it has none. */
export interface VendorLink {
  readonly url: string;
  /** Answers the activation key for a request key, or throws LicenseError (VENDOR_REFUSED / VENDOR_UNAVAILABLE). */
  send(requestKey: string): Promise<{ readonly activationKey: string }>;
}

export interface AdminOpsDeps {
  readonly controller: NodeController;
  readonly status: () => Promise<GetStatusResponse>;
  readonly seats: SeatService;
  readonly budget: BudgetKeeper;
  readonly vendor?: VendorLink;
}

export function toProtoBudget(b: BudgetState): Budget {
  return {
    granted_ms: b.grantedMs,
    consumed_ms: b.consumedMs,
    remaining_ms: Math.max(0, b.grantedMs - b.consumedMs),
    blocked: b.blocked,
    activations: b.activations,
    episode_id: b.episodeId,
  };
}

function toLeaseInfo(l: LeaseRow): LeaseInfo {
  return {
    lease_id: l.leaseId,
    session_id: l.sessionId,
    feature: l.feature,
    count: l.count,
    client_id: l.clientId,
    user: l.user,
    hostname: l.hostname,
    pid: l.pid,
    granted_at_ms: l.grantedAtMs,
    expires_at_ms: l.expiresAtMs,
  };
}

/** The node's AdminOps; callers (gRPC, console) have checked who is calling. */
export function createAdminOps(deps: AdminOpsDeps): AdminOps {
  const activate = async (key: string): Promise<ActivateResponse> => {
    const { budget, verdict } = await deps.budget.activate(deps.controller.fenceForRunningWork(), key);
    // Outside the lease loop: the controller, which alone drives the role machine, unblocks it.
    deps.controller.applyBudget(verdict);
    return { budget: toProtoBudget(budget) };
  };
  const requestKey = async (): Promise<string> => deps.budget.requestKey(deps.controller.fenceForRunningWork());

  return {
    getStatus: () => deps.status(),
    // One page (page_size, page_token): Redis work per call is bounded by the page size.
    async listLeases(req) {
      const page = await deps.seats.listLeases({
        feature: req.feature,
        pageSize: req.page_size,
        pageToken: req.page_token,
        user: req.user,
        hostname: req.hostname,
      });
      return { leases: page.leases.map(toLeaseInfo), next_page_token: page.nextPageToken };
    },
    // Activation is how a blocked redundant gets going again, so it passes while FAILOVER_BLOCKED.
    requestActivationKey: async () => ({ request_key: await requestKey() }),
    activate: (req) => activate(req.activation_key),
    async checkActivationKey(req) {
      const { grant, budgetAfter } = await deps.budget.check(deps.controller.fenceForRunningWork(), req.activation_key);
      return {
        cluster_id: grant.cluster_id,
        node_id: grant.node_id,
        episode_id: grant.episode_id,
        seq: grant.seq,
        granted_ms: grant.granted_ms,
        expires_at_ms: grant.expires_at_ms,
        budget_after: toProtoBudget(budgetAfter),
      };
    },
    async sendActivationRequest() {
      const vendor = deps.vendor;
      if (!vendor) {
        throw new LicenseError(
          ErrorCode.FAILED_PRECONDITION,
          'this node has no vendor activation service (LICENSE_VENDOR_ACTIVATION_URL is not set): send the request key to the vendor by e-mail and apply the key it returns',
        );
      }
      const request_key = await requestKey();
      const { activationKey } = await vendor.send(request_key);
      const { budget } = await activate(activationKey);
      return { request_key, activation_key: activationKey, budget };
    },
    // Read-only, from Redis: any node answers; verifying the chain is the client's job (an auditor trusts no node).
    async getAudit(req) {
      const entries = await deps.budget.readAudit(Math.max(0, req.limit));
      const last = entries[entries.length - 1];
      return { entries: entries.map((e) => e.json), head: last ? `${last.seq}:${last.hash}` : '', local_head: deps.budget.auditHead };
    },
    async stepDown() {
      const steppedDown = await deps.controller.stepDown();
      return { stepped_down: steppedDown, state: toProtoState(deps.controller.machine.state) };
    },
    async releaseLease(req) {
      const freed = await deps.seats.revoke(req.lease_id);
      return freed ? { released: true, lease: toLeaseInfo(freed) } : { released: false };
    },
  };
}
