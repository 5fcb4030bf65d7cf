import { randomUUID } from 'node:crypto';

import { memoryOutput } from '../../src/tools/cli-output.js';
import { DEVICE_CATALOG, SCORE_GOAL } from '../../src/tools/seed-data.js';
import { runSeed } from '../../src/tools/seed.js';
import { queryDatabase, TEST_DATABASE_URL } from '../support/test-app.js';

const TENANT = randomUUID();
const DEVICES = 2000;
const ENV = { DATABASE_URL: TEST_DATABASE_URL };

interface SeededRow {
  manufacturer: string;
  model: string;
  device_name: string;
  endpoint_analytics_score: number;
  startup_performance_score: number;
  app_reliability_score: number;
  work_from_anywhere_score: number;
  battery_health_score: number;
  mean_resource_spike_time_score: number;
  health_status: number;
}

const COMPONENTS = [
  'startup_performance_score',
  'app_reliability_score',
  'work_from_anywhere_score',
  'battery_health_score',
  'mean_resource_spike_time_score',
] as const;

/** Returns the stored health status value that the scores of a device imply. */
function expectedHealthStatus(endpointScore: number, availableComponents: number): number {
  if (availableComponents === 0) {
    return 0;
  }
  if (endpointScore === -1) {
    return 1;
  }

  return endpointScore >= SCORE_GOAL ? 3 : 2;
}

describe('npm run seed', () => {
  let rows: SeededRow[];
  let firstRun: ReturnType<typeof memoryOutput>;

  beforeAll(async () => {
    firstRun = memoryOutput();
    const code = await runSeed(
      [
        '--tenant',
        TENANT,
        '--devices',
        String(DEVICES),
        '--random-seed',
        '7',
        '--batch-size',
        '700',
      ],
      ENV,
      firstRun,
    );
    expect(code).toBe(0);
    rows = await queryDatabase<SeededRow>('SELECT * FROM device_scores WHERE tenant_id = $1', [
      TENANT,
    ]);
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = $1', [TENANT]);
  });

  test('writes the requested number of devices', () => {
    expect(rows).toHaveLength(DEVICES);
    expect(firstRun.out.join('')).toContain(`Seeded ${DEVICES} devices into tenant ${TENANT}`);
    expect(firstRun.out.join('')).toContain(`${DEVICES} inserted, 0 updated, 0 unchanged`);
  });

  test('uses catalog manufacturers and models', () => {
    const known = new Set(DEVICE_CATALOG.map((entry) => `${entry.manufacturer}|${entry.model}`));
    const models = new Set(rows.map((row) => `${row.manufacturer}|${row.model}`));

    expect([...models].filter((model) => !known.has(model))).toEqual([]);
    expect(models.size).toBeGreaterThan(10);
    expect(
      rows.every((row) => /^(CONTOSO-(LT|DT|TB)-\d{5}|DESKTOP-[A-Z0-9]{7})$/.test(row.device_name)),
    ).toBe(true);
  });

  test('gives desktops no battery score', () => {
    const desktops = new Set(
      DEVICE_CATALOG.filter((entry) => entry.formFactor === 'desktop').map((entry) => entry.model),
    );
    const desktopRows = rows.filter((row) => desktops.has(row.model));

    expect(desktopRows.length).toBeGreaterThan(0);
    expect(desktopRows.every((row) => row.battery_health_score === -1)).toBe(true);
  });

  test('keeps every score -1 or within 0 to 100', () => {
    for (const row of rows) {
      for (const column of [...COMPONENTS, 'endpoint_analytics_score'] as const) {
        const score = row[column];
        expect(score === -1 || (score >= 0 && score <= 100)).toBe(true);
      }
    }
    expect(rows.some((row) => row.startup_performance_score === -1)).toBe(true);
  });

  test('derives the endpoint score from the components', () => {
    for (const row of rows.filter((candidate) => candidate.endpoint_analytics_score !== -1)) {
      const available = COMPONENTS.map((column) => row[column]).filter((score) => score !== -1);
      const mean = available.reduce((sum, score) => sum + score, 0) / available.length;

      expect(row.endpoint_analytics_score).toBeCloseTo(mean, 9);
    }
  });

  test('sets health states consistent with the scores', () => {
    const byState = new Map<number, number>();
    for (const row of rows) {
      const available = COMPONENTS.filter((column) => row[column] !== -1).length;
      const score = row.endpoint_analytics_score;
      const expected = expectedHealthStatus(score, available);

      expect({ row: row.device_name, state: row.health_status }).toEqual({
        row: row.device_name,
        state: expected,
      });
      byState.set(row.health_status, (byState.get(row.health_status) ?? 0) + 1);
    }
    expect(byState.get(2)).toBeGreaterThan(0);
    expect(byState.get(3)).toBeGreaterThan(0);
    expect(byState.get(0)).toBeGreaterThan(0);
  });

  test('the same random seed changes nothing', async () => {
    const output = memoryOutput();
    const code = await runSeed(
      ['--tenant', TENANT, '--devices', String(DEVICES), '--random-seed', '7'],
      ENV,
      output,
    );
    const [{ versions }] = await queryDatabase<{ versions: number }>(
      'SELECT max(row_version)::int AS versions FROM device_scores WHERE tenant_id = $1',
      [TENANT],
    );

    expect(code).toBe(0);
    expect(output.out.join('')).toContain(`0 inserted, 0 updated, ${DEVICES} unchanged`);
    expect(versions).toBe(1);
  });

  test('rejects invalid options with exit code 2', async () => {
    for (const args of [
      ['--devices', '10'],
      ['--tenant', 'not-a-guid', '--devices', '10'],
      ['--tenant', TENANT, '--devices', '0'],
      ['--tenant', TENANT, '--devices', '10', '--batch-size', '20000'],
      ['--tenant', TENANT, '--devices', '10', '--colour', 'red'],
    ]) {
      const output = memoryOutput();

      expect({ args, code: await runSeed(args, ENV, output) }).toEqual({ args, code: 2 });
      expect(output.err.join('')).toContain('Run with --help');
    }
  });
});
