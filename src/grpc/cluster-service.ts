import type { ClusterServiceHandlers } from '../generated/license/v1/ClusterService';
import type { NodeController } from '../cluster/node-controller';
import { type UnaryContext, unary } from './unary';

export function createClusterService(ctx: UnaryContext, controller: NodeController): ClusterServiceHandlers {
  return {
    Heartbeat: unary(ctx, 'ClusterHeartbeat', async (req) => controller.onPeerHeartbeat(req)),
  };
}
