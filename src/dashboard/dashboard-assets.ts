import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the dashboard, read into memory once. */
export interface DashboardAsset {
  body: Buffer;
  contentType: string;
}

/** The files the dashboard serves, by name. */
export const DASHBOARD_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

/**
 * Folders that may hold the files: `assets` beside this module (the source tree, which the tests
 * run), then `src/dashboard/assets` of the checkout when running the build in `dist/src/dashboard`.
 */
function candidateFolders(): string[] {
  const moduleFolder = path.dirname(fileURLToPath(import.meta.url));

  return [
    path.join(moduleFolder, 'assets'),
    path.resolve(moduleFolder, '../../../src/dashboard/assets'),
  ];
}

/**
 * Reads the dashboard's files from the first folder that has them all. Returns undefined with
 * the folders searched when none has, so the service can start and report the page missing.
 */
export function loadDashboardAssets():
  | { assets: Map<string, DashboardAsset>; folder: string }
  | { assets: undefined; searched: string[] } {
  const folders = candidateFolders();
  const folder = folders.find((candidate) =>
    Object.keys(DASHBOARD_FILES).every((name) => existsSync(path.join(candidate, name))),
  );
  if (folder === undefined) {
    return { assets: undefined, searched: folders };
  }

  const assets = new Map<string, DashboardAsset>();
  for (const [name, contentType] of Object.entries(DASHBOARD_FILES)) {
    assets.set(name, { body: readFileSync(path.join(folder, name)), contentType });
  }

  return { assets, folder };
}
