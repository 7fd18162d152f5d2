import type * as grpc from '@grpc/grpc-js';
import type { AdminServiceHandlers } from '../generated/license/v1/AdminService';
import type { GetStatusResponse } from '../generated/license/v1/GetStatusResponse';
import type { NodeController } from '../cluster/node-controller';
import { toProtoState } from '../cluster/states';
import { checkAdminToken } from './admin-auth';
import { type UnaryContext, unary } from './unary';

export interface AdminServiceDeps {
  readonly adminToken: string;
  readonly controller: NodeController;
  readonly status: () => Promise<GetStatusResponse>;
}

/** Admin handlers; each checks the bearer token before doing anything. */
/** RPCs not listed here (leases, activation) answer UNIMPLEMENTED until their issues land. */
export function createAdminService(ctx: UnaryContext, deps: AdminServiceDeps): grpc.UntypedServiceImplementation {
  const guarded = <Req, Res>(
    method: string,
    fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> =>
    unary<Req, Res>(ctx, method, async (req, call) => {
      checkAdminToken(call.metadata, deps.adminToken);
      return fn(req, call);
    });

  return {
    GetStatus: guarded('GetStatus', () => deps.status()),
    StepDown: guarded('StepDown', async () => {
      const steppedDown = await deps.controller.stepDown();
      return { stepped_down: steppedDown, state: toProtoState(deps.controller.machine.state) };
    }),
  } satisfies Partial<AdminServiceHandlers>;
}
