import type * as grpc from '@grpc/grpc-js';
import type { AdminServiceHandlers } from '../../contract/generated/license/v1/AdminService';
import type { AdminOps } from '../admin/admin-ops';
import type { TlsConfig } from '../config';
import { checkAdminToken } from './admin-auth';
import { requireClientCertificate } from './tls';
import { type UnaryContext, unary } from './unary';

export { toProtoBudget } from '../admin/admin-ops';

export interface AdminServiceDeps {
  readonly adminToken: string;
  readonly ops: AdminOps;
  readonly tls?: TlsConfig;
}

/** The gRPC door onto AdminOps: each handler checks the client certificate and bearer token before doing anything. */
export function createAdminService(ctx: UnaryContext, deps: AdminServiceDeps): AdminServiceHandlers {
  const guarded = <Req, Res>(method: string, fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    unary<Req, Res>(ctx, method, async (req, call) => {
      requireClientCertificate(call, deps.tls, 'an admin call');
      checkAdminToken(call.metadata, deps.adminToken);
      return fn(req);
    });
  const { ops } = deps;
  return {
    GetStatus: guarded('GetStatus', () => ops.getStatus()),
    ListLeases: guarded('ListLeases', (req) => ops.listLeases(req)),
    RequestActivationKey: guarded('RequestActivationKey', () => ops.requestActivationKey()),
    Activate: guarded('Activate', (req) => ops.activate(req)),
    CheckActivationKey: guarded('CheckActivationKey', (req) => ops.checkActivationKey(req)),
    SendActivationRequest: guarded('SendActivationRequest', () => ops.sendActivationRequest()),
    GetAudit: guarded('GetAudit', (req) => ops.getAudit(req)),
    StepDown: guarded('StepDown', () => ops.stepDown()),
    ReleaseLease: guarded('ReleaseLease', (req) => ops.releaseLease(req)),
  } satisfies AdminServiceHandlers;
}
