// Opens the system under test a TargetSpec names — in a worker process or in the parent (preload,
// invariant check). etcd's target and cluster lifecycle live in bench/peers/; they are loaded by a
// computed path, so that a Flotilla-only run never loads them and a build without them fails an
// etcd run with one clear line (PeerMissingError) before anything starts.

import { FlotillaTarget } from './flotilla-target.js';
import type { BenchTarget, EtcdTransportKind, TargetSpec } from './target.js';

/** What bench/peers/etcd-target.ts exports. */
interface EtcdTargetModule {
  openEtcdTarget(endpoints: readonly string[], options?: { readonly transport?: EtcdTransportKind }): Promise<BenchTarget>;
}

/** What bench/peers/etcd-cluster.ts exports. */
export interface EtcdClusterModule {
  startEtcdCluster(options: { readonly members: number; readonly dir: string }): Promise<{ readonly endpoints: string[]; stop(): Promise<void> }>;
}

/** bench/peers/etcd-target.js, relative to this module (computed: the module may be absent). */
export const ETCD_TARGET_MODULE = '../peers/etcd-target.js';

export class PeerMissingError extends Error {
  override readonly name = 'PeerMissingError';
}

/** Imports a bench/peers/ module by its path relative to this file; a missing one is PeerMissingError. */
export async function importPeerModule<T>(relativePath: string, exportName: string): Promise<T> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(relativePath)) as Record<string, unknown>;
  } catch (err) {
    // Only the peer module itself being absent is "not built here"; a missing import inside it is its own error.
    const fileName = relativePath.slice(relativePath.lastIndexOf('/') + 1);
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && err instanceof Error && err.message.includes(`peers/${fileName}'`)) {
      throw new PeerMissingError(`the etcd peer is not built here: ${relativePath} is missing (bench/peers/ comes with the etcd helper's change)`);
    }
    throw err;
  }
  if (typeof mod[exportName] !== 'function') throw new PeerMissingError(`${relativePath} does not export ${exportName}()`);
  return mod as T;
}

export async function openTarget(spec: TargetSpec): Promise<BenchTarget> {
  switch (spec.kind) {
    case 'flotilla':
      return FlotillaTarget.open(spec.pdEndpoints, { replicaRead: spec.replicaRead ?? 'leader' });
    case 'etcd': {
      const mod = await importPeerModule<EtcdTargetModule>(ETCD_TARGET_MODULE, 'openEtcdTarget');
      return mod.openEtcdTarget(spec.endpoints, { transport: spec.transport });
    }
  }
}
