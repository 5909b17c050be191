// raft reports through a pino-shaped logger; this adapts a pino logger (usually a child with
// the group's ids bound) without binding `this` at each call site.

import type { Logger } from 'pino';
import type { RaftLogger } from '../raft/index.js';

export function raftLogger(log: Logger): RaftLogger {
  return {
    debug: (obj, msg) => log.debug(obj, msg),
    info: (obj, msg) => log.info(obj, msg),
    warn: (obj, msg) => log.warn(obj, msg),
  };
}
