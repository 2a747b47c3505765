// Persistent Python trainers (`python -m swirl_trainer serve`, trainer/CONTRACT.md): one per
// distinct python + environment in this worker process, started on first use, replaced when it
// has died, killed when the worker shuts down. A trainer keeps the base model, the adapter and
// the optimizer state in memory between steps, so a step no longer pays for importing torch and
// loading the base (most of a step on a small model). It runs one request at a time (a `step`, or
// a `generate` that samples from the adapter it holds): requests for the same trainer wait their
// turn (the waiting activity keeps heartbeating).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';

export interface TrainerEvent {
  event: string;
  id?: string | null;
  [k: string]: unknown;
}

export interface TrainerSpawn {
  python: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** How a request ended: the trainer's own last event, or the process died under it. */
export type StepOutcome =
  | { kind: 'done'; event: TrainerEvent }
  | { kind: 'error'; event: TrainerEvent }
  | { kind: 'crashed'; code: number | null; signal: NodeJS.Signals | null; stderr: string };

/** The requests a persistent trainer serves (trainer/CONTRACT.md); both are idempotent, so a lost one is sent again. */
export type TrainerCmd = 'step' | 'generate';

interface Pending {
  id: string;
  onEvent: (ev: TrainerEvent) => void;
  resolve: (o: StepOutcome | 'resend') => void;
  answered: boolean;
}

/** A trainer's stdout line as an event; anything that is not a JSON object (a stray print) is skipped. */
export function parseTrainerEvent(line: string): TrainerEvent | undefined {
  if (!line.trim().startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as TrainerEvent;
  } catch {
    return undefined;
  }
}

/** The last lines of a trainer's stderr, for a failure message. */
export function stderrTail(stderr: string): string {
  return stderr.trim().split('\n').slice(-5).join(' | ');
}

class Trainer {
  readonly child: ChildProcessWithoutNullStreams;
  private pending: Pending | undefined;
  private stderr = '';
  private idleExit = false;
  exited = false;

  constructor(spec: TrainerSpawn, private readonly onExit: () => void) {
    this.child = spawn(spec.python, ['-m', 'swirl_trainer', 'serve'], { cwd: spec.cwd, env: spec.env, stdio: ['pipe', 'pipe', 'pipe'] });
    // An idle trainer must not keep a finished `swirl run` alive: only requests in flight hold the loop.
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    this.child.stdin.on('error', () => undefined); // a dead trainer's closed pipe; its exit is handled below
    this.child.stderr.on('data', (d: Buffer) => void (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.line(line));
    this.child.once('close', (code, signal) => {
      this.exited = true;
      this.onExit();
      const p = this.pending;
      this.pending = undefined;
      if (!p) return;
      // The trainer left on its idle timer just as this request was written: nobody read it.
      if (this.idleExit && !p.answered) p.resolve('resend');
      else p.resolve({ kind: 'crashed', code, signal, stderr: this.stderr });
    });
  }

  private line(line: string): void {
    const ev = parseTrainerEvent(line);
    if (!ev) return;
    if (ev.event === 'exit' && ev.reason === 'idle') this.idleExit = true;
    const p = this.pending;
    if (!p || ev.id !== p.id) return;
    p.answered = true;
    if (ev.event === 'done' || ev.event === 'error') {
      this.pending = undefined;
      p.resolve(ev.event === 'done' ? { kind: 'done', event: ev } : { kind: 'error', event: ev });
    } else p.onEvent(ev);
  }

  request(id: string, cmd: TrainerCmd, config: unknown, onEvent: (ev: TrainerEvent) => void): Promise<StepOutcome | 'resend'> {
    return new Promise((resolve) => {
      this.pending = { id, onEvent, resolve, answered: false };
      this.child.stdin.write(JSON.stringify({ id, cmd, config }) + '\n');
    });
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

class TrainerPool {
  private readonly trainers = new Map<string, Trainer>();
  private readonly turns = new Map<string, Promise<unknown>>();
  private seq = 0;

  /** One training step on the persistent trainer for `spec`; `signal` aborts it (killing that trainer). */
  step(spec: TrainerSpawn, config: unknown, onEvent: (ev: TrainerEvent) => void, signal?: AbortSignal): Promise<StepOutcome> {
    return this.enqueue('step', spec, config, onEvent, signal);
  }

  /**
   * Samples on the persistent trainer for `spec` (trainer/CONTRACT.md `generate`): the adapter the
   * last step wrote is still in its memory. Waits its turn behind steps like a step does.
   */
  generate(spec: TrainerSpawn, config: unknown, onEvent: (ev: TrainerEvent) => void, signal?: AbortSignal): Promise<StepOutcome> {
    return this.enqueue('generate', spec, config, onEvent, signal);
  }

  private enqueue(cmd: TrainerCmd, spec: TrainerSpawn, config: unknown, onEvent: (ev: TrainerEvent) => void, signal?: AbortSignal): Promise<StepOutcome> {
    const key = keyOf(spec);
    const prev = this.turns.get(key) ?? Promise.resolve();
    const mine = prev.then(() => this.run(key, cmd, spec, config, onEvent, signal));
    const settled = mine.catch(() => undefined);
    this.turns.set(key, settled);
    void settled.then(() => {
      if (this.turns.get(key) === settled) this.turns.delete(key);
    });
    return mine;
  }

  private async run(key: string, cmd: TrainerCmd, spec: TrainerSpawn, config: unknown, onEvent: (ev: TrainerEvent) => void, signal?: AbortSignal): Promise<StepOutcome> {
    for (let resends = 0; ; resends++) {
      if (signal?.aborted) throw new Error('cancelled');
      const trainer = this.trainerFor(key, spec);
      const onAbort = () => trainer.kill();
      signal?.addEventListener('abort', onAbort);
      try {
        const out = await trainer.request(`${process.pid}-${++this.seq}`, cmd, config, onEvent);
        if (out !== 'resend' || resends >= 2) return out === 'resend' ? { kind: 'crashed', code: 0, signal: null, stderr: `the trainer exited on its idle timer while a ${cmd} request was sent` } : out;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  private trainerFor(key: string, spec: TrainerSpawn): Trainer {
    const have = this.trainers.get(key);
    if (have && !have.exited) return have;
    const t: Trainer = new Trainer(spec, () => {
      if (this.trainers.get(key) === t) this.trainers.delete(key);
    });
    this.trainers.set(key, t);
    return t;
  }

  /** Pids of the live trainers (tests, diagnostics). */
  pids(): number[] {
    return [...this.trainers.values()].filter((t) => !t.exited && t.child.pid).map((t) => t.child.pid!);
  }

  close(): void {
    for (const t of this.trainers.values()) t.kill();
    this.trainers.clear();
  }
}

function keyOf(spec: TrainerSpawn): string {
  const env = Object.entries(spec.env)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([spec.python, spec.cwd, env])).digest('hex');
}

let pool: TrainerPool | undefined;

/** This worker process's trainers. */
export function trainerPool(): TrainerPool {
  if (!pool) {
    pool = new TrainerPool();
    // The trainers also leave on their own when this process dies (they watch their parent pid),
    // but a normal exit should not leave them waiting for that.
    process.once('exit', () => pool?.close());
  }
  return pool;
}

/** Kills this process's persistent trainers (worker shutdown). */
export function closeTrainers(): void {
  pool?.close();
}
