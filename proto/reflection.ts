// The protobufjs reflection tree of our .proto files, loaded with the protobufjs instance
// @grpc/proto-loader uses and the options it loads with (keepCase false, our include dir): what
// plain-decoder.ts and plain-encoder.ts compile their codecs from. Only what they read is typed.

import { PROTO_DIR, PROTO_FILES } from './load.js';
import { loaderProtobuf } from './loader-protobuf.js';

export interface PbEnum {
  readonly valuesById: Readonly<Record<number, string>>;
  readonly values: Readonly<Record<string, number>>;
}
export interface PbType {
  readonly fullName: string;
  readonly fieldsArray: readonly PbField[];
}
export interface PbField {
  readonly name: string;
  readonly id: number;
  readonly type: string;
  readonly repeated: boolean;
  readonly map: boolean;
  readonly packed: boolean;
  readonly required: boolean;
  readonly delimited?: boolean;
  readonly partOf: { readonly name: string } | null;
  readonly resolvedType: PbType | PbEnum | null;
  readonly typeDefault: unknown;
  resolve(): PbField;
}
export interface PbRoot {
  resolvePath: (origin: string, target: string) => string;
  loadSync(files: string[], options: { keepCase: boolean }): PbRoot;
  resolveAll(): PbRoot;
  lookupType(name: string): PbType;
}
export interface Protobufjs {
  readonly Root: new () => PbRoot;
  readonly Enum: abstract new (...args: never[]) => PbEnum;
}

let root: PbRoot | undefined;

/** The tree of PROTO_FILES, loaded once. */
export function loadReflection(): PbRoot {
  if (root !== undefined) return root;
  const pb = loaderProtobuf<Protobufjs>();
  const r = new pb.Root();
  r.resolvePath = (_origin, target) => (target.startsWith('/') ? target : `${PROTO_DIR}${target}`);
  root = r.loadSync([...PROTO_FILES], { keepCase: false }).resolveAll();
  return root;
}
