/**
 * The dashboard's three hand-written files (src/api/dashboard/), read once at
 * start-up: no build step, no bundler, nothing fetched from elsewhere.
 */
import { readFileSync } from 'node:fs';

export interface DashboardAssets {
  html: string;
  css: string;
  js: string;
}

/** The page loads only its own files and talks only to this API. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function loadDashboard(): DashboardAssets {
  const read = (file: string) => readFileSync(new URL(`./dashboard/${file}`, import.meta.url), 'utf8');
  return { html: read('index.html'), css: read('dashboard.css'), js: read('dashboard.js') };
}
