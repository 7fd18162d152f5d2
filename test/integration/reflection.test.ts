import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import descriptor, { type IFileDescriptorProto } from 'protobufjs/ext/descriptor';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { type RedisProcess, startRedis } from '../helpers/redis';

/** The reflection protos ship with @grpc/reflection. */
const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

type ReflectionCtor = new (
  addr: string,
  creds: grpc.ChannelCredentials,
) => grpc.Client & {
  ServerReflectionInfo(): grpc.ClientDuplexStream<Record<string, string>, ReflectionResponse>;
};

function reflectionClient(version: 'v1' | 'v1alpha', addr: string): InstanceType<ReflectionCtor> {
  const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [REFLECTION_PROTO_DIR],
    keepCase: true,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: Record<string, { ServerReflection: ReflectionCtor }> } };
  const ctor = pkg.grpc.reflection[version]?.ServerReflection;
  assert.ok(ctor, `no ServerReflection in ${version}`);
  return new ctor(addr, grpc.credentials.createInsecure());
}

/** One request on the bidirectional stream, as grpcurl sends it. */
function ask(client: InstanceType<ReflectionCtor>, request: Record<string, string>): Promise<ReflectionResponse> {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.once('data', (res: ReflectionResponse) => {
      resolve(res);
      call.end();
    });
    call.once('error', reject);
    call.write(request);
  });
}

describe('gRPC server reflection on a node', () => {
  let redis: RedisProcess;
  let node: StartedNode;
  const clients: grpc.Client[] = [];

  before(async () => {
    redis = await startRedis();
    node = await startTestNode(testConfig(redis.url));
  });
  after(async () => {
    for (const c of clients) c.close();
    await node?.node.stop();
    await redis?.stop();
  });

  for (const version of ['v1', 'v1alpha'] as const) {
    it(`lists the license services and health (${version}, what \`grpcurl list\` asks)`, async () => {
      const client = reflectionClient(version, node.addr);
      clients.push(client);
      const res = await ask(client, { list_services: '' });
      const services = (res.list_services_response?.service ?? []).map((s) => s.name).sort();
      for (const name of ['grpc.health.v1.Health', 'license.v1.AdminService', 'license.v1.ClusterService', 'license.v1.SeatService']) {
        assert.ok(services.includes(name), `${name} missing from ${services.join(', ')}`);
      }
    });
  }

  it('describes SeatService with its contract methods (what `grpcurl describe` asks)', async () => {
    const client = reflectionClient('v1', node.addr);
    clients.push(client);
    const res = await ask(client, { file_containing_symbol: 'license.v1.SeatService' });
    const files = (res.file_descriptor_response?.file_descriptor_proto ?? []).map(
      (b) => descriptor.FileDescriptorProto.decode(b) as unknown as IFileDescriptorProto,
    );
    const seat = files.flatMap((f) => f.service ?? []).find((s) => s.name === 'SeatService');
    assert.ok(seat, 'no SeatService descriptor');
    assert.deepEqual((seat.method ?? []).map((m) => m.name).sort(), ['Checkout', 'CloseSession', 'Heartbeat', 'ListFeatures', 'OpenSession', 'Release']);
    const checkoutRequest = files.flatMap((f) => f.messageType ?? []).find((m) => m.name === 'CheckoutRequest');
    assert.deepEqual(
      (checkoutRequest?.field ?? []).map((f) => f.name).filter((n) => ['session_id', 'feature', 'count', 'request_id'].includes(n ?? '')),
      ['session_id', 'feature', 'count', 'request_id'],
    );
  });
});
