// deploy/: launchers for Flotilla clusters — today local processes on 127.0.0.1; network
// namespaces, Docker and Kubernetes manifests come later (ROADMAP F8, F10).
export * from './local-process.js';
export * from './local-cluster.js';
export * from './pd-placement.js';
export * from './port-reservations.js';
