import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerHeartbeatRequest__Output } from '../../src/contract/generated/license/v1/PeerHeartbeatRequest';
import { peerHeartbeat } from '../helpers/peer-heartbeat';
import { PeerRefusedError, validatePeerMessage, type Self } from '../../src/server/cluster/peer-message';
import { MAX_PEER_EPOCH_JUMP } from '../../src/server/cluster/role-machine';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { EPOCH_LIMIT, isEpoch } from '../../src/server/store/fence';

const SELF: Self = { clusterId: 'secret-cluster-7', nodeId: 'a', role: 'primary' };
/** The highest epoch this node has seen from its own sources (state dir, Redis). */
const SEEN = 40;

function fromPeer(over: Partial<PeerHeartbeatRequest__Output> = {}): PeerHeartbeatRequest__Output {
  return peerHeartbeat(SELF.clusterId, SEEN, over);
}

function refusal(msg: PeerHeartbeatRequest__Output): PeerRefusedError {
  try {
    validatePeerMessage(msg, SELF, SEEN);
  } catch (err) {
    assert.ok(err instanceof PeerRefusedError, `not a PeerRefusedError: ${String(err)}`);
    assert.ok(err instanceof LicenseError && err.code === ErrorCode.PEER_REFUSED);
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(msg)}`);
}

describe('isEpoch', () => {
  it('whole numbers in [0, 2^48) only', () => {
    for (const ok of [0, 1, 2 ** 47, EPOCH_LIMIT - 1]) assert.ok(isEpoch(ok), String(ok));
    for (const bad of [-1, 1.5, EPOCH_LIMIT, 1e15, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity, -Infinity, NaN, '7', undefined]) {
      assert.equal(isEpoch(bad), false, String(bad));
    }
    assert.equal(EPOCH_LIMIT, 281_474_976_710_656);
  });
});

describe('validatePeerMessage: epochs', () => {
  it('accepts epochs up to MAX_PEER_EPOCH_JUMP above what this node has seen, and adopts nothing itself', () => {
    const at = SEEN + MAX_PEER_EPOCH_JUMP;
    const view = validatePeerMessage(fromPeer({ state: 'NODE_STATE_FAILOVER_ACTIVE', epoch: at, highest_epoch: at, lease_holder: 'b' }), SELF, SEEN);
    assert.equal(view.epoch, at);
    assert.equal(view.highestEpoch, at);
    assert.equal(MAX_PEER_EPOCH_JUMP, 1_000);
  });

  it('refuses a jump of one more than the bound, in either field, and says so (epochAhead) so the node re-reads Redis', () => {
    const past = SEEN + MAX_PEER_EPOCH_JUMP + 1;
    for (const over of [{ highest_epoch: past }, { epoch: past, highest_epoch: SEEN }]) {
      const err = refusal(fromPeer(over));
      assert.equal(err.epochAhead, true);
      assert.match(err.message, new RegExp(`${past}`));
      assert.ok(!err.message.includes(`(${SEEN})`), 'what this node has seen stays in its own log');
      assert.match(err.localMessage, new RegExp(`this node has seen ${SEEN}`));
    }
  });

  it('refuses values that are not epochs (10^15, 2^48, negative, fractions, and what a decoder might hand over: MAX_VALUE, Infinity, NaN)', () => {
    const bad = [1e15, EPOCH_LIMIT, -1, -(2 ** 63), 2 ** 63, 1.5, Number.MAX_SAFE_INTEGER + 2, Number.MAX_VALUE, Infinity, -Infinity, NaN];
    for (const v of bad) {
      for (const field of ['epoch', 'highest_epoch'] as const) {
        const err = refusal(fromPeer({ [field]: v }));
        assert.equal(err.epochAhead, false, `${field} ${v}: never worth a Redis read`);
        assert.match(err.message, new RegExp(`${field}`), `${field} ${v}`);
        assert.match(err.message, /2\^48/);
      }
    }
  });

  it('a node that has seen nothing yet (new state dir, Redis not read) still hears a peer within the bound of 0', () => {
    assert.equal(validatePeerMessage(fromPeer({ highest_epoch: MAX_PEER_EPOCH_JUMP }), SELF, 0).highestEpoch, MAX_PEER_EPOCH_JUMP);
    assert.throws(() => validatePeerMessage(fromPeer({ highest_epoch: MAX_PEER_EPOCH_JUMP + 1 }), SELF, 0), PeerRefusedError);
  });
});

describe('validatePeerMessage: the refusal a peer gets back', () => {
  it('a foreign cluster id: the peer is not told this node cluster id, the local log names both', () => {
    const err = refusal(fromPeer({ cluster_id: 'guess' }));
    assert.ok(!err.message.includes(SELF.clusterId), err.message);
    assert.match(err.message, /LICENSE_CLUSTER_ID/);
    assert.ok(err.localMessage.includes(SELF.clusterId) && err.localMessage.includes('"guess"'), err.localMessage);
    assert.equal(err.epochAhead, false);
  });

  it('the cluster id is checked first: a foreign peer learns nothing else (not even that its epochs are bad)', () => {
    const err = refusal(fromPeer({ cluster_id: 'guess', highest_epoch: 1e15, role: 'ROLE_PRIMARY' }));
    assert.doesNotMatch(err.message, /epoch|role/);
  });

  it('license_serial: a whole number (0: the sender does not say); anything else is refused', () => {
    assert.equal(validatePeerMessage(fromPeer({ license_serial: 7 }), SELF, SEEN).licenseSerial, 7);
    assert.equal(validatePeerMessage(fromPeer({ license_serial: 0 }), SELF, SEEN).licenseSerial, 0);
    for (const bad of [-1, 1.5, Number.MAX_VALUE, Infinity, NaN]) {
      assert.match(refusal(fromPeer({ license_serial: bad })).message, /license_serial/, String(bad));
    }
  });

  it('other refusals keep their message (the peer already passed the cluster id check)', () => {
    assert.match(refusal(fromPeer({ role: 'ROLE_PRIMARY' })).message, /^peer b also claims role primary/);
    assert.match(refusal(fromPeer({ node_id: 'a' })).message, /own id "a"/);
  });
});
