// What the plain codec tests share: every message type of our .proto files as protobufjs
// reflection (loaded with proto-loader's protobufjs instance and options), the test proto of every
// scalar kind, and a small seeded PRNG (fast-check drives the seed, so a failure prints a replayable one).

import { PROTO_DIR, PROTO_FILES } from '../../proto/index.js';
import { loaderProtobuf } from '../../proto/loader-protobuf.js';

export interface RField {
  readonly name: string;
  readonly id: number;
  readonly type: string;
  readonly repeated: boolean;
  readonly partOf: object | null;
  readonly resolvedType: RType | REnum | null;
  resolve(): RField;
}
export interface RType { readonly fullName: string; readonly fieldsArray: readonly RField[] }
export interface REnum { readonly valuesById: Readonly<Record<number, string>>; readonly values: Readonly<Record<string, number>> }
/** A type parsed from a test proto: the library's own codec calls, the references. */
export interface TestType extends RType {
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: object): object;
  encode(message: object): { finish(): Uint8Array };
  fromObject(value: object): object;
}
interface RNamespace { readonly nestedArray?: readonly RNamespace[]; readonly fullName: string }

export const pb = loaderProtobuf<{
  Root: new () => { resolvePath: (o: string, t: string) => string; loadSync(f: string[], o: object): RNamespace & { resolveAll(): void } };
  parse(source: string, options: object): { root: { resolveAll(): void; lookupType(name: string): TestType } };
  Enum: abstract new (...a: never[]) => REnum;
  Type: abstract new (...a: never[]) => RType;
}>();

/** Every message type of PROTO_FILES (nested ones included). */
export function loadTypes(): RType[] {
  const root = new pb.Root();
  root.resolvePath = (_o, t) => (t.startsWith('/') ? t : `${PROTO_DIR}${t}`);
  const loaded = root.loadSync([...PROTO_FILES], { keepCase: false });
  loaded.resolveAll();
  const out: RType[] = [];
  const walk = (ns: RNamespace): void => {
    if (ns instanceof pb.Type) out.push(ns);
    for (const child of ns.nestedArray ?? []) walk(child);
  };
  walk(loaded);
  return out.filter((t) => t.fullName.startsWith('.flotilla.'));
}

/** xorshift32. */
export class Rand {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 || 1; }
  next(): number {
    this.s ^= this.s << 13; this.s >>>= 0;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5; this.s >>>= 0;
    return this.s / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  /** A uniform 64-bit value. */
  bigint(): bigint { return (BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32)); }
  bytes(): number[] { return Array.from({ length: this.chance(0.2) ? 0 : this.int(40) }, () => this.int(256)); }
  text(): string {
    const parts = ['', 'a', 'key', 'é', '日本', '😀', '\u0000', 'x'.repeat(this.int(30))];
    return Array.from({ length: this.int(4) }, () => parts[this.int(parts.length)]!).join('');
  }
}

/** The test proto both codec tests judge every scalar kind with. */
export const ALL_KINDS_PROTO = `
syntax = "proto3";
package flotilla_test;
enum Color { RED = 0; GREEN = 1; NEGATIVE = -3; }
message Inner { sint64 s = 1; repeated Inner children = 2; bytes blob = 3; }
message AllKinds {
  uint64 u64 = 1; int64 i64 = 2; sint64 s64 = 3; fixed64 f64 = 4; sfixed64 sf64 = 5;
  uint32 u32 = 6; int32 i32 = 7; sint32 s32 = 8; fixed32 f32 = 9; sfixed32 sf32 = 10;
  bool b = 11; float fl = 12; double d = 13; string str = 14; bytes by = 15; Color color = 16; Inner inner = 17;
  repeated uint64 ru64 = 21; repeated int64 ri64 = 22; repeated sint64 rs64 = 23; repeated fixed64 rf64 = 24;
  repeated sfixed64 rsf64 = 25; repeated uint32 ru32 = 26; repeated int32 ri32 = 27; repeated sint32 rs32 = 28;
  repeated fixed32 rf32 = 29; repeated sfixed32 rsf32 = 30; repeated bool rb = 31; repeated float rfl = 32;
  repeated double rd = 33; repeated string rstr = 34; repeated bytes rby = 35; repeated Color rcolor = 36;
  repeated Inner rinner = 37;
  repeated uint64 unpacked = 38 [packed = false];
  oneof choice { sint64 c_s64 = 40; Inner c_inner = 41; string c_str = 42; Color c_color = 43; }
  uint64 big_id = 300;
  Inner far_inner = 3000;
}`;
