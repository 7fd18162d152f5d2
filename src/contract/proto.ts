import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as AdminProto } from './generated/admin';
import type { ProtoGrpcType as ClusterProto } from './generated/cluster';
import type { ProtoGrpcType as SeatProto } from './generated/seat';

/**
 * proto/ at the package root. This file sits two levels below it in every layout it
 * runs from: src/contract (tsx), dist/contract (the server build) and the SDK package's
 * dist/contract, whose build copies proto/ next to its dist/.
 */
export const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
export const PROTO_FILES = ['license/v1/common.proto', 'license/v1/seat.proto', 'license/v1/cluster.proto', 'license/v1/admin.proto'];

/** Loader options that the generated types in ./generated assume; keep them in step with `npm run gen:proto`. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export type LicenseV1 = AdminProto['license']['v1'] & ClusterProto['license']['v1'] & SeatProto['license']['v1'];

let cachedDefinition: protoLoader.PackageDefinition | undefined;
let cached: LicenseV1 | undefined;

/** The parsed `license.v1` protos (what gRPC server reflection describes), loaded once per process. */
export function loadLicensePackageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync(PROTO_FILES, PROTO_LOADER_OPTIONS);
  return cachedDefinition;
}

/** The `license.v1` package (services and messages), loaded once per process. */
export function loadLicenseProto(): LicenseV1 {
  if (!cached) {
    const pkg = grpc.loadPackageDefinition(loadLicensePackageDefinition()) as unknown as { license: { v1: LicenseV1 } };
    cached = pkg.license.v1;
  }
  return cached;
}
