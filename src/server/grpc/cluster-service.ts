import type { TlsConfig } from '../config';
import { requireClientCertificate } from './tls';
import type { ClusterServiceHandlers } from '../../contract/generated/license/v1/ClusterService';
import type { NodeController } from '../cluster/node-controller';
import { type UnaryContext, unary } from './unary';

export function createClusterService(ctx: UnaryContext, controller: NodeController, tls?: TlsConfig): ClusterServiceHandlers {
  return {
    Heartbeat: unary(ctx, 'ClusterHeartbeat', (req, call) => {
      requireClientCertificate(call, tls, 'a peer heartbeat');
      return Promise.resolve(controller.onPeerHeartbeat(req));
    }),
  };
}
