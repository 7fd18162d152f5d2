import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { PROTO_DIR, PROTO_FILES, PROTO_LOADER_OPTIONS } from '../../contract/proto';

/**
 * gRPC server reflection (v1 and v1alpha) describing every service the node serves:
 * the license.v1 services and grpc.health.v1.Health. Operators can then explore a node
 * with `grpcurl -plaintext HOST:7400 list` / `describe` without a copy of proto/.
 */
export function addReflection(server: Pick<grpc.Server, 'addService'>): void {
  const definition = protoLoader.loadSync([...PROTO_FILES, HEALTH_PROTO], {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [PROTO_DIR, path.dirname(HEALTH_PROTO)],
  });
  new ReflectionService(definition).addToServer(server);
}
