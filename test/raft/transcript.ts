// etcd-style data-driven transcripts: test/raft/testdata/*.txt hold commands and the output they
// must print (messages as `1->2 MsgVote Term:2 Log:1/1`, role changes, commits). REWRITE=1
// regenerates the expected output in place; review the diff like code.
import { type Message, type NodeId, makeMessage } from '../../raft/index.js';
import { Cluster, str, text } from './cluster.js';

export interface Block {
  readonly comments: string[];
  readonly command: string;
  readonly expected: string;
}

export function parseTranscript(src: string): Block[] {
  const blocks: Block[] = [];
  const lines = src.split('\n');
  let i = 0;
  while (i < lines.length) {
    const comments: string[] = [];
    while (i < lines.length && ((lines[i] ?? '').startsWith('#') || (lines[i] ?? '').trim() === '')) comments.push(lines[i++] ?? '');
    if (i >= lines.length) break;
    const command = lines[i++] ?? '';
    if (lines[i] !== '----') throw new Error(`transcript: expected ---- after "${command}" at line ${i + 1}`);
    i++;
    const out: string[] = [];
    while (i < lines.length && (lines[i] ?? '') !== '') out.push(lines[i++] ?? '');
    blocks.push({ comments: comments.filter((c) => c.startsWith('#')), command, expected: out.join('\n') });
  }
  return blocks;
}

export function formatTranscript(blocks: readonly { comments: readonly string[]; command: string; output: string }[]): string {
  return blocks.map((b) => [...b.comments, b.command, '----', ...(b.output === '' ? [] : [b.output])].join('\n')).join('\n\n') + '\n';
}

function describeMessage(m: Message): string {
  const parts = [`${m.from}->${m.to} ${m.type} Term:${m.term}`];
  if (m.type === 'MsgApp' || m.type === 'MsgVote' || m.type === 'MsgPreVote') parts.push(`Log:${m.logTerm}/${m.index}`);
  if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat') parts.push(`Commit:${m.commit}`);
  if (m.type === 'MsgAppResp') parts.push(`Index:${m.index}`);
  if (m.entries.length > 0) parts.push(`Entries:[${m.entries.map((e) => `${e.term}/${e.index}${e.data.length > 0 && e.type === 'Normal' ? ` ${str(e.data)}` : e.type !== 'Normal' ? ` ${e.type}` : ''}`).join(', ')}]`);
  if (m.reject) parts.push(`Rejected (Hint: ${m.rejectHint})`);
  if (m.snapshot !== undefined) parts.push(`Snapshot:${m.snapshot.metadata.term}/${m.snapshot.metadata.index}`);
  return parts.join(' ');
}

/** Runs transcript commands against one Cluster, printing what happens. */
export class TranscriptRunner {
  private c: Cluster | undefined;

  private cluster(): Cluster {
    if (this.c === undefined) throw new Error('transcript: add-nodes first');
    return this.c;
  }

  run(command: string): string {
    const [head, ...args] = command.trim().split(/\s+/);
    const cmd = head ?? '';
    const kv = new Map(args.filter((a) => a.includes('=')).map((a) => a.split('=') as [string, string]));
    const pos = args.filter((a) => !a.includes('='));
    const id = Number(pos[0]);
    const out: string[] = [];
    switch (cmd) {
      case 'add-nodes': {
        const n = Number(pos[0]);
        const ids = Array.from({ length: n }, (_, i) => i + 1);
        this.c = new Cluster(ids, { preVote: kv.get('prevote') === 'true', checkQuorum: kv.get('checkquorum') === 'true' });
        for (const i of ids) this.c.raw(i).raft.randomizedElectionTimeout = 10 + i; // deterministic order
        out.push(`nodes ${ids.join(',')} at term 1, commit 1`);
        break;
      }
      case 'campaign':
        this.cluster().raw(id).campaign();
        break;
      case 'propose': {
        const r = this.cluster().raw(id).propose(text(pos[1] ?? ''));
        out.push(`${r.kind}${r.kind === 'ok' ? ` ${r.term}/${r.index}` : ''}`);
        break;
      }
      case 'tick-election':
        for (let i = 0; i < this.cluster().raw(id).raft.randomizedElectionTimeout; i++) this.cluster().raw(id).tick();
        break;
      case 'tick-heartbeat':
        this.cluster().raw(id).tick();
        break;
      case 'isolate':
        this.cluster().isolate(id);
        break;
      case 'heal':
        this.cluster().heal();
        break;
      case 'send-vote': {
        // send-vote FROM TO TERM LASTTERM/LASTINDEX
        const [lt, li] = (pos[3] ?? '0/0').split('/').map(Number);
        this.cluster().raw(Number(pos[1])).step(makeMessage({ type: 'MsgVote', from: id, to: Number(pos[1]), term: Number(pos[2]), logTerm: lt ?? 0, index: li ?? 0 }));
        break;
      }
      case 'stabilize':
        this.stabilize(out);
        break;
      case 'status':
        for (const n of this.cluster().nodes.values()) {
          const s = n.raw.status();
          out.push(`${n.id}: ${s.softState.role} term:${s.hardState.term} vote:${s.hardState.vote} commit:${s.hardState.commit} lead:${s.softState.leaderId}`);
        }
        break;
      default:
        throw new Error(`transcript: unknown command ${cmd}`);
    }
    return out.join('\n');
  }

  private stabilize(out: string[]): void {
    const c = this.cluster();
    const roles = new Map<NodeId, string>([...c.nodes.values()].map((n) => [n.id, `${n.raw.role}@${n.raw.term}`]));
    for (let round = 0; round < 200; round++) {
      const from = c.sent.length;
      const moved = c.processAllReadies();
      for (const n of c.nodes.values()) {
        const now = `${n.raw.role}@${n.raw.term}`;
        if (roles.get(n.id) !== now) out.push(`${n.id} became ${n.raw.role} at term ${n.raw.term}`);
        roles.set(n.id, now);
      }
      for (const m of c.sent.slice(from)) {
        const cut = c.cut.has(`${m.from}>${m.to}`);
        out.push(`${describeMessage(m)}${cut ? ' (dropped)' : ''}`);
      }
      const delivered = c.deliverAll();
      if (!moved && !delivered) return;
    }
    throw new Error('transcript: stabilize did not settle');
  }
}
