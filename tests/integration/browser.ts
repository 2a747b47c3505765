// Headless Chromium for tests: the Debian `chromium` package driven by
// playwright-core (no browser download). A missing browser fails the test
// with the command that installs it; it never skips.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.SWIRL_CHROMIUM ?? '/usr/bin/chromium';

// The test machines have no outside network: without these, Chromium stalls on
// background connections (updates, sync, field trials, QUIC probes).
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing (${CHROMIUM}); the report tests need it.\n  what to do: run \`npm run setup\` (as root it installs the Debian package), or \`sudo apt-get install -y chromium\`, or point SWIRL_CHROMIUM at a Chromium binary`);
  }
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(path.join(tmpdir(), 'swirl-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 }, timeout: 60_000 });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
