// What the train-stage crash and stop tests share: the scripted judge, and how to find the
// worker's trainer child at work.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { scriptedAnswer, type ChatBody } from './fixtures/openai-stub.js';

/**
 * The fixture's reward model: the scripted stub as an LLM judge. Its verdict is a hash of the judge
 * prompt (which holds the sampled action), GOOD 3 times in 4: the same action always gets the same
 * verdict, whichever run or attempt asks, and samples of one state mostly get unequal rewards.
 */
export function scriptedJudge(body: ChatBody): string {
  const last = String(body.messages.at(-1)?.content ?? '');
  if (!last.includes('Judge ONLY the student')) return scriptedAnswer(body);
  const h = createHash('sha256').update(last).digest()[0]!;
  return `Checked against the task.\n${h % 4 === 0 ? 'BAD' : 'GOOD'}`;
}

/** Trainer processes (`swirl_trainer serve`, or `step` with SWIRL_TRAINER_PERSISTENT=0) started by `parent`, with their age in seconds. */
export function trainerChildren(parent: number): Array<{ pid: number; age: number }> {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,etimes=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => !!m && Number(m[2]) === parent && /swirl_trainer (step|serve)/.test(m[4]!))
    .map((m) => ({ pid: Number(m[1]), age: Number(m[3]) }));
}

const cpuSeen = new Map<number, number>();

/**
 * The trainer is inside a step: torch is loaded (libtorch mapped) and it burns CPU (at least a quarter of a
 * core since the previous poll). A persistent trainer stays alive, with torch and the base model
 * loaded, between steps, but then it waits on its input and uses no CPU; the first trainer of a run
 * is started by trainStep 0, so the first busy one is in that step.
 */
export function trainerAtWork(c: { pid: number; age: number }): boolean {
  try {
    const maps = readFileSync(`/proc/${c.pid}/maps`, 'utf8');
    // utime + stime (fields 14 and 15 of /proc/PID/stat; the command name in field 2 has no spaces here)
    const f = readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const before = cpuSeen.get(c.pid);
    cpuSeen.set(c.pid, ticks);
    return maps.includes('libtorch') && before !== undefined && ticks - before >= 5;
  } catch {
    return false;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 600_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

