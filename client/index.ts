// client/: the Flotilla client library (`flotilla/client`). Today: finding the PD leader and the
// batching TSO client. The PD client, region cache, raw and transactional APIs arrive with F6.
export * from './pd-client.js';
export * from './tso-client.js';
