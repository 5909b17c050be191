// checkTxnStatus command: validation around the rule in actions/check-txn-status.ts.

import { MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { checkTxnStatus, type CheckTxnStatusArgs, type TxnStatus } from '../actions/check-txn-status.js';
import { checkKey, checkTs, type CommandOutput, failed, firstError, output } from './validate.js';

export async function checkTxnStatusCommand(snapshot: Snapshot, args: CheckTxnStatusArgs): Promise<CommandOutput<TxnStatus>> {
  const bad = firstError(checkKey(args.primary, 'primary'), checkTs(args.startTs, 'start_ts'), checkTs(args.currentTs, 'current_ts'));
  if (bad !== null) return failed(bad);
  const buf = new MvccWriteBuffer();
  return output(buf, await checkTxnStatus(buf, new MvccReader(snapshot), args));
}
