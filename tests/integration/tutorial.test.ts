// docs/tutorial.md, run: every ```sh block of the tutorial is run by bash, in
// order, in a fresh folder with `swirl` on the PATH, its state (and its own
// Temporal server, on free ports) in temporary folders, and on the embedded
// model. `<!-- test: … -->` comments in the tutorial say what each block must
// do: `exit N` (default 0), `expect "…"` (text swirl prints: it must be in
// the block's output AND in the sample output the tutorial shows under the
// block, so neither can drift from the CLI), `write FILE` (the ```yaml block
// that follows is written verbatim), `skip` (set-up lines the test does
// itself). Only swirl's own wording is expected, never model text or timings.
// SWIRL_TUTORIAL_LOG=FILE appends each block and its output to FILE: the
// material for refreshing the tutorial's sample output.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../runtime/devserver.js';
import { packageRoot } from '../../runtime/paths.js';
import { bin, swirl, tempStateDir } from './helpers.js';

const tutorialFile = path.join(packageRoot, 'docs', 'tutorial.md');

interface TutorialStep {
  kind: 'run' | 'write' | 'skip';
  /** 1-based line of the block's opening fence, for messages. */
  line: number;
  /** The block's text: a bash script (run, skip) or a file's content (write). */
  body: string;
  /** write: the file to create in the project folder. */
  file?: string;
  exit: number;
  expect: string[];
  /** The ```text block right after a run block: the output the tutorial shows. */
  shown?: string;
}

/** The steps of a tutorial: its ```sh blocks and the ```yaml blocks marked `write FILE`, in order. */
function parseTutorial(markdown: string): TutorialStep[] {
  const lines = markdown.split('\n');
  const steps: TutorialStep[] = [];
  let directive: string | undefined;
  let last: TutorialStep | undefined;
  for (let i = 0; i < lines.length; i++) {
    const d = /^<!-- test: (.*) -->$/.exec(lines[i]!);
    if (d) {
      directive = d[1]!;
      continue;
    }
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    const lang = fence[1]!;
    const text = body.join('\n') + '\n';
    if (lang === 'sh') {
      const skip = directive !== undefined && /^skip\b/.test(directive);
      const exit = directive ? /\bexit (\d+)/.exec(directive)?.[1] : undefined;
      const fragments = directive && /\bexpect\b/.test(directive) ? [...directive.slice(directive.indexOf('expect')).matchAll(/"([^"]*)"/g)].map((m) => m[1]!) : [];
      last = { kind: skip ? 'skip' : 'run', line: start + 1, body: text, exit: exit ? Number(exit) : 0, expect: fragments };
      steps.push(last);
    } else if (lang === 'text' && last?.kind === 'run' && last.shown === undefined) {
      last.shown = text;
    } else if (lang === 'yaml' && directive && /^write /.test(directive)) {
      steps.push({ kind: 'write', line: start + 1, body: text, file: directive.slice('write '.length).trim(), exit: 0, expect: [] });
      last = undefined;
    }
    directive = undefined;
  }
  return steps;
}

const steps = parseTutorial(readFileSync(tutorialFile, 'utf8'));

interface BashResult {
  code: number | null;
  output: string;
}

/** Runs one block with bash -e (a failing line fails the block), stdout and stderr together. */
function bash(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<BashResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-e', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      // The block's whole process group: bash and the swirl it started.
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms:\n${script}\n${output}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('docs/tutorial.md as written', () => {
  it('has the walkthrough the tutorial promises, and shows what it expects', () => {
    const scripts = steps.filter((s) => s.kind === 'run').map((s) => s.body).join('');
    for (const cmd of ['swirl validate', 'swirl plan', 'swirl run', 'swirl status', 'swirl show', 'swirl report', 'swirl history', 'swirl server stop']) expect(scripts, cmd).toContain(cmd);
    expect(steps.some((s) => s.kind === 'run' && s.exit === 2)).toBe(true);
    expect(steps.filter((s) => s.kind === 'write').map((s) => s.file)).toEqual(['tutorial.yaml']);
    // Every expected line is quoted in the sample output under its block.
    for (const s of steps.filter((x) => x.expect.length)) {
      expect(s.shown, `block at line ${s.line} expects output but shows none`).toBeDefined();
      for (const f of s.expect) expect(s.shown, `docs/tutorial.md:${s.line}`).toContain(f);
    }
  });
});

describe('docs/tutorial.md, every command run', () => {
  // Made in beforeAll, so that a run filtered to other tests (-t) leaves no folders behind.
  let project = '';
  let state = '';
  let cwd = '';
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    project = mkdtempSync(path.join(tmpdir(), 'swirl-it-tutorial-'));
    state = tempStateDir();
    cwd = path.join(project, 'work');
    const shims = path.join(project, '.bin');
    env = { ...process.env, CI: 'true', SWIRL_STATE_DIR: state, PATH: `${shims}${path.delimiter}${process.env.PATH ?? ''}` };
    // The tutorial uses the embedded server of its state dir, never another cluster or ledger.
    for (const k of ['TEMPORAL_ADDRESS', 'SWIRL_LEDGER', 'SWIRL_TASK_QUEUE_PREFIX']) delete env[k];
    mkdirSync(shims);
    mkdirSync(cwd);
    symlinkSync(bin, path.join(shims, 'swirl'));
    // What the tutorial's first `swirl run` would do itself, on free ports rather than 7233/8233.
    const started = await swirl(['server', 'start', '--port', String(await freePort()), '--headless'], env);
    expect(started.code, started.stderr + started.stdout).toBe(0);
  });
  afterAll(async () => {
    if (!project) return;
    await swirl(['server', 'stop'], env);
    rmSync(project, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });

  for (const step of steps) {
    const first = step.body.split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? '';
    const name = `line ${step.line}: ${step.kind === 'write' ? `write ${step.file}` : first}`;
    if (step.kind === 'skip') continue;
    it(name, async () => {
      if (step.kind === 'write') {
        writeFileSync(path.join(cwd, step.file!), step.body);
        return;
      }
      const r = await bash(step.body, cwd, env, 480_000);
      if (process.env.SWIRL_TUTORIAL_LOG) appendFileSync(process.env.SWIRL_TUTORIAL_LOG, `$ # docs/tutorial.md:${step.line}, exit ${r.code}\n${step.body}${r.output}\n`);
      expect(r.code, r.output).toBe(step.exit);
      for (const f of step.expect) expect(r.output, `docs/tutorial.md:${step.line}`).toContain(f);
    }, 540_000);
  }
});
