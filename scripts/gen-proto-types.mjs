// Generates TypeScript types for proto/*.proto into proto/generated/ (git-ignored) with
// @grpc/proto-loader's generator. The loader options here must match proto/load.ts
// (longs as strings so 64-bit integers stay lossless; enums as strings; defaults; oneofs).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const outDir = join(protoDir, 'generated');
const files = existsSync(protoDir) ? readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort() : [];

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
if (files.length === 0) {
  console.log('gen-proto-types: no .proto files yet');
  process.exit(0);
}
const bin = join(root, 'node_modules', '.bin', 'proto-loader-gen-types');
execFileSync(
  bin,
  [
    '--longs=String',
    '--enums=String',
    '--bytes=Buffer',
    '--defaults',
    '--oneofs',
    '--grpcLib=@grpc/grpc-js',
    '--targetFileExtension=.ts',
    '--importFileExtension=.js',
    '--inputTemplate=%s__Input',
    '--outputTemplate=%s',
    `--includeDirs=${protoDir}`,
    `--outDir=${outDir}`,
    ...files,
  ],
  { cwd: protoDir, stdio: ['ignore', 'ignore', 'inherit'] },
);
