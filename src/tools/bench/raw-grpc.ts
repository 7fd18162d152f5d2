/**
 * Unary gRPC calls over plain node:http2 (h2c): a POST of one length-prefixed message,
 * the answer's grpc-status read from its trailers. Costs the load generator about half
 * the CPU of a grpc-js client call (no channel, filters or call objects; measured here
 * 230 against 400 µs a call on the shared 2-core machine), which is what lets two worker
 * processes heartbeat tens of thousands of sessions without becoming the bottleneck.
 */
import http2 from 'node:http2';

/** What one call answered, failed or not. */
export interface RawAnswer {
  readonly httpStatus: number;
  /** undefined when the answer carried no grpc-status at all. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  /** The first response message, without its 5-byte prefix (empty when none). */
  readonly message: Buffer;
}

export class RawCallError extends Error {
  constructor(
    readonly grpcStatus: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** gRPC length-prefixed message: compressed flag 0, 4-byte big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Headers a gRPC server needs on a call besides :method POST and :path. */
export const GRPC_HEADERS = { 'content-type': 'application/grpc', te: 'trailers' } as const;

const text = (v: string | string[] | number | undefined): string | undefined => (v === undefined ? undefined : Array.isArray(v) ? v.join(',') : String(v));

/**
 * Node's default is 10 MB per session, past which nghttp2 fails new streams (the session
 * then dies with NGHTTP2_INTERNAL_ERROR): thousands of heartbeats queued behind a slow
 * server reach it. grpc-js lifts the limit the same way for its own connections.
 */
const SESSION_OPTIONS: http2.ClientSessionOptions = { maxSessionMemory: Number.MAX_SAFE_INTEGER };

export class RawGrpcClient {
  /** Connections opened again after the previous one closed or failed. */
  reconnects = 0;

  private constructor(
    private readonly addr: string,
    private session: http2.ClientHttp2Session,
  ) {}

  /** One HTTP/2 connection to a plaintext gRPC server at host:port (opened again on the next call if it goes away). */
  static connect(addr: string, timeoutMs = 10_000): Promise<RawGrpcClient> {
    return new Promise((resolve, reject) => {
      const session = RawGrpcClient.open(addr);
      const timer = setTimeout(() => {
        session.destroy();
        reject(new Error(`no HTTP/2 connection to ${addr} within ${timeoutMs} ms`));
      }, timeoutMs);
      session.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawGrpcClient(addr, session));
      });
      session.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private static open(addr: string): http2.ClientHttp2Session {
    const session = http2.connect(`http://${addr}`, SESSION_OPTIONS);
    // A session error fails the calls in flight (their streams error); the next call reconnects.
    session.on('error', () => {});
    return session;
  }

  /** The live session, or a new one when the last has closed: a real client reconnects too. */
  private live(): http2.ClientHttp2Session {
    if (this.session.closed || this.session.destroyed) {
      this.reconnects++;
      this.session = RawGrpcClient.open(this.addr);
    }
    return this.session;
  }

  /** Sends `frame` to `path` and resolves with whatever came back; rejects only on transport failure or timeout. */
  call(path: string, frame: Buffer, timeoutMs?: number): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const req = this.live().request({ ':method': 'POST', ':path': path, ...GRPC_HEADERS });
      let httpStatus = 0;
      let grpcStatus: string | undefined;
      let grpcMessage = '';
      const chunks: Buffer[] = [];
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              req.close(http2.constants.NGHTTP2_CANCEL);
              reject(new RawCallError(4, `${path}: deadline of ${timeoutMs} ms exceeded`));
            }, timeoutMs);
      const take = (h: http2.IncomingHttpHeaders): void => {
        grpcStatus = text(h['grpc-status']) ?? grpcStatus;
        const m = text(h['grpc-message']);
        if (m !== undefined) grpcMessage = decodeURIComponent(m);
      };
      req.on('response', (h) => {
        httpStatus = Number(h[':status']);
        take(h);
      });
      req.on('trailers', take);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', (err: Error) => {
        if (timer) clearTimeout(timer);
        reject(err);
      });
      req.on('end', () => {
        if (timer) clearTimeout(timer);
        const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        const message = data.length >= 5 ? data.subarray(5, 5 + data.readUInt32BE(1)) : Buffer.alloc(0);
        resolve({ httpStatus, grpcStatus: grpcStatus === undefined ? undefined : Number(grpcStatus), grpcMessage, message });
      });
      req.end(frame);
    });
  }

  /** Like call(), but resolves with the response message only when grpc-status is 0. */
  async unary(path: string, frame: Buffer, timeoutMs?: number): Promise<Buffer> {
    const a = await this.call(path, frame, timeoutMs);
    if (a.httpStatus !== 200 || a.grpcStatus !== 0) {
      throw new RawCallError(a.grpcStatus, `${path}: HTTP ${a.httpStatus}, grpc-status ${a.grpcStatus ?? 'none'}${a.grpcMessage ? ` ${a.grpcMessage}` : ''}`);
    }
    return a.message;
  }

  close(): void {
    this.session.close();
  }
}
