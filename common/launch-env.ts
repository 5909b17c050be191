// What a local launcher tells the servers it starts through their environment.

/**
 * Set by the local launchers (deploy/local-process.ts) to their own pid: a server they started
 * stops, as on SIGTERM, once that process is gone (common/process.ts) — a test runner or bench
 * killed mid-run, or one that died on a closed pipe, leaves no cluster behind. Unset (systemd,
 * containers, a shell): no effect.
 */
export const PARENT_PID_ENV = 'FLOTILLA_PARENT_PID';
