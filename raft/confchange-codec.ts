// Byte encoding of ConfChange for entry payloads (type ConfChangeV2). Versioned, fixed layout:
//   u8 version=1 | u8 transition | u32 count | count × (u8 type, u32 idHigh, u32 idLow) | u32 ctxLen | ctx
// Decoding validates every field and returns a typed error instead of throwing.
import { type ConfChange, type ConfChangeTransition, type ConfChangeType } from './types.js';

const VERSION = 1;
const TRANSITIONS: readonly ConfChangeTransition[] = ['auto', 'implicit', 'explicit'];
const TYPES: readonly ConfChangeType[] = ['AddNode', 'RemoveNode', 'AddLearnerNode'];
const TWO_32 = 0x1_0000_0000;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const size = 1 + 1 + 4 + cc.changes.length * 9 + 4 + cc.context.byteLength;
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  let o = 0;
  dv.setUint8(o++, VERSION);
  dv.setUint8(o++, TRANSITIONS.indexOf(cc.transition));
  dv.setUint32(o, cc.changes.length);
  o += 4;
  for (const c of cc.changes) {
    dv.setUint8(o++, TYPES.indexOf(c.type));
    dv.setUint32(o, Math.floor(c.nodeId / TWO_32));
    dv.setUint32(o + 4, c.nodeId % TWO_32);
    o += 8;
  }
  dv.setUint32(o, cc.context.byteLength);
  o += 4;
  buf.set(cc.context, o);
  return buf;
}

export type DecodeConfChangeResult = { kind: 'ok'; confChange: ConfChange } | { kind: 'corrupt'; reason: string };

export function decodeConfChange(data: Uint8Array): DecodeConfChangeResult {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const corrupt = (reason: string): DecodeConfChangeResult => ({ kind: 'corrupt', reason: `conf change: ${reason}` });
  if (data.byteLength < 10) return corrupt(`${data.byteLength} bytes is too short`);
  if (dv.getUint8(0) !== VERSION) return corrupt(`unknown version ${dv.getUint8(0)}`);
  const transition = TRANSITIONS[dv.getUint8(1)];
  if (transition === undefined) return corrupt(`unknown transition ${dv.getUint8(1)}`);
  const count = dv.getUint32(2);
  let o = 6;
  if (data.byteLength < o + count * 9 + 4) return corrupt(`truncated: ${count} changes in ${data.byteLength} bytes`);
  const changes: { type: ConfChangeType; nodeId: number }[] = [];
  for (let i = 0; i < count; i++) {
    const type = TYPES[dv.getUint8(o)];
    if (type === undefined) return corrupt(`unknown change type ${dv.getUint8(o)}`);
    const nodeId = dv.getUint32(o + 1) * TWO_32 + dv.getUint32(o + 5);
    if (!Number.isSafeInteger(nodeId)) return corrupt(`node id ${nodeId} is not a safe integer`);
    changes.push({ type, nodeId });
    o += 9;
  }
  const ctxLen = dv.getUint32(o);
  o += 4;
  if (data.byteLength !== o + ctxLen) return corrupt(`context length ${ctxLen} does not match ${data.byteLength - o} remaining bytes`);
  return { kind: 'ok', confChange: { transition, changes, context: data.slice(o) } };
}
