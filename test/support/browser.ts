// A real Chromium (Debian's `chromium`, installed by infra/local/install.sh) driven by playwright-core.
// Every page opened through it records browser console errors and uncaught page errors, so a test can
// assert that none happened (issue 11's quality bar).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CANDIDATES = [process.env.TP_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = CANDIDATES.find((p): p is string => typeof p === 'string' && existsSync(p));
  if (!found) throw new Error('no chromium: run `bash infra/local/install.sh` (or set TP_CHROMIUM)');
  return found;
}

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  /** Opens a page whose console errors and page errors are collected in `errors`. */
  newPage(): Promise<Page>;
  /** Console errors and uncaught exceptions seen on any page opened through newPage(). */
  errors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // The CI container runs as root without a user namespace sandbox; /dev/shm is small there.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  return {
    browser,
    context,
    errors,
    async newPage() {
      const page = await context.newPage();
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`console: ${msg.text()} (${page.url()})`);
      });
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message} (${page.url()})`));
      return page;
    },
    async close() {
      await context.close().catch(() => undefined);
      await browser.close().catch(() => undefined);
    },
  };
}

/** Saves a full-page PNG as `$TP_SCREENSHOTS/<name>.png`; nothing when TP_SCREENSHOTS is not set. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.TP_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}
