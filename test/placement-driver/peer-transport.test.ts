// PD's raft transport between members (placement-driver/peer-transport.ts) against real gRPC
// receivers on 127.0.0.1: every message reaches its member, one batch per member per send, in
// order, under this member's id and cluster; a member it cannot reach is reported unreachable (a
// snapshot to it lost); a changed address and a restarted member are dialled again; a receiver
// that stops reading makes the sender drop batches instead of queueing them, and once it drains
// again the sender writes to it again; close() ends everything.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ChannelCache, channelCredentials, createGrpcServer, type grpc, INSECURE, startGrpcServer, type StartedGrpcServer } from '../../common/index.js';
import { type pdpb, serviceDefinition } from '../../proto/index.js';
import { makeMessage, type Message, type MessageType } from '../../raft/index.js';
import { messageFromWire } from '../../raft-host/index.js';
import { PeerTransport } from '../../placement-driver/peer-transport.js';
import { waitFor } from '../../deploy/index.js';

/** Polls `cond` until it holds (or fails after `timeoutMs`). */
async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  await waitFor(what, () => (cond() ? true : undefined), { timeoutMs, intervalMs: 20 });
}

const CLUSTER = 7_000_000_000_000_000_001n;
const SELF = 1;

/** A PDPeer receiver: what it got, batch by batch; `paused` stops it reading (HTTP/2 back-pressure). */
class Receiver {
  readonly batches: { readonly senderId: string; readonly clusterId: string; readonly msgs: Message[] }[] = [];
  private readonly calls = new Set<grpc.ServerReadableStream<pdpb.PeerMessageBatch, pdpb.PeerDone__Input>>();
  private isPaused = false;

  private constructor(private readonly started: StartedGrpcServer) {}

  static async start(port = 0): Promise<Receiver> {
    const server = createGrpcServer();
    // No call arrives before the server listens, so `self` is set by the time the handler runs.
    let self: Receiver | null = null;
    server.addService(serviceDefinition('flotilla.pdpb.PDPeer'), {
      Raft: (call: grpc.ServerReadableStream<pdpb.PeerMessageBatch, pdpb.PeerDone__Input>, cb: grpc.sendUnaryData<pdpb.PeerDone__Input>) => self!.attach(call, cb),
    } satisfies pdpb.PDPeerHandlers);
    self = new Receiver(await startGrpcServer(server, '127.0.0.1', port));
    return self;
  }

  private attach(call: grpc.ServerReadableStream<pdpb.PeerMessageBatch, pdpb.PeerDone__Input>, cb: grpc.sendUnaryData<pdpb.PeerDone__Input>): void {
    this.calls.add(call);
    if (this.isPaused) call.pause();
    call.on('data', (batch: pdpb.PeerMessageBatch) => {
      this.batches.push({ senderId: batch.header?.senderId ?? '', clusterId: batch.header?.clusterId ?? '', msgs: batch.msgs.map(messageFromWire) });
    });
    call.on('end', () => cb(null, {}));
    call.on('error', () => undefined);
    call.on('close', () => this.calls.delete(call));
  }

  get address(): string {
    return this.started.address;
  }

  get port(): number {
    return this.started.port;
  }

  pause(): void {
    this.isPaused = true;
    for (const c of this.calls) c.pause();
  }

  resume(): void {
    this.isPaused = false;
    for (const c of this.calls) c.resume();
  }

  /** Every message received, in order. */
  get messages(): Message[] {
    return this.batches.flatMap((b) => b.msgs);
  }

  stop(): Promise<void> {
    this.resume();
    return this.started.stop();
  }
}

interface Events {
  readonly unreachable: number[];
  readonly snapshots: [number, 'finish' | 'failure'][];
  dropped: number;
}

const open: { stop(): Promise<void> | void }[] = [];

async function transport(): Promise<{ t: PeerTransport; events: Events }> {
  const channels = new ChannelCache(await channelCredentials(INSECURE));
  const events: Events = { unreachable: [], snapshots: [], dropped: 0 };
  const t = new PeerTransport({
    selfId: SELF, clusterId: () => CLUSTER, channels, logger: pino({ level: 'silent' }),
    onUnreachable: (to) => events.unreachable.push(to),
    onSnapshotSent: (to, outcome) => events.snapshots.push([to, outcome]),
    onDropped: () => {
      events.dropped++;
    },
  });
  open.push({ stop: () => {
    t.close();
    channels.close();
  } });
  return { t, events };
}

async function receiver(port?: number): Promise<Receiver> {
  const r = await Receiver.start(port);
  open.push(r);
  return r;
}

let seq = 0;
function msg(to: number, type: MessageType = 'MsgHeartbeat', bytes = 0): Message {
  seq++;
  if (type === 'MsgApp') {
    return makeMessage({ type, to, index: seq, logTerm: 1, commit: seq, entries: [{ type: 'Normal', term: 1, index: seq + 1, data: new Uint8Array(bytes).fill(seq % 251) }] }, SELF, 1);
  }
  return makeMessage({ type, to, commit: seq }, SELF, 1);
}

/** A transport whose member 2 is `r2`, with its stream up (one message delivered). */
async function connectedTo(r2: Receiver): Promise<{ t: PeerTransport; events: Events }> {
  const conn = await transport();
  conn.t.setPeerAddress(2, r2.address);
  conn.t.send([msg(2)]);
  await until(() => r2.messages.length === 1, 10_000, 'the stream to member 2 is up');
  return conn;
}

/** A message's identity here: its type and the counter carried in its commit field. */
const idOf = (m: Message): string => `${m.type}:${m.to}:${m.commit}`;

describe('PD peer transport (real gRPC receivers)', { timeout: 60_000 }, () => {
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.stop();
  });

  it('delivers every message to its member, one batch per member per send, in order, under this member\'s id and cluster', async () => {
    const [r2, r3] = [await receiver(), await receiver()];
    const { t, events } = await transport();
    t.setPeerAddress(2, r2.address);
    t.setPeerAddress(3, r3.address);
    const sent: Message[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = [msg(2), msg(3), msg(2, 'MsgApp', 100), msg(2), msg(3, 'MsgApp', 10)];
      sent.push(...batch);
      t.send(batch);
    }
    await until(() => r2.messages.length + r3.messages.length >= sent.length, 10_000, 'every message delivered');
    assert.deepEqual(r2.messages.map(idOf), sent.filter((m) => m.to === 2).map(idOf));
    assert.deepEqual(r3.messages.map(idOf), sent.filter((m) => m.to === 3).map(idOf));
    assert.equal(r2.batches.length, 5, 'one batch per send for member 2');
    assert.equal(r3.batches.length, 5);
    for (const b of [...r2.batches, ...r3.batches]) {
      assert.equal(b.senderId, String(SELF));
      assert.equal(b.clusterId, String(CLUSTER));
    }
    const app = r2.messages.find((m) => m.type === 'MsgApp')!;
    assert.equal(app.entries[0]!.data.length, 100, 'entries travel whole');
    assert.deepEqual(events, { unreachable: [], snapshots: [], dropped: 0 });
  });

  it('a member with no address is unreachable: its batch is dropped and reported, a snapshot to it lost; a snapshot handed to a stream is reported sent', async () => {
    const r2 = await receiver();
    const { t, events } = await transport();
    t.setPeerAddress(2, r2.address);
    t.send([msg(5), msg(5, 'MsgSnap')]);
    assert.deepEqual(events.unreachable, [5]);
    assert.equal(events.dropped, 1);
    assert.deepEqual(events.snapshots, [[5, 'failure']]);
    t.send([msg(2, 'MsgSnap')]);
    assert.deepEqual(events.snapshots, [[5, 'failure'], [2, 'finish']]);
    await until(() => r2.messages.length === 1, 10_000, 'the snapshot message delivered');
    t.removePeer(2);
    t.send([msg(2)]);
    assert.deepEqual(events.unreachable, [5, 2], 'a removed member is unreachable');
  });

  it('a changed address is dialled at once: later messages go to the new one', async () => {
    const [before, after] = [await receiver(), await receiver()];
    const { t, events } = await transport();
    t.setPeerAddress(2, before.address);
    t.send([msg(2)]);
    await until(() => before.messages.length === 1, 10_000, 'delivered to the old address');
    t.setPeerAddress(2, after.address);
    const m = msg(2);
    t.send([m]);
    assert.deepEqual(events.unreachable, [], 'a new address is dialled at once, not held to the redial interval of the old one');
    await until(() => after.messages.length === 1, 10_000, 'delivered to the new address');
    assert.equal(idOf(after.messages[0]!), idOf(m));
    assert.equal(before.messages.length, 1, 'nothing more to the old address');
  });

  it('a member that restarts on its address is dialled again once its old stream ended', async () => {
    let r2 = await receiver();
    const port = r2.port;
    const { t, events } = await connectedTo(r2);
    await r2.stop();
    r2 = await receiver(port);
    // Senders keep sending (raft resends); once the old stream has ended, a new one reaches the new process.
    await until(() => {
      t.send([msg(2)]);
      return r2.messages.length > 0;
    }, 15_000, 'delivered after the restart');
    assert.ok(events.unreachable.every((to) => to === 2));
  });

  it('a member that stops reading: batches are dropped and reported, not queued; once it reads again, they flow again', async () => {
    const r2 = await receiver();
    const { t, events } = await connectedTo(r2);
    r2.pause();
    // Write until the stream pushes back (HTTP/2 flow control): then the transport drops batches.
    await until(() => {
      t.send([msg(2, 'MsgApp', 256 * 1024)]);
      return events.dropped > 0;
    }, 20_000, 'the stream pushes back');
    assert.ok(events.unreachable.includes(2), 'the slow member is reported unreachable');
    const droppedAtPause = events.dropped;
    t.send([msg(2, 'MsgApp', 1024)]);
    assert.equal(events.dropped, droppedAtPause + 1, 'nothing queued while it does not drain');
    r2.resume();
    const marker = msg(2);
    await until(() => {
      t.send([marker]);
      return r2.messages.some((m) => idOf(m) === idOf(marker));
    }, 20_000, 'messages flow again once the member drains');
  });

  it('after close() nothing is sent and nothing is reported', async () => {
    const r2 = await receiver();
    const { t, events } = await connectedTo(r2);
    t.close();
    t.send([msg(2), msg(2, 'MsgSnap')]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, { unreachable: [], snapshots: [], dropped: 0 });
    assert.equal(r2.messages.length, 1);
  });
});
