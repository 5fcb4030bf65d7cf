import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { memoryOutput, type ToolOutput } from '../../src/tools/cli-output.js';
import { runImport } from '../../src/tools/import.js';
import { NO_PROGRESS } from '../../src/tools/progress.js';
import { buildService, type CompiledBuild } from '../support/compiled-service.js';
import { useImportWorkspace } from '../support/import-workspace.js';
import { queryDatabase, TEST_DATABASE_URL } from '../support/test-app.js';

const ENV = { DATABASE_URL: TEST_DATABASE_URL };

/** Writes an NDJSON export of `count` devices with one invalid row every 25 rows. */
async function writeExport(file: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  const lines: string[] = [];
  for (let index = 0; index < count; index++) {
    const id = randomUUID();
    if (index % 25 === 24) {
      lines.push(JSON.stringify({ id, endpointAnalyticsScore: -2 }));
      continue;
    }
    ids.push(id);
    lines.push(JSON.stringify({ id, deviceName: `device-${index}`, endpointAnalyticsScore: 50 }));
  }
  await writeFile(file, `${lines.join('\n')}\n`);

  return ids;
}

async function versionsOf(tenantId: string): Promise<Map<string, number>> {
  const rows = await queryDatabase<{ id: string; row_version: number }>(
    'SELECT id, row_version FROM device_scores WHERE tenant_id = $1',
    [tenantId],
  );

  return new Map(rows.map((row) => [row.id, row.row_version]));
}

/** Output that aborts the import after `batches` batches were written. */
function abortingOutput(
  controller: AbortController,
  batches: number,
): ToolOutput & ReturnType<typeof memoryOutput> {
  const output = memoryOutput();
  let updates = 0;

  return {
    ...output,
    progress: () => ({
      ...NO_PROGRESS,
      update: () => {
        updates += 1;
        if (updates === batches) {
          controller.abort();
        }
      },
    }),
  };
}

describe('resuming an interrupted import', () => {
  const { file: inFolder, newTenant } = useImportWorkspace('eas-resume-');

  test('continues after the last committed batch', async () => {
    const tenantId = newTenant();
    const file = inFolder('interrupted.ndjson');
    const ids = await writeExport(file, 100);
    const args = ['--tenant', tenantId, '--batch-size', '10', file];
    const controller = new AbortController();
    const first = abortingOutput(controller, 3);

    const firstCode = await runImport(args, ENV, first, controller.signal);
    const afterFirst = await versionsOf(tenantId);
    const checkpoint = JSON.parse(await readFile(`${file}.checkpoint.json`, 'utf8'));
    const second = memoryOutput();
    const secondCode = await runImport(args, ENV, second);
    const afterSecond = await versionsOf(tenantId);
    const rejections = (await readFile(`${file}.rejected.ndjson`, 'utf8')).trim().split('\n');

    expect(firstCode).toBe(130);
    expect(first.err.join('')).toContain('Run the same command again to continue');
    expect(checkpoint.position).toEqual({ offset: expect.any(Number), line: 31 });
    expect(checkpoint.totals).toEqual(
      expect.objectContaining({ read: 30, inserted: 29, rejected: 1 }),
    );
    expect(afterFirst.size).toBe(29);

    expect(secondCode).toBe(0);
    expect(second.err.join('')).toContain('30 rows were read before');
    expect(second.out.join('')).toContain(
      '100 rows read: 96 inserted, 0 updated, 0 unchanged, 4 rejected',
    );
    expect([...afterSecond.keys()].sort()).toEqual([...ids].sort());
    // Rows of the first run were not written again.
    expect([...afterSecond.values()].every((version) => version === 1)).toBe(true);
    expect(rejections.map((line) => (JSON.parse(line) as { location: string }).location)).toEqual([
      'line 25',
      'line 50',
      'line 75',
      'line 100',
    ]);
    expect(existsSync(`${file}.checkpoint.json`)).toBe(false);
  });

  test('refuses a checkpoint of a file that changed', async () => {
    const tenantId = newTenant();
    const file = inFolder('changed.ndjson');
    await writeExport(file, 40);
    const args = ['--tenant', tenantId, '--batch-size', '10', file];
    const controller = new AbortController();
    expect(await runImport(args, ENV, abortingOutput(controller, 1), controller.signal)).toBe(130);

    await writeExport(file, 41);
    const output = memoryOutput();

    expect(await runImport(args, ENV, output)).toBe(1);
    expect(output.err.join('')).toContain('belongs to another import');
  });

  describe('after the process is killed', () => {
    let build: CompiledBuild;

    beforeAll(async () => {
      build = await buildService();
    }, 180_000);

    afterAll(async () => {
      await build?.remove();
    });

    test('a new run completes the import', async () => {
      const tenantId = newTenant();
      const file = inFolder('killed.ndjson');
      const ids = await writeExport(file, 20_000);
      const args = ['--tenant', tenantId, '--batch-size', '100', file];
      const child = spawn(
        process.execPath,
        [path.join(build.outDir, 'src/tools/import.js'), ...args],
        {
          env: { PATH: process.env.PATH ?? '', ...ENV },
          stdio: 'ignore',
        },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));

      // Kill it once a few batches are committed, before it can finish.
      for (let attempt = 0; attempt < 400 && !existsSync(`${file}.checkpoint.json`); attempt++) {
        await sleep(25);
      }
      await sleep(200);
      child.kill('SIGKILL');
      await exited;
      const checkpoint = JSON.parse(await readFile(`${file}.checkpoint.json`, 'utf8'));
      const output = memoryOutput();
      const code = await runImport(args, ENV, output);
      const stored = await versionsOf(tenantId);

      expect(checkpoint.totals.read).toBeGreaterThan(0);
      expect(checkpoint.totals.read).toBeLessThan(20_000);
      expect(code).toBe(0);
      expect(output.out.join('')).toContain('20000 rows read');
      expect(stored.size).toBe(ids.length);
      expect(ids.every((id) => stored.has(id))).toBe(true);
    }, 120_000);
  });
});
