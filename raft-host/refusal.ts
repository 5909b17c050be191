// raft's refusals (values, never exceptions) turned into Flotilla's typed errors, once for every
// process hosting raft groups. `notLeader` builds the host's own not-leader error (PdNotLeader
// with a member id in PD, NotLeader with a peer in a store).

import { FlotillaError } from '../common/index.js';
import type { StepResult } from '../raft/index.js';

export type Refused = Exclude<StepResult, { kind: 'ok' }>;

export function refusalError(r: Refused, what: string, notLeader: (leaderId: number) => FlotillaError): FlotillaError {
  switch (r.kind) {
    case 'not-leader':
    case 'forwarded':
    case 'leader-transferring':
      return notLeader(r.leaderId);
    case 'uncommitted-limit':
      return new FlotillaError('ServerIsBusy', `${what}: ${r.uncommittedBytes} uncommitted bytes (limit ${r.limitBytes})`, { details: { backoffMs: 100, reason: 'raft uncommitted limit' } });
    case 'entry-too-large':
      return new FlotillaError('RaftEntryTooLarge', `${what}: a command of ${r.bytes} bytes exceeds ${r.limitBytes}`, { details: { entrySize: r.bytes } });
    case 'conf-change-refused':
      return new FlotillaError('InvalidArgument', `${what}: membership change refused: ${r.reason}`);
    case 'removed':
      return new FlotillaError('Unavailable', `${what}: this member was removed from the group`);
    case 'too-many-pending-reads':
      return new FlotillaError('ServerIsBusy', `${what}: too many pending reads`, { details: { backoffMs: 10, reason: 'pending reads' } });
    case 'invalid-message':
      return new FlotillaError('InvalidArgument', `${what}: ${r.reason}`);
  }
}
