// Test support: an in-process PD gRPC server on 127.0.0.1:0 that serves only the handlers a test
// gives it (the rest answer UNIMPLEMENTED). For conditions a real PD cannot be made to produce on
// demand — a busy TSO, a member that always redirects — and for counting what a client sends.
// close() stops it; tests call it in `finally` / `after`.

import { createGrpcServer, startGrpcServer, type grpc, type StartedGrpcServer } from '../../common/index.js';
import { serviceDefinition, type pdpb } from '../../proto/index.js';

export class FakePd {
  private constructor(private readonly server: StartedGrpcServer) {}

  static async start(handlers: Partial<pdpb.PDHandlers>): Promise<FakePd> {
    const server = createGrpcServer();
    // grpc-js answers UNIMPLEMENTED for the methods left out.
    server.addService(serviceDefinition('flotilla.pdpb.PD'), handlers as grpc.UntypedServiceImplementation);
    return new FakePd(await startGrpcServer(server, '127.0.0.1', 0));
  }

  /** host:port clients dial. */
  get address(): string {
    return this.server.address;
  }

  close(): Promise<void> {
    return this.server.stop(100);
  }
}

/** A GetMembers answer naming one member, the leader, at `address` (http:// URLs, as PD sends them). */
export function membersNaming(address: string, clusterId: string, name = 'fake-pd'): pdpb.GetMembersResponse__Input {
  const member: pdpb.Member__Input = { name, memberId: '77', clientUrls: [`http://${address}`], peerUrls: [`http://${address}`], statusUrl: '' };
  return { header: { clusterId }, members: [member], leader: member };
}
