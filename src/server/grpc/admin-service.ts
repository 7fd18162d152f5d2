import type * as grpc from '@grpc/grpc-js';
import type { AdminServiceHandlers } from '../../contract/generated/license/v1/AdminService';
import type { GetStatusResponse } from '../../contract/generated/license/v1/GetStatusResponse';
import type { ListLeasesRequest__Output } from '../../contract/generated/license/v1/ListLeasesRequest';
import type { NodeController } from '../cluster/node-controller';
import { toProtoState } from '../cluster/states';
import type { BudgetKeeper } from '../budget/budget-keeper';
import type { Budget } from '../../contract/generated/license/v1/Budget';
import type { ActivateRequest__Output } from '../../contract/generated/license/v1/ActivateRequest';
import type { GetAuditRequest__Output } from '../../contract/generated/license/v1/GetAuditRequest';
import type { SeatService } from '../seats/seat-service';
import type { BudgetState } from '../store/budget-store';
import type { TlsConfig } from '../config';
import { checkAdminToken } from './admin-auth';
import { requireClientCertificate } from './tls';
import { type UnaryContext, unary } from './unary';

export interface AdminServiceDeps {
  readonly adminToken: string;
  readonly controller: NodeController;
  readonly status: () => Promise<GetStatusResponse>;
  readonly seats: SeatService;
  readonly budget: BudgetKeeper;
  readonly tls?: TlsConfig;
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

/** Admin handlers; each checks the bearer token before doing anything. */
export function createAdminService(ctx: UnaryContext, deps: AdminServiceDeps): AdminServiceHandlers {
  const guarded = <Req, Res>(method: string, fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    unary<Req, Res>(ctx, method, async (req, call) => {
      requireClientCertificate(call, deps.tls, 'an admin call');
      checkAdminToken(call.metadata, deps.adminToken);
      return fn(req, call);
    });

  return {
    GetStatus: guarded('GetStatus', () => deps.status()),
    // One page (page_size, page_token): Redis work per call is bounded by the page size.
    ListLeases: guarded('ListLeases', async (req: ListLeasesRequest__Output) => {
      const page = await deps.seats.listLeases({ feature: req.feature, pageSize: req.page_size, pageToken: req.page_token });
      return {
        leases: page.leases.map((l) => ({
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
        })),
        next_page_token: page.nextPageToken,
      };
    }),
    // Activation is how a blocked redundant gets going again, so it passes while FAILOVER_BLOCKED.
    RequestActivationKey: guarded('RequestActivationKey', async () => ({
      request_key: await deps.budget.requestKey(deps.controller.fenceForRunningWork()),
    })),
    Activate: guarded('Activate', async (req: ActivateRequest__Output) => {
      const { budget, verdict } = await deps.budget.activate(deps.controller.fenceForRunningWork(), req.activation_key);
      // Outside the lease loop: the controller, which alone drives the role machine, unblocks it.
      deps.controller.applyBudget(verdict);
      return { budget: toProtoBudget(budget) };
    }),
    // Read-only, from Redis: any node answers; verifying the chain is the client's job (an auditor trusts no node).
    GetAudit: guarded('GetAudit', async (req: GetAuditRequest__Output) => {
      const entries = await deps.budget.readAudit(Math.max(0, req.limit));
      const last = entries[entries.length - 1];
      return { entries: entries.map((e) => e.json), head: last ? `${last.seq}:${last.hash}` : '', local_head: deps.budget.auditHead };
    }),
    StepDown: guarded('StepDown', async () => {
      const steppedDown = await deps.controller.stepDown();
      return { stepped_down: steppedDown, state: toProtoState(deps.controller.machine.state) };
    }),
  } satisfies AdminServiceHandlers;
}
