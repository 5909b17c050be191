// The protobufjs module instance @grpc/proto-loader loads — not a copy of our own: its Long class
// is the one patched by long-decimal.ts, and its reflection is what plain-decoder.ts compiles from.

import { createRequire } from 'node:module';

/** proto-loader's protobufjs, typed by the caller as the part of it that caller reads. */
export function loaderProtobuf<T>(): T {
  return createRequire(import.meta.resolve('@grpc/proto-loader'))('protobufjs') as T;
}
