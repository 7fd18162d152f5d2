import type { TlsConfig } from '../config';
import { ErrorCode, LicenseError } from '../errors';
import { requireClientCertificate } from './tls';
import type { ClusterServiceHandlers } from '../../contract/generated/license/v1/ClusterService';
import type { NodeController } from '../cluster/node-controller';
import { type UnaryContext, unary } from './unary';

export interface PeerAccess {
  readonly tls?: TlsConfig | undefined;
  /**
   * True when heartbeats are authenticated (LICENSE_CLUSTER_SECRET, or client
   * certificates with LICENSE_TLS_CA) or the operator accepted unauthenticated ones
   * (LICENSE_INSECURE_PEERS=true). Otherwise every heartbeat is refused: a node that
   * cannot tell its peer from any process on the network must not let one steer it,
   * whether or not it dials a peer itself.
   */
  readonly accepting: boolean;
}

export function createClusterService(ctx: UnaryContext, controller: NodeController, access: PeerAccess): ClusterServiceHandlers {
  return {
    Heartbeat: unary(ctx, 'ClusterHeartbeat', (req, call) => {
      if (!access.accepting) {
        throw new LicenseError(
          ErrorCode.PEER_REFUSED,
          'this node accepts only authenticated peer heartbeats: set the same LICENSE_CLUSTER_SECRET on both nodes (or LICENSE_TLS_CA for mutual TLS)',
        );
      }
      requireClientCertificate(call, access.tls, 'a peer heartbeat');
      return Promise.resolve(controller.onPeerHeartbeat(req));
    }),
  };
}
