import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { queryDatabase } from './test-app.js';

/** A temporary folder for import files and the tenants a suite writes to. */
export interface ImportWorkspace {
  /** Returns the path of `name` in the temporary folder. */
  file(name: string): string;
  /** Returns a new tenant id whose rows are deleted after the suite. */
  newTenant(): string;
}

/**
 * Registers hooks of the current describe block that create a temporary folder before its tests,
 * and delete the folder and every row of the tenants from `newTenant` after them.
 */
export function useImportWorkspace(prefix: string): ImportWorkspace {
  const tenants: string[] = [];
  let folder = '';

  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), prefix));
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [tenants]);
    await rm(folder, { recursive: true, force: true });
  });

  return {
    file: (name) => path.join(folder, name),
    newTenant: () => {
      const tenantId = randomUUID();
      tenants.push(tenantId);

      return tenantId;
    },
  };
}
