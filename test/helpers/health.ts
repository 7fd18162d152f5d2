import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

type HealthClient = grpc.Client & {
  Check(req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
};

/** A grpc.health.v1 client, as a load balancer or a probe would use it. */
export function healthClient(addr: string): HealthClient {
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthClient } } };
  };
  return new pkg.grpc.health.v1.Health(addr, grpc.credentials.createInsecure());
}

export function checkHealth(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, { deadline: Date.now() + 3_000 }, (err, res) => (err ? reject(err) : resolve(res?.status ?? ''))),
  );
}

/** One Check on a fresh client. */
export async function checkOnce(addr: string, service: string): Promise<string> {
  const client = healthClient(addr);
  try {
    return await checkHealth(client, service);
  } finally {
    client.close();
  }
}
