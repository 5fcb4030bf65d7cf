import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { memoryOutput, type ToolOutput } from '../../src/tools/cli-output.js';
import { checkNextLink } from '../../src/tools/graph-pages.js';
import { runImport } from '../../src/tools/import.js';
import { NO_PROGRESS } from '../../src/tools/progress.js';
import { runSeed } from '../../src/tools/seed.js';
import {
  COLLECTION,
  queryDatabase,
  READ,
  startTestApp,
  TEST_DATABASE_URL,
  type TestApp,
} from '../support/test-app.js';

const ENV = { DATABASE_URL: TEST_DATABASE_URL };
const DEVICES = 45;
const PAGE_SIZE = 7;
const COLUMNS = `id, device_name, model, manufacturer, endpoint_analytics_score,
  startup_performance_score, app_reliability_score, work_from_anywhere_score,
  battery_health_score, mean_resource_spike_time_score, health_status`;

async function rowsOf(tenantId: string): Promise<Array<Record<string, unknown>>> {
  return queryDatabase(`SELECT ${COLUMNS} FROM device_scores WHERE tenant_id = $1 ORDER BY id`, [
    tenantId,
  ]);
}

describe('npm run import --from a Graph endpoint', () => {
  const source = randomUUID();
  const tenants: string[] = [source];
  let service: TestApp;
  let folder: string;
  let token: string;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'eas-endpoint-'));
    service = await startTestApp({
      MAX_PAGE_SIZE: String(PAGE_SIZE),
      SKIPTOKEN_SECRET: randomBytes(32).toString('hex'),
    });
    token = await service.token(READ, source);
    const seeded = memoryOutput();
    expect(
      await runSeed(
        ['--tenant', source, '--devices', String(DEVICES), '--random-seed', '3'],
        ENV,
        seeded,
      ),
    ).toBe(0);
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [tenants]);
    await service?.close();
    await rm(folder, { recursive: true, force: true });
  });

  function newTenant(): string {
    const tenantId = randomUUID();
    tenants.push(tenantId);

    return tenantId;
  }

  function importArgs(target: string, checkpoint: string, url = `${service.origin}${COLLECTION}`) {
    return ['--from', url, '--token', token, '--tenant', target, '--checkpoint', checkpoint];
  }

  test('copies every device page by page', async () => {
    const target = newTenant();
    const checkpoint = path.join(folder, 'copy.checkpoint.json');
    const output = memoryOutput();

    const code = await runImport(importArgs(target, checkpoint), ENV, output);

    expect(output.err.join('')).toBe('');
    expect(code).toBe(0);
    expect(output.out.join('')).toContain(`${DEVICES} rows read: ${DEVICES} inserted`);
    expect(await rowsOf(target)).toEqual(await rowsOf(source));
    expect(existsSync(checkpoint)).toBe(false);
  });

  test('takes the tenant from the token when not given', async () => {
    const checkpoint = path.join(folder, 'same-tenant.checkpoint.json');
    const output = memoryOutput();
    const args = [
      '--from',
      `${service.origin}${COLLECTION}`,
      '--token',
      token,
      '--checkpoint',
      checkpoint,
    ];

    expect(await runImport(args, ENV, output)).toBe(0);
    expect(output.out.join('')).toContain(`into tenant ${source}`);
    expect(output.out.join('')).toContain(`0 inserted, 0 updated, ${DEVICES} unchanged`);
  });

  test('keeps the filter of the given URL', async () => {
    const target = newTenant();
    const checkpoint = path.join(folder, 'filtered.checkpoint.json');
    const url = `${service.origin}${COLLECTION}?$filter=healthStatus%20eq%20'meetingGoals'`;

    expect(await runImport(importArgs(target, checkpoint, url), ENV, memoryOutput())).toBe(0);
    const copied = await rowsOf(target);
    const expected = (await rowsOf(source)).filter((row) => row.health_status === 3);

    expect(copied.length).toBeGreaterThan(0);
    expect(copied).toEqual(expected);
  });

  test('resumes at the next page after an interruption', async () => {
    const target = newTenant();
    const checkpoint = path.join(folder, 'resumed.checkpoint.json');
    const controller = new AbortController();
    const first: ToolOutput & ReturnType<typeof memoryOutput> = {
      ...memoryOutput(),
      progress: () => ({ ...NO_PROGRESS, update: () => controller.abort() }),
    };

    const firstCode = await runImport(
      importArgs(target, checkpoint),
      ENV,
      first,
      controller.signal,
    );
    const saved = JSON.parse(await readFile(checkpoint, 'utf8'));
    const copiedFirst = (await rowsOf(target)).length;
    const second = memoryOutput();
    const secondCode = await runImport(importArgs(target, checkpoint), ENV, second);

    expect(firstCode).toBe(130);
    expect(copiedFirst).toBe(PAGE_SIZE);
    expect(saved.position).toEqual({ nextLink: expect.stringContaining('skiptoken'), page: 2 });
    expect(JSON.stringify(saved)).not.toContain(token);
    expect(secondCode).toBe(0);
    expect(second.out.join('')).toContain(`${DEVICES} rows read: ${DEVICES} inserted`);
    expect(await rowsOf(target)).toEqual(await rowsOf(source));
  });

  test('stops with the reason when the endpoint rejects the token', async () => {
    const output = memoryOutput();
    const args = [
      '--from',
      `${service.origin}${COLLECTION}`,
      '--token',
      `${token}x`,
      '--tenant',
      newTenant(),
      '--checkpoint',
      path.join(folder, 'refused.checkpoint.json'),
    ];

    expect(await runImport(args, ENV, output)).toBe(1);
    expect(output.err.join('')).toContain('401');
    expect(output.err.join('')).not.toContain(token);
  });

  test('never follows a next link to another host', () => {
    expect(checkNextLink('http://127.0.0.1:3000/beta/x', '/beta/x?$skiptoken=a')).toBe(
      'http://127.0.0.1:3000/beta/x?$skiptoken=a',
    );
    expect(() => checkNextLink('http://127.0.0.1:3000/beta/x', 'http://127.0.0.2:3000/x')).toThrow(
      'does not send the token to another host',
    );
  });
});
