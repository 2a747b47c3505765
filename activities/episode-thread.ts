// The inside of an episode thread (activities/episode-threads.ts): runs rollout
// items with swirl's own rollout processor, its own connection to the worker's
// ledger, and model calls that go through the main thread's gates.
import { AsyncLocalStorage } from 'node:async_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { classifyError, setGateRunnerFactory, type GateLimits, type GateRunner, type GateRunOptions } from '../agents/limits.js';
import { SqliteLedger } from '../store/ledger-sqlite.js';
import { withBudget } from '../agents/budget.js';
import { fromWire, toWire, type FromThread, type ToThread } from './episode-threads.js';
import { rolloutProcessor } from './rollout.js';

const port = parentPort!;
const data = workerData as { modelsDir: string };
const send = (m: FromThread) => port.postMessage(m);

interface Call {
  fn: () => Promise<unknown>;
  tokensUsed?: (r: unknown) => number;
  attempts: Map<number, { value: unknown } | { error: unknown }>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}
const calls = new Map<number, Call>();
let nextCall = 1;
/** The item a model call is made for (its gate waits end when the item is aborted). */
const itemScope = new AsyncLocalStorage<number>();

/** A gate that asks the main thread's gate of the same model to run each call. */
function proxyGate(name: string, limits: GateLimits, label?: string): GateRunner {
  return {
    run<T>(fn: () => Promise<T>, opts: GateRunOptions<T> = {}): Promise<T> {
      const call = nextCall++;
      return new Promise<T>((resolve, reject) => {
        calls.set(call, { fn, ...(opts.tokensUsed ? { tokensUsed: opts.tokensUsed as (r: unknown) => number } : {}), attempts: new Map(), resolve: resolve as (v: unknown) => void, reject });
        send({ t: 'gate', id: itemScope.getStore() ?? 0, call, gate: name, limits, ...(label !== undefined ? { label } : {}), ...(opts.estimateTokens !== undefined ? { estimateTokens: opts.estimateTokens } : {}) });
      });
    },
  };
}
setGateRunnerFactory(proxyGate);

/** One ledger connection and processor per ledger file (a worker's ledger; tests and benches use several). */
const processors = new Map<string, ReturnType<typeof rolloutProcessor>>();
function processorFor(file: string) {
  let p = processors.get(file);
  if (!p) {
    p = rolloutProcessor(data.modelsDir, new SqliteLedger(file));
    processors.set(file, p);
  }
  return p;
}
const aborts = new Map<number, AbortController>();

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'item': {
      const ac = new AbortController();
      aborts.set(m.id, ac);
      itemScope
        .run(m.id, () => withBudget(m.budget?.runId ?? '', m.budget?.budget, () => processorFor(m.ledgerFile)(m.item, { ...m.ctx, signal: ac.signal })))
        .then(
          (outcome) => send({ t: 'result', id: m.id, outcome }),
          (e: unknown) => send({ t: 'error', id: m.id, error: toWire(e) }),
        )
        .finally(() => aborts.delete(m.id));
      return;
    }
    case 'abort':
      aborts.get(m.id)?.abort(new Error('the shard activity was cancelled'));
      return;
    case 'exec': {
      const c = calls.get(m.call);
      if (!c) return;
      c.fn().then(
        (value) => {
          c.attempts.set(m.attempt, { value });
          send({ t: 'execDone', call: m.call, attempt: m.attempt, tokens: c.tokensUsed ? c.tokensUsed(value) : 0 });
        },
        (error: unknown) => {
          c.attempts.set(m.attempt, { error });
          send({ t: 'execDone', call: m.call, attempt: m.attempt, error: toWire(error, classifyError(error)) });
        },
      );
      return;
    }
    case 'gateDone': {
      const c = calls.get(m.call);
      if (!c) return;
      calls.delete(m.call);
      const a = m.fromAttempt !== undefined ? c.attempts.get(m.fromAttempt) : undefined;
      if (m.error) c.reject(fromWire(m.error));
      else if (a && 'value' in a) c.resolve(a.value);
      else if (a) c.reject(a.error);
      else c.reject(new Error(`episode thread: the gate finished call ${m.call} without an attempt`));
      return;
    }
  }
});
