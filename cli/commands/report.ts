// `swirl report RUN`: writes the run's self-contained HTML report (works
// offline from file://) and prints its path.
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { collectReportData } from '../../report/collect.js';
import { renderReport } from '../../report/render.js';
import { renderResultsMarkdown } from '../../report/markdown.js';
import { curvesSvg } from '../../report/svg-curves.js';
import { resultsJson } from '../../report/results-json.js';
import { EXIT, SwirlError } from '../../runtime/errors.js';
import { swirlPaths } from '../../runtime/paths.js';
import { withClient } from '../../runtime/run-client.js';
import { out, printJson } from '../output.js';

export const OPEN_MODES = ['auto', 'always', 'never'] as const;
type OpenMode = (typeof OPEN_MODES)[number];

/** Default report file: `<state dir>/reports/<workflow id>.html` (unsafe characters replaced). */
export function defaultReportPath(workflowId: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(swirlPaths(env).state, 'reports', `${workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}.html`);
}

function openInBrowser(file: string): boolean {
  try {
    const child = spawn('xdg-open', [file], { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export async function reportAction(workflowId: string, opts: { out?: string; open?: string; json?: boolean; markdown?: string; command?: string[]; preface?: string; resultsJson?: string }, setCode: (c: number) => void): Promise<void> {
  const open = (opts.open ?? 'auto') as OpenMode;
  if (!OPEN_MODES.includes(open)) throw new SwirlError('E_USAGE', `--open must be one of ${OPEN_MODES.join(', ')}, got ${opts.open}`, { hint: 'use --open never to only write the file' });
  const file = path.resolve(opts.out ?? defaultReportPath(workflowId));
  if (!file.endsWith('.html') && !file.endsWith('.htm')) throw new SwirlError('E_USAGE', `--out must name an .html file, got ${opts.out}`, { hint: `e.g. --out ${workflowId}.html` });
  if (opts.preface && !opts.markdown) throw new SwirlError('E_USAGE', '--preface goes with --markdown (it is the Markdown page\'s introduction)', { hint: 'add --markdown docs/results.md' });
  let preface: string | undefined;
  if (opts.preface) {
    try {
      preface = await readFile(path.resolve(opts.preface), 'utf8');
    } catch (e) {
      throw new SwirlError('E_USAGE', `cannot read --preface ${opts.preface}: ${(e as Error).message}`, { hint: 'give a Markdown file' });
    }
  }
  const data = await withClient((client, target) => collectReportData(client, workflowId, { target }));
  const html = renderReport(data);
  if (opts.markdown) {
    const md = path.resolve(opts.markdown);
    // The training curves as a picture beside the page (Markdown cannot draw them): FILE-curves.svg.
    const svg = curvesSvg(data.training ?? []);
    const svgFile = svg ? `${md.replace(/\.(md|markdown)$/i, '')}-curves.svg` : undefined;
    try {
      await mkdir(path.dirname(md), { recursive: true });
      if (svg && svgFile) await writeFile(svgFile, svg);
      await writeFile(md, renderResultsMarkdown(data, { ...(opts.command?.length ? { commands: opts.command } : {}), ...(preface ? { preface } : {}), ...(svgFile ? { curvesImage: path.basename(svgFile) } : {}) }));
    } catch (e) {
      throw new SwirlError('E_REPORT_WRITE', `cannot write ${md}: ${(e as Error).message}`, { hint: 'choose a writable path with --markdown', exitCode: EXIT.environment });
    }
    if (!opts.json) {
      if (svgFile) out(svgFile);
      out(md);
    }
  }
  if (opts.resultsJson) {
    const rj = path.resolve(opts.resultsJson);
    try {
      await mkdir(path.dirname(rj), { recursive: true });
      await writeFile(rj, `${JSON.stringify(resultsJson(data), null, 2)}\n`);
    } catch (e) {
      throw new SwirlError('E_REPORT_WRITE', `cannot write ${rj}: ${(e as Error).message}`, { hint: 'choose a writable path with --results-json', exitCode: EXIT.environment });
    }
    if (!opts.json) out(rj);
  }
  try {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, html);
    await rename(tmp, file);
  } catch (e) {
    throw new SwirlError('E_REPORT_WRITE', `cannot write ${file}: ${(e as Error).message}`, { hint: 'choose a writable path with --out', exitCode: EXIT.environment });
  }
  // Open only for a person at a desktop: never in CI, never when piped.
  const interactive = process.stdout.isTTY && process.env.CI !== 'true' && Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  const opened = !opts.json && (open === 'always' || (open === 'auto' && interactive)) && openInBrowser(file);
  if (opts.json) printJson({ ok: true, workflowId, status: data.run.status, file, bytes: Buffer.byteLength(html) });
  else {
    out(file);
    if (opened) out(`  opened in your browser`);
  }
  setCode(EXIT.ok);
}
