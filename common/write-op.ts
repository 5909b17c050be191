// The one write-operation vocabulary of every RocksDB writer in Flotilla: the store's engine,
// the txn layer's modifications, raft-host's persist step and PD's metadata DB. A key is a full
// engine key (its first byte names the CF, see keyspace.ts); `cf` repeats which, typed, so that a
// writer may count, check or route by CF without parsing keys.

import { type Cf } from './keyspace.js';

export type WriteOp =
  | { readonly kind: 'put'; readonly cf: Cf; readonly key: Buffer; readonly value: Buffer }
  | { readonly kind: 'delete'; readonly cf: Cf; readonly key: Buffer };

export function putOp(cf: Cf, key: Buffer, value: Buffer): WriteOp {
  return { kind: 'put', cf, key, value };
}

export function deleteOp(cf: Cf, key: Buffer): WriteOp {
  return { kind: 'delete', cf, key };
}
