// What a local launcher tells the servers it starts through their environment.

/**
 * Set by the local launchers (deploy/local-process.ts) to their own pid: a server they started
 * stops, as on SIGTERM, once that process is gone (common/process.ts) — a test runner or bench
 * killed mid-run, or one that died on a closed pipe, leaves no cluster behind. Unset (systemd,
 * containers, a shell): no effect.
 */
export const PARENT_PID_ENV = 'FLOTILLA_PARENT_PID';

/**
 * V8 flags every Flotilla server runs with: the executables' shebangs carry them, and the local
 * launchers (deploy/local-process.ts) and the bench generators pass them. A larger young
 * generation: a store allocates ~45 KB per transfer transaction, and with V8's default 16 MiB
 * semi-spaces it scavenges often — likely often enough that objects alive across one request
 * (the batch stream's in-flight commands) get promoted and left to the major GC (the gain was
 * measured, the mechanism was not). Measured with bench:ab
 * (5 rounds, transfers ×256): 64 MiB +9.6 % (median +10.6 %), CPU per transaction −4.1 %.
 * The cost is memory: up to 3 × 64 MiB of young generation per process.
 */
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=64']);
