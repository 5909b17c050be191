// MvccWriteBuffer: the modifications one command produces (TiKV's MvccTxn). Actions append to it;
// nothing is applied until the command finishes and the caller writes the batch while still
// holding the latches. Later modifications of the same key win, as in a RocksDB write batch.

import { type Ts } from '../../common/pure.js';
import { defaultKey, latestKey, lockKey, writeKey } from '../../common/pure.js';
import { encodeLatest, type LatestRecord } from '../records/latest.js';
import { type Lock, encodeLock } from '../records/lock.js';
import { type Write, encodeWrite } from '../records/write.js';
import { type Modification } from './snapshot.js';

export class MvccWriteBuffer {
  readonly modifications: Modification[] = [];
  private bytes = 0;

  putLock(key: Buffer, lock: Lock): void {
    this.push({ kind: 'put', cf: 'lock', key: lockKey(key), value: encodeLock(lock) });
  }

  /** Releases the lock: a real delete (readers look locks up by get/multiGet, never by seek). */
  unlock(key: Buffer): void {
    this.push({ kind: 'delete', cf: 'lock', key: lockKey(key) });
  }

  /** Returns the record's bytes (putLatest may reuse them). */
  putWrite(key: Buffer, commitTs: Ts, write: Write): Buffer {
    const value = encodeWrite(write);
    this.push({ kind: 'put', cf: 'write', key: writeKey(key, commitTs), value });
    return value;
  }

  deleteWrite(key: Buffer, commitTs: Ts): void {
    this.push({ kind: 'delete', cf: 'write', key: writeKey(key, commitTs) });
  }

  /**
   * Records `latest` as the key's latest record (records/latest.ts). `encodedWrite`: the bytes of
   * latest.data.write if the caller has them (encodeLatest).
   */
  putLatest(key: Buffer, latest: LatestRecord, encodedWrite?: Buffer): void {
    this.push({ kind: 'put', cf: 'latest', key: latestKey(key), value: encodeLatest(latest, encodedWrite) });
  }

  deleteLatest(key: Buffer): void {
    this.push({ kind: 'delete', cf: 'latest', key: latestKey(key) });
  }

  putValue(key: Buffer, startTs: Ts, value: Buffer): void {
    this.push({ kind: 'put', cf: 'default', key: defaultKey(key, startTs), value });
  }

  deleteValue(key: Buffer, startTs: Ts): void {
    this.push({ kind: 'delete', cf: 'default', key: defaultKey(key, startTs) });
  }

  /** Approximate bytes of the batch (keys + values), for proposal size checks. */
  get byteSize(): number {
    return this.bytes;
  }

  get isEmpty(): boolean {
    return this.modifications.length === 0;
  }

  private push(modification: Modification): void {
    this.bytes += modification.key.length + (modification.kind === 'put' ? modification.value.length : 0);
    this.modifications.push(modification);
  }
}
