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
 * launchers (deploy/local-process.ts) and the bench generators pass them.
 *
 * `--max-semi-space-size=64`: a larger young generation. A store allocates ~30 KB per transfer
 * transaction on the leader, and with V8's default 16 MiB semi-spaces it scavenged often —
 * likely often enough that objects alive across one request (the batch stream's in-flight
 * commands) got promoted and left to the major GC (the gain was measured, the mechanism was not).
 * bench:ab (5 rounds, transfers ×256): +9.6 % (median +10.6 %), CPU per transaction −4.1 %.
 *
 * `--initial-old-space-size=128`: a 128 MiB floor under the old generation's allocation limit.
 * V8 starts incremental marking as soon as the old generation's headroom (its limit less its
 * size) is smaller than the young generation's capacity — room for a scavenge that promotes
 * everything. A follower's old generation holds ~20 MiB, and the limit V8 derives from that was
 * ~43 MiB: 23 MiB of headroom against a young generation of up to 64 MiB, so every scavenge was
 * followed by a full mark-compact that found nothing to free (20.7 → 20.0 MB), about once a second
 * on each follower and on the bench generator (`--trace-incremental-marking`: "Start (task):
 * size/limit/slack 20MB / 43MB / 23MB"). With the floor, 15 s of transfers ran no mark-compact on a
 * follower (17 before) and none on the generator (9). bench:ab against the 64 MiB semi-space alone:
 * transfers ×256 CPU per op −8.4 % (4 rounds; side by side the throughput moved +0.6 %, alone
 * ahead in 3 of 3 alternated runs), raw puts over 100 regions +7.0 % and CPU per put −10.6 %
 * (3 rounds). It sets when the first major GCs run, not how much memory is used: a process with
 * little garbage stays small.
 *
 * The cost is memory: up to 3 × 64 MiB of young generation, and up to 128 MiB of old generation
 * before its first mark-compact, per process.
 */
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=64', '--initial-old-space-size=128']);
