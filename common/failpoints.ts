// Named fault-injection sites (after TiKV's fail_point!). Unarmed, a site costs one integer check.
// Armed from tests in-process (`armFailpoint`) or, in a server, from FLOTILLA_FAILPOINTS at start:
//   FLOTILLA_FAILPOINTS="store::apply-before-write=panic;pd::tso-save=return(err)"
// Sites are evaluated by the I/O layers only; raft/ and txn/ stay free of them (pure).

import { FlotillaError } from './errors.js';

export type FailAction =
  | { readonly kind: 'off' }
  | { readonly kind: 'panic' }
  | { readonly kind: 'return'; readonly value: string }
  | { readonly kind: 'sleep'; readonly ms: number }
  | { readonly kind: 'pause' };

const armed = new Map<string, FailAction>();
const paused = new Map<string, { promise: Promise<void>; resume: () => void }>();
let armedCount = 0;

export function parseFailAction(text: string): FailAction {
  const t = text.trim();
  if (t === 'off') return { kind: 'off' };
  if (t === 'panic') return { kind: 'panic' };
  if (t === 'pause') return { kind: 'pause' };
  const ret = /^return(?:\((.*)\))?$/.exec(t);
  if (ret !== null) return { kind: 'return', value: ret[1] ?? '' };
  const sleep = /^sleep\(([0-9]+)\)$/.exec(t);
  if (sleep !== null) return { kind: 'sleep', ms: Number(sleep[1]) };
  throw new FlotillaError('ConfigInvalid', `failpoint action ${JSON.stringify(t)}: expected off, panic, pause, return(v) or sleep(ms)`);
}

export function armFailpoint(name: string, action: FailAction | string): void {
  const parsed = typeof action === 'string' ? parseFailAction(action) : action;
  disarmFailpoint(name);
  if (parsed.kind === 'off') return;
  armed.set(name, parsed);
  armedCount = armed.size;
  if (parsed.kind === 'pause') {
    let resume = (): void => {};
    const promise = new Promise<void>((r) => (resume = r));
    paused.set(name, { promise, resume });
  }
}

export function disarmFailpoint(name: string): void {
  armed.delete(name);
  armedCount = armed.size;
  paused.get(name)?.resume();
  paused.delete(name);
}

export function disarmAllFailpoints(): void {
  for (const name of [...armed.keys()]) disarmFailpoint(name);
}

/** Arms every `name=action` pair in a `;`-separated spec (FLOTILLA_FAILPOINTS). */
export function armFailpointsFromSpec(spec: string | undefined): void {
  if (spec === undefined || spec.trim() === '') return;
  for (const part of spec.split(';')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? '' : part.slice(0, eq).trim();
    if (name === '') throw new FlotillaError('ConfigInvalid', `FLOTILLA_FAILPOINTS: ${JSON.stringify(part)} is not name=action`);
    armFailpoint(name, part.slice(eq + 1));
  }
}

/**
 * The check at a site. Returns undefined when the site is unarmed (the common case: one compare),
 * the `return` value when armed with return(v); throws for panic; awaits for sleep and pause.
 */
export function failpoint(name: string): undefined | string | Promise<string | undefined> {
  if (armedCount === 0) return undefined;
  const action = armed.get(name);
  if (action === undefined) return undefined;
  switch (action.kind) {
    case 'off':
      return undefined;
    case 'panic':
      throw new FlotillaError('Internal', `failpoint ${name}: panic`);
    case 'return':
      return action.value;
    case 'sleep':
      return new Promise((resolve) => setTimeout(() => resolve(undefined), action.ms));
    case 'pause':
      return (paused.get(name)?.promise ?? Promise.resolve()).then(() => undefined);
  }
}
