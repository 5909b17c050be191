// The store's metrics: every instrument registers under flotilla_store_, renders after use, keeps
// its fixed label sets, and bounds the KV request labels a caller may pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsRegistry } from '../../common/index.js';
import { KV_LABEL_VALUES_MAX, StoreMetrics } from '../../store/metrics.js';

function fresh(): StoreMetrics {
  return new StoreMetrics(createMetricsRegistry({ collectProcessMetrics: false }));
}

describe('StoreMetrics', () => {
  it('registers every instrument under flotilla_store_ with help text', async () => {
    const m = fresh();
    const metrics = await m.registry.getMetricsAsJSON();
    const names = metrics.map((x) => x.name).sort();
    assert.deepEqual(names, [
      'flotilla_store_apply_batch_entries',
      'flotilla_store_apply_duration_seconds',
      'flotilla_store_catch_up_heartbeats_total',
      'flotilla_store_elections_won_total',
      'flotilla_store_helper_threads_batch',
      'flotilla_store_kv_request_duration_seconds',
      'flotilla_store_kv_requests_total',
      'flotilla_store_leaders',
      'flotilla_store_one_pc_total',
      'flotilla_store_proposals_total',
      'flotilla_store_propose_to_apply_duration_seconds',
      'flotilla_store_queue_depth',
      'flotilla_store_quiet_regions',
      'flotilla_store_raft_batches_total',
      'flotilla_store_raft_log_compacted_entries_total',
      'flotilla_store_raft_log_entries',
      'flotilla_store_raft_log_gc_total',
      'flotilla_store_raft_messages_total',
      'flotilla_store_raft_write_batch_bytes',
      'flotilla_store_raft_write_batch_ops',
      'flotilla_store_raft_write_batch_regions',
      'flotilla_store_raft_write_duration_seconds',
      'flotilla_store_reads_total',
      'flotilla_store_region_size_checks_total',
      'flotilla_store_region_splits_total',
      'flotilla_store_regions',
      'flotilla_store_uninitialized_peer_gc_total',
    ]);
    for (const x of metrics) assert.ok(x.help.length > 10, `${x.name} has help`);
  });

  it('renders what each method observed', async () => {
    const m = fresh();
    m.observeRaftWrite(0.0002, 12, 3_000, 3, true);
    m.observeRaftWrite(0.00001, 1, 100, 1, false);
    m.observeApply(0.001, 40);
    m.observeCommitLatency(0.003);
    m.countProposal('applied');
    m.countProposal('applied');
    m.countProposal('busy');
    m.countElection();
    m.countRaftMessages('sent', 5);
    m.countRaftMessages('dropped', 0);
    m.countRaftBatch('sent');
    m.countRaftBatch('sent');
    m.countRaftBatch('received');
    m.observeRequest('RawPut', 'ok', 0.002);
    m.observeRequest('RawPut', 'NotLeader', 0.0001);
    m.setQueueDepth('inbound', 17);
    m.setRegionCounts(10, 4);
    m.countReads('lease');
    m.countReads('read-index');
    m.countReads('read-index');
    m.countRaftLogGc('proposed', 0);
    m.countRaftLogGc('compacted', 40);
    m.countRaftLogGc('compacted', 2);
    m.setRaftLogEntries(123);
    m.setHelperThreads({ kind: 'batch', threads: 13 });
    const text = await m.registry.metrics();
    const expect = [
      'flotilla_store_raft_write_duration_seconds_count{sync="true"} 1',
      'flotilla_store_raft_write_duration_seconds_count{sync="false"} 1',
      'flotilla_store_raft_write_batch_ops_sum 13',
      'flotilla_store_raft_write_batch_bytes_sum 3100',
      'flotilla_store_raft_write_batch_regions_sum 4',
      'flotilla_store_apply_batch_entries_sum 40',
      'flotilla_store_apply_duration_seconds_count 1',
      'flotilla_store_propose_to_apply_duration_seconds_count 1',
      'flotilla_store_proposals_total{outcome="applied"} 2',
      'flotilla_store_raft_batches_total{direction="sent"} 2',
      'flotilla_store_raft_batches_total{direction="received"} 1',
      'flotilla_store_proposals_total{outcome="busy"} 1',
      'flotilla_store_proposals_total{outcome="timeout"} 0',
      'flotilla_store_elections_won_total 1',
      'flotilla_store_raft_messages_total{direction="sent"} 5',
      'flotilla_store_raft_messages_total{direction="dropped"} 0',
      'flotilla_store_kv_requests_total{type="RawPut",outcome="ok"} 1',
      'flotilla_store_kv_requests_total{type="RawPut",outcome="NotLeader"} 1',
      'flotilla_store_kv_request_duration_seconds_count{type="RawPut",outcome="ok"} 1',
      'flotilla_store_queue_depth{queue="inbound"} 17',
      'flotilla_store_queue_depth{queue="proposals"} 0',
      'flotilla_store_regions 10',
      'flotilla_store_leaders 4',
      'flotilla_store_reads_total{kind="lease"} 1',
      'flotilla_store_raft_log_gc_total{event="proposed"} 1',
      'flotilla_store_raft_log_gc_total{event="compacted"} 2',
      'flotilla_store_raft_log_gc_total{event="heldBack"} 0',
      'flotilla_store_raft_log_compacted_entries_total 42',
      'flotilla_store_raft_log_entries 123',
      'flotilla_store_reads_total{kind="read-index"} 2',
      'flotilla_store_helper_threads_batch 13',
    ];
    const lines = new Set(text.split('\n'));
    for (const line of expect) assert.ok(lines.has(line), `missing: ${line}`);
    // The latency histogram resolves an fsync-sized write (~200 µs) into its own bucket.
    assert.ok(lines.has('flotilla_store_raft_write_duration_seconds_bucket{le="0.0001",sync="true"} 0'));
    assert.ok(lines.has('flotilla_store_raft_write_duration_seconds_bucket{le="0.00025",sync="true"} 1'));
  });

  it('bounds KV request labels: past the bound new types and outcomes count as "other"', async () => {
    const m = fresh();
    for (let i = 0; i < KV_LABEL_VALUES_MAX + 20; i++) m.observeRequest(`type${i}`, 'ok', 0.001);
    for (let i = 0; i < KV_LABEL_VALUES_MAX + 20; i++) m.observeRequest('RawGet', `code${i}`, 0.001);
    const json = await m.registry.getMetricsAsJSON();
    const requests = json.find((x) => x.name === 'flotilla_store_kv_requests_total')!;
    const values = (requests as unknown as { values: { labels: { type: string; outcome: string }; value: number }[] }).values;
    const types = new Set(values.map((v) => v.labels.type));
    const outcomes = new Set(values.map((v) => v.labels.outcome));
    assert.ok(types.size <= KV_LABEL_VALUES_MAX + 1, `${types.size} types`);
    assert.ok(outcomes.size <= KV_LABEL_VALUES_MAX + 1, `${outcomes.size} outcomes`);
    const total = values.reduce((s, v) => s + v.value, 0);
    assert.equal(total, 2 * (KV_LABEL_VALUES_MAX + 20), 'nothing is lost, only relabelled');
    assert.ok(types.has('other'));
    assert.ok(outcomes.has('other'));
  });

  it('two StoreMetrics on one registry collide (metrics are created once per process)', () => {
    const registry = createMetricsRegistry({ collectProcessMetrics: false });
    new StoreMetrics(registry);
    assert.throws(() => new StoreMetrics(registry), /already been registered/);
  });
});
