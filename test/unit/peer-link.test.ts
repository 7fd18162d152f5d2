import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { ClusterServiceClient } from '../../src/contract/generated/license/v1/ClusterService';
import type { PeerHeartbeatRequest, PeerHeartbeatRequest__Output } from '../../src/contract/generated/license/v1/PeerHeartbeatRequest';
import { ManualClock } from '../../src/server/clock';
import { MAX_PEER_EPOCH_JUMP } from '../../src/server/cluster/role-machine';
import { PeerAuthenticator } from '../../src/server/cluster/peer-auth';
import { type OwnLeaseStatus, PeerLink, type PeerLinkDeps, STOP_STEP_TIMEOUT_MS } from '../../src/server/cluster/peer-link';
import type { PeerView } from '../../src/server/cluster/role-machine';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import type { Logger } from '../../src/server/log';
import { peerHeartbeat } from '../helpers/peer-heartbeat';

const OWN: OwnLeaseStatus = { state: 'ACTIVE', epoch: 7, leaseHolder: 'a', wantsLease: false, storeOk: true, highestEpoch: 7 };

/** A heartbeat as the redundant node "b" of cluster c1 sends it. */
function fromPeer(over: Partial<PeerHeartbeatRequest__Output> = {}): PeerHeartbeatRequest__Output {
  return peerHeartbeat('c1', 7, over);
}

type Answer = { err: Partial<grpc.ServiceError> | null; value?: PeerHeartbeatRequest__Output };

/** The primary "a"'s link, with a fake ClusterService client that answers from `answers` and records what the owner hears. */
function link(opts: { answers?: Answer[]; auth?: PeerAuthenticator; noClient?: boolean; epochAnchor?: number; policyDigest?: () => string } = {}) {
  const clock = new ManualClock();
  const events: string[] = [];
  const heard: PeerView[] = [];
  const sent: { req: PeerHeartbeatRequest; deadlineMs: number }[] = [];
  const logs: { level: string; msg: string }[] = [];
  const rtts: number[] = [];
  const answers = [...(opts.answers ?? [])];
  const client = {
    Heartbeat(
      req: PeerHeartbeatRequest,
      options: { deadline: number },
      cb: (err: Partial<grpc.ServiceError> | null, value?: PeerHeartbeatRequest__Output) => void,
    ) {
      sent.push({ req, deadlineMs: options.deadline - Date.now() });
      const a = answers.shift() ?? { err: { code: grpc.status.UNAVAILABLE, details: 'No connection established' } };
      setImmediate(() => cb(a.err, a.value));
    },
  } as unknown as ClusterServiceClient;
  const logger = {
    error: (msg: string) => logs.push({ level: 'error', msg }),
    warn: (msg: string) => logs.push({ level: 'warn', msg }),
    info: (msg: string) => logs.push({ level: 'info', msg }),
  } as unknown as Logger;
  const deps: PeerLinkDeps = {
    settings: { role: 'primary', nodeId: 'a', clusterId: 'c1', peerAddr: 'b:1', heartbeatIntervalMs: 1_000, licenseSerial: 4 },
    clock,
    logger,
    ...(opts.noClient ? {} : { client }),
    licenseDigest: 'digest',
    advertiseAddr: () => 'a:1',
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(opts.policyDigest ? { policyDigest: opts.policyDigest } : {}),
    onRtt: (s) => rtts.push(s),
    owner: {
      ownStatus: () => {
        events.push('ownStatus');
        return OWN;
      },
      heard: (view) => {
        events.push('heard');
        heard.push(view);
      },
      missed: () => events.push('missed'),
      exchanged: () => events.push('exchanged'),
      epochAnchor: () => opts.epochAnchor ?? 7,
      epochAhead: () => events.push('epochAhead'),
    },
  };
  return { pl: new PeerLink(deps), clock, events, heard, sent, logs, rtts };
}

describe('PeerLink', () => {
  it('answers a valid heartbeat with our own state and reports the peer to its owner', () => {
    const { pl, clock, events, heard } = link();
    const reply = pl.answer(fromPeer({ sent_at_ms: clock.now() - 40 }));
    assert.deepEqual(events, ['heard', 'ownStatus']);
    assert.equal(heard[0]?.nodeId, 'b');
    assert.equal(heard[0]?.role, 'redundant');
    assert.equal(reply.node_id, 'a');
    assert.equal(reply.role, 'ROLE_PRIMARY');
    assert.equal(reply.state, 'NODE_STATE_ACTIVE');
    assert.equal(reply.epoch, 7);
    assert.equal(reply.stepping_down, false);
    assert.equal(reply.advertise_addr, 'a:1');
    assert.equal(reply.license_serial, 4, 'our license serial goes out with every heartbeat');
    assert.equal(heard[0]?.licenseSerial, 1, "the peer's serial reaches the owner");
    assert.deepEqual(pl.observed(), {
      lastHeartbeatMs: clock.now(),
      error: '',
      licenseDigest: 'digest',
      licenseSerial: 1,
      clockSkewMs: -40,
      consoleUrl: '',
      policyDigest: '',
    });
  });

  it('refuses a peer claiming our role, tells the owner nothing, and logs the reason once', () => {
    const { pl, events, logs } = link();
    for (let i = 0; i < 3; i++) {
      assert.throws(
        () => pl.answer(fromPeer({ role: 'ROLE_PRIMARY' })),
        (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.PEER_REFUSED,
      );
    }
    assert.deepEqual(events, []);
    assert.match(pl.observed().error, /^refused: peer b also claims role primary/);
    assert.equal(logs.filter((l) => l.msg === 'peer refused: misconfigured cluster').length, 1);
    pl.answer(fromPeer());
    assert.equal(pl.observed().error, '');
    assert.ok(logs.some((l) => l.msg === 'peer heartbeats healthy again'));
  });

  it('checks the cluster secret when it has one', () => {
    const { pl, clock } = link({ auth: new PeerAuthenticator('s3cret') });
    assert.throws(
      () => pl.answer(fromPeer({ sent_at_ms: clock.now() })),
      (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.UNAUTHENTICATED,
    );
    const signed = new PeerAuthenticator('s3cret').sign(fromPeer({ sent_at_ms: clock.now() }));
    const reply = pl.answer(signed as PeerHeartbeatRequest__Output);
    assert.match(String(reply.auth_tag), /^[0-9a-f]{64}$/);
    // The license serial is signed: changing it breaks the tag.
    const forged = { ...signed, license_serial: 99 } as PeerHeartbeatRequest__Output;
    assert.throws(
      () => pl.answer(forged),
      (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.UNAUTHENTICATED,
    );
  });

  it('a heartbeat from a version before license_serial (signed without it, decoded as 0) still verifies', () => {
    const { pl, clock, heard } = link({ auth: new PeerAuthenticator('s3cret') });
    const { license_serial: _absent, ...older } = fromPeer({ sent_at_ms: clock.now() });
    const signed = new PeerAuthenticator('s3cret').sign(older);
    pl.answer({ ...signed, license_serial: 0 } as PeerHeartbeatRequest__Output);
    assert.equal(heard[0]?.licenseSerial, 0);
  });

  it("carries the console URL both ways: ours out, the peer's kept when it is a plain http(s) URL; it is signed", () => {
    const { pl, clock } = link({ auth: new PeerAuthenticator('s3cret') });
    const peerAuth = new PeerAuthenticator('s3cret');
    const signed = peerAuth.sign(fromPeer({ sent_at_ms: clock.now(), console_url: 'https://b.example:7480' }));
    pl.answer(signed as PeerHeartbeatRequest__Output);
    assert.equal(pl.observed().consoleUrl, 'https://b.example:7480');
    // A changed URL breaks the tag: no one between the nodes can point an operator elsewhere.
    assert.throws(
      () => pl.answer({ ...signed, console_url: 'https://evil.example' } as PeerHeartbeatRequest__Output),
      (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.UNAUTHENTICATED,
    );
    // Anything but a plain URL is dropped (never a reason to refuse heartbeats).
    pl.answer(peerAuth.sign(fromPeer({ sent_at_ms: clock.now(), console_url: 'javascript:alert(1)' })) as PeerHeartbeatRequest__Output);
    assert.equal(pl.observed().consoleUrl, '');
    // A peer from before console_url (signed without it) still verifies.
    const { console_url: _absent, ...older } = fromPeer({ sent_at_ms: clock.now() });
    pl.answer({ ...peerAuth.sign(older), console_url: '' } as PeerHeartbeatRequest__Output);
  });

  it('logs a license digest that differs from ours', () => {
    const { pl, logs } = link();
    pl.answer(fromPeer({ license_digest: 'other' }));
    pl.answer(fromPeer({ license_digest: 'other' }));
    assert.equal(logs.filter((l) => l.msg.startsWith('peer loaded a different license file')).length, 1);
    assert.equal(pl.observed().licenseDigest, 'other');
  });

  it('sends its seat policy digest (signed), and logs a peer policy that differs once, and its end', () => {
    const A = 'a'.repeat(64);
    const B = 'b'.repeat(64);
    let own = A;
    const { pl, logs, clock } = link({ auth: new PeerAuthenticator('s3cret'), policyDigest: () => own });
    const peerAuth = new PeerAuthenticator('s3cret');
    const reply = pl.answer(peerAuth.sign(fromPeer({ sent_at_ms: clock.now(), policy_digest: A })) as PeerHeartbeatRequest__Output);
    assert.equal(reply.policy_digest, A);
    assert.equal(pl.observed().policyDigest, A);
    // The digest is signed: nobody between the nodes can hide a mismatch.
    const signed = peerAuth.sign(fromPeer({ sent_at_ms: clock.now() + 1, policy_digest: B }));
    assert.throws(
      () => pl.answer({ ...signed, policy_digest: A } as PeerHeartbeatRequest__Output),
      (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.UNAUTHENTICATED,
    );
    pl.answer(signed as PeerHeartbeatRequest__Output);
    pl.answer(peerAuth.sign(fromPeer({ sent_at_ms: clock.now() + 2, policy_digest: B })) as PeerHeartbeatRequest__Output);
    const differs = logs.filter((l) => l.msg.startsWith('peer enforces a different seat policy'));
    assert.equal(differs.length, 1);
    assert.equal(differs[0]?.level, 'error');
    // We reload the same file: the mismatch ends, said once.
    own = B;
    pl.answer(peerAuth.sign(fromPeer({ sent_at_ms: clock.now() + 3, policy_digest: B })) as PeerHeartbeatRequest__Output);
    assert.equal(logs.filter((l) => l.msg === 'peer enforces the same seat policy again').length, 1);
    // Anything but a sha256 hex is not a digest: not known, never a mismatch.
    pl.answer(peerAuth.sign(fromPeer({ sent_at_ms: clock.now() + 4, policy_digest: 'nonsense' })) as PeerHeartbeatRequest__Output);
    assert.equal(pl.observed().policyDigest, '');
  });

  it('tellSteppingDown sends stepping_down with the short deadline and accepts the answer', async () => {
    const { pl, events, sent, rtts, heard } = link({ answers: [{ err: null, value: fromPeer() }] });
    await pl.tellSteppingDown();
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.req.stepping_down, true);
    assert.ok((sent[0]?.deadlineMs ?? 0) <= STOP_STEP_TIMEOUT_MS && (sent[0]?.deadlineMs ?? 0) > STOP_STEP_TIMEOUT_MS - 500);
    assert.deepEqual(events, ['ownStatus', 'heard', 'exchanged']);
    assert.equal(rtts.length, 1);
    assert.equal(heard.length, 1);
  });

  it('an unreachable peer is a miss, reported as unreachable without the resolver note', async () => {
    const { pl, events, logs } = link({
      answers: [{ err: { code: grpc.status.UNAVAILABLE, details: 'No connection established. Resolution note: dns lookup failed' } }],
    });
    await pl.tellSteppingDown();
    assert.deepEqual(events, ['ownStatus', 'missed', 'exchanged']);
    assert.equal(pl.observed().error, 'unreachable: UNAVAILABLE: No connection established');
    assert.deepEqual(
      logs.map((l) => [l.level, l.msg]),
      [['warn', 'peer heartbeat failed']],
    );
  });

  it('a peer that refuses our heartbeat is logged as a misconfiguration', async () => {
    const { pl, events, logs } = link({ answers: [{ err: { code: grpc.status.FAILED_PRECONDITION, details: 'peer a also claims role primary' } }] });
    await pl.tellSteppingDown();
    assert.deepEqual(events, ['ownStatus', 'missed', 'exchanged']);
    assert.equal(pl.observed().error, 'refused: peer a also claims role primary');
    assert.equal(logs[0]?.level, 'error');
  });

  it('an answer that fails our checks (foreign cluster) is a refusal, not a crash of the heartbeat loop', async () => {
    const { pl, events, logs } = link({ answers: [{ err: null, value: fromPeer({ cluster_id: 'other' }) }] });
    await pl.tellSteppingDown();
    assert.deepEqual(events, ['ownStatus', 'missed', 'exchanged']);
    assert.match(pl.observed().error, /^refused: .*other/);
    assert.equal(logs.filter((l) => l.level === 'error').length, 1, 'logged once, at error level');
  });

  it('refuses epochs that are not epochs or jump past the bound: the owner hears nothing, each reason is logged once', () => {
    const { pl, events, logs } = link({ epochAnchor: 7 });
    const refused = (err: unknown) => err instanceof LicenseError && err.code === ErrorCode.PEER_REFUSED;
    for (let i = 0; i < 3; i++) assert.throws(() => pl.answer(fromPeer({ highest_epoch: 1e15 })), refused);
    assert.match(pl.observed().error, /^refused: peer b sent highest_epoch 1000000000000000/);
    for (let i = 0; i < 3; i++) assert.throws(() => pl.answer(fromPeer({ epoch: -1 })), refused);
    assert.deepEqual(events, [], 'out of range: nothing to re-read, nothing heard');
    assert.throws(() => pl.answer(fromPeer({ highest_epoch: 7 + MAX_PEER_EPOCH_JUMP + 1 })), refused);
    assert.deepEqual(events, ['epochAhead'], 'too far ahead: the owner re-reads Redis, and hears nothing');
    assert.equal(logs.filter((l) => l.msg === 'peer refused: misconfigured cluster').length, 3, 'one line per distinct reason');
    pl.answer(fromPeer({ highest_epoch: 7 + MAX_PEER_EPOCH_JUMP }));
    assert.deepEqual(events, ['epochAhead', 'heard', 'ownStatus']);
    assert.equal(pl.observed().error, '');
  });

  it('a foreign cluster id: the refusal sent back does not name our cluster id; our log and status do', () => {
    const { pl, logs } = link();
    let sentBack = '';
    assert.throws(
      () => pl.answer(fromPeer({ cluster_id: 'guess' })),
      (err: unknown) => {
        sentBack = err instanceof Error ? err.message : '';
        return err instanceof LicenseError && err.code === ErrorCode.PEER_REFUSED;
      },
    );
    assert.ok(sentBack.length > 0 && !sentBack.includes('c1'), sentBack);
    assert.match(pl.observed().error, /"guess".*"c1"/);
    assert.equal(logs.filter((l) => l.level === 'error').length, 1);
  });

  it('an answer with a hostile epoch is a refusal, logged once (not once per direction of the same reason)', async () => {
    const { pl, events, logs } = link({ answers: [{ err: null, value: fromPeer({ highest_epoch: 1e15 }) }] });
    await pl.tellSteppingDown();
    assert.deepEqual(events, ['ownStatus', 'missed', 'exchanged']);
    assert.match(pl.observed().error, /^refused: peer b sent highest_epoch/);
    assert.equal(logs.filter((l) => l.level === 'error').length, 1);
  });

  it('without a client it only answers: nothing is sent and the loop does not run', async () => {
    const { pl, events } = link({ noClient: true });
    pl.start();
    pl.sendSoon();
    await pl.tellSteppingDown();
    await new Promise((r) => setTimeout(r, 20));
    pl.stop();
    assert.deepEqual(events, []);
  });

  it('the loop sends at start and again after each interval until stopped', async () => {
    const { pl, sent } = link({ answers: [{ err: null, value: fromPeer() }] }); // later ones fail: the loop goes on
    pl.start();
    await new Promise((r) => setTimeout(r, 1_300));
    assert.equal(sent.length, 2);
    assert.equal(sent[0]?.req.stepping_down, false);
    pl.stop();
    await new Promise((r) => setTimeout(r, 1_100));
    assert.equal(sent.length, 2, 'no heartbeat after stop');
  });
});
