// The persistent-trainer pool against a stand-in `swirl_trainer` package (a few lines of Python
// on PYTHONPATH): one process per python + environment, requests answered in turn, a trainer
// that died is replaced, and a request that raced the trainer's idle exit is sent again.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTrainers, trainerPool, type TrainerEvent, type TrainerSpawn } from '../../activities/trainer-pool.js';
import { swirlPaths } from '../../runtime/paths.js';

// Answers {"cmd":"step"|"generate","config":{"mode":...}} (echoing cmd): "ok" -> progress + done (with its pid),
// "die" -> exits 3 mid-request, "idle" -> the idle-exit event, exit 0, request unanswered
// ("idle-once": only the first process to see it does that; cwd holds the marker).
const STUB = `
import json, os, sys
print(json.dumps({"event": "ready", "pid": os.getpid()}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    mode = req["config"]["mode"]
    if mode == "idle" or (mode == "idle-once" and not os.path.exists("idled")):
        open("idled", "w").close()
        print(json.dumps({"event": "exit", "reason": "idle"}), flush=True)
        sys.exit(0)
    print(json.dumps({"event": "progress", "id": req["id"], "phase": "forward/backward"}), flush=True)
    if mode == "die":
        sys.exit(3)
    print(json.dumps({"event": "done", "id": req["id"], "pid": os.getpid(), "n": req["config"].get("n"), "cmd": req["cmd"]}), flush=True)
`;

function stubSpec(extra: Record<string, string> = {}): TrainerSpawn {
  const dir = mkdtempSync(path.join(tmpdir(), 'swirl-pool-'));
  mkdirSync(path.join(dir, 'swirl_trainer'));
  writeFileSync(path.join(dir, 'swirl_trainer', '__init__.py'), '');
  writeFileSync(path.join(dir, 'swirl_trainer', '__main__.py'), STUB);
  return { python: swirlPaths().venvPython, cwd: dir, env: { PATH: process.env.PATH, PYTHONPATH: dir, ...extra } };
}

const noop = (_: TrainerEvent) => undefined;

afterEach(() => closeTrainers());

describe('trainer pool', () => {
  it('serves requests in turn on one process per environment, and replaces one that died', async () => {
    const spec = stubSpec();
    const seen: string[] = [];
    const [a, b] = await Promise.all([
      trainerPool().step(spec, { mode: 'ok', n: 1 }, (ev) => seen.push(String(ev.phase))),
      trainerPool().step(spec, { mode: 'ok', n: 2 }, noop),
    ]);
    expect(a.kind === 'done' && b.kind === 'done').toBe(true);
    const pid = a.kind === 'done' ? a.event.pid : undefined;
    expect(b.kind === 'done' && b.event.pid).toBe(pid);
    expect([a, b].map((o) => (o.kind === 'done' ? o.event.n : undefined))).toEqual([1, 2]);
    expect(seen).toEqual(['forward/backward']);

    const other = await trainerPool().step({ ...spec, env: { ...spec.env, SWIRL_TRAINER_THREADS: '2' } }, { mode: 'ok' }, noop);
    expect(other.kind === 'done' && other.event.pid).not.toBe(pid);
    expect(trainerPool().pids()).toHaveLength(2);

    const died = await trainerPool().step(spec, { mode: 'die' }, noop);
    expect(died).toMatchObject({ kind: 'crashed', code: 3 });
    const after = await trainerPool().step(spec, { mode: 'ok' }, noop);
    expect(after.kind === 'done' && after.event.pid).not.toBe(pid);
  });

  it('sends generate requests to the same trainer as steps, in turn, each answered by its own id', async () => {
    const spec = stubSpec();
    const [a, g, b] = await Promise.all([
      trainerPool().step(spec, { mode: 'ok', n: 1 }, noop),
      trainerPool().generate(spec, { mode: 'ok', n: 2 }, noop),
      trainerPool().step(spec, { mode: 'ok', n: 3 }, noop),
    ]);
    const done = [a, g, b].map((o) => (o.kind === 'done' ? [o.event.cmd, o.event.n, o.event.pid] : [o.kind]));
    expect(done.map((d) => d.slice(0, 2))).toEqual([['step', 1], ['generate', 2], ['step', 3]]);
    expect(new Set(done.map((d) => d[2])).size).toBe(1);
    expect(trainerPool().pids()).toHaveLength(1);
  });

  it('sends a request again when the trainer left on its idle timer without reading it', async () => {
    const spec = stubSpec();
    const first = await trainerPool().step(spec, { mode: 'ok' }, noop);
    const again = await trainerPool().step(spec, { mode: 'idle-once', n: 7 }, noop);
    expect(again).toMatchObject({ kind: 'done', event: { n: 7 } });
    expect(again.kind === 'done' && again.event.pid).not.toBe(first.kind === 'done' && first.event.pid);
    // A trainer that keeps leaving: after two resends the request fails as a crash instead of looping.
    expect(await trainerPool().step(spec, { mode: 'idle' }, noop)).toMatchObject({ kind: 'crashed', code: 0 });
  });

  it('a cancelled step kills its trainer', async () => {
    const spec = stubSpec();
    const ctl = new AbortController();
    const first = await trainerPool().step(spec, { mode: 'ok' }, noop);
    const pid = first.kind === 'done' ? Number(first.event.pid) : 0;
    // A request the stub never answers ("idle" would exit): cancel it while it waits.
    const pending = trainerPool().step(spec, { mode: 'ok', n: 'x' }, () => ctl.abort(), ctl.signal);
    const out = await pending;
    expect(out.kind === 'done' || out.kind === 'crashed').toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
