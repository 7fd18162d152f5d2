import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, LicenseError } from '../errors';
import type { PeerHeartbeatRequest, PeerHeartbeatRequest__Output } from '../../contract/generated/license/v1/PeerHeartbeatRequest';
import { canonicalJson } from '../license/canonical-json';

/** How far a heartbeat's sent_at may be from the receiver's clock (nodes are NTP-synced). */
export const PEER_AUTH_WINDOW_MS = 30_000;

function tagOf(msg: PeerHeartbeatRequest | PeerHeartbeatRequest__Output, secret: string): string {
  const { auth_tag: _ignored, license_serial, console_url, policy_digest, ...rest } = msg;
  // A sender from before license_serial (or console_url, policy_digest) signed without it, and
  // the receiver decodes it as 0 (""): leaving those out keeps such a heartbeat verifiable.
  const fields = {
    ...rest,
    ...(license_serial ? { license_serial } : {}),
    ...(console_url ? { console_url } : {}),
    ...(policy_digest ? { policy_digest } : {}),
  };
  return createHmac('sha256', secret).update(canonicalJson(fields)).digest('hex');
}

/** Adds the HMAC of every other field (LICENSE_CLUSTER_SECRET). */
export function signPeerMessage(msg: PeerHeartbeatRequest, secret: string): PeerHeartbeatRequest {
  return { ...msg, auth_tag: tagOf(msg, secret) };
}

/**
 * Authenticates a peer heartbeat: a valid tag, a sent_at within the window, and newer
 * than the last one accepted from that node (so a captured heartbeat cannot be replayed
 * to trigger a handback or a takeover).
 */
export class PeerAuthenticator {
  private readonly lastSentAt = new Map<string, number>();

  constructor(private readonly secret: string) {}

  sign(msg: PeerHeartbeatRequest): PeerHeartbeatRequest {
    return signPeerMessage(msg, this.secret);
  }

  verify(msg: PeerHeartbeatRequest__Output, nowMs: number): void {
    const want = Buffer.from(tagOf(msg, this.secret), 'hex');
    const got = Buffer.from(/^[0-9a-f]{64}$/.test(msg.auth_tag) ? msg.auth_tag : '', 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new LicenseError(
        ErrorCode.UNAUTHENTICATED,
        `heartbeat from ${msg.node_id || '(no node id)'} is not signed with this cluster's secret: both nodes need the same LICENSE_CLUSTER_SECRET`,
      );
    }
    if (Math.abs(msg.sent_at_ms - nowMs) > PEER_AUTH_WINDOW_MS) {
      throw new LicenseError(
        ErrorCode.UNAUTHENTICATED,
        `heartbeat from ${msg.node_id} was sent ${Math.round((nowMs - msg.sent_at_ms) / 1000)} s away from this node's clock: replayed, or the clocks are not synced (NTP)`,
      );
    }
    const last = this.lastSentAt.get(msg.node_id) ?? Number.NEGATIVE_INFINITY;
    // Requests and responses interleave, so equal times are fine; older ones are replays.
    if (msg.sent_at_ms < last - 1_000) {
      throw new LicenseError(ErrorCode.UNAUTHENTICATED, `heartbeat from ${msg.node_id} is older than one already accepted: replayed`);
    }
    this.lastSentAt.set(msg.node_id, Math.max(last, msg.sent_at_ms));
  }
}
