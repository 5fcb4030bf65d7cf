import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

import { memoryOutput } from '../../src/tools/cli-output.js';
import { runImport } from '../../src/tools/import.js';
import { useImportWorkspace } from '../support/import-workspace.js';
import { queryDatabase, TEST_DATABASE_URL } from '../support/test-app.js';

const ENV = { DATABASE_URL: TEST_DATABASE_URL };

interface StoredRow {
  id: string;
  device_name: string | null;
  model: string | null;
  manufacturer: string | null;
  endpoint_analytics_score: number;
  battery_health_score: number;
  health_status: number;
  row_version: number;
}

function idOf(index: number): string {
  return `0000000${index}`.slice(-8) + '-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
}

async function storedRows(tenantId: string): Promise<Map<string, StoredRow>> {
  const rows = await queryDatabase<StoredRow>('SELECT * FROM device_scores WHERE tenant_id = $1', [
    tenantId,
  ]);

  return new Map(rows.map((row) => [row.id, row]));
}

async function rejectionsIn(
  file: string,
): Promise<Array<{ location: string; id?: string; reason: string }>> {
  const text = await readFile(file, 'utf8');

  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { location: string; id?: string; reason: string });
}

describe('npm run import with a file', () => {
  const { file: inFolder, newTenant } = useImportWorkspace('eas-import-');

  describe('NDJSON with good rows, bad rows and duplicates', () => {
    const tenantId = newTenant();
    let file: string;
    let code: number;
    let output: ReturnType<typeof memoryOutput>;

    const lines = [
      JSON.stringify({
        '@odata.type': '#microsoft.graph.userExperienceAnalyticsDeviceScores',
        '@odata.etag': 'W/"1-1"',
        id: idOf(1).toUpperCase(),
        deviceName: 'LT-0001',
        model: 'Latitude 5440',
        manufacturer: 'Dell Inc.',
        endpointAnalyticsScore: 7.333333333333333,
        batteryHealthScore: -1,
        healthStatus: 'needsAttention',
      }),
      JSON.stringify({ id: idOf(2), deviceName: 'LT-0002' }),
      '',
      JSON.stringify({ id: idOf(3), endpointAnalyticsScore: '87.5' }),
      '{"id": "broken',
      JSON.stringify({ deviceName: 'no id' }),
      JSON.stringify({ id: idOf(4), colour: 'red' }),
      JSON.stringify({ id: idOf(5), healthStatus: 'unknownFutureValue' }),
      JSON.stringify({ id: idOf(6), endpointAnalyticsScore: 101 }),
      JSON.stringify({ id: 'not-a-guid', deviceName: 'x' }),
      JSON.stringify([1, 2, 3]),
      JSON.stringify({ id: idOf(1), deviceName: 'LT-0001-renamed' }),
      JSON.stringify({ id: idOf(7), deviceName: 'A'.repeat(257) }),
      JSON.stringify({ id: idOf(2), deviceName: 'LT-0002' }),
    ];

    beforeAll(async () => {
      file = inFolder('export.ndjson');
      await writeFile(file, `${lines.join('\r\n')}\n`);
      output = memoryOutput();
      code = await runImport(['--tenant', tenantId, '--batch-size', '4', file], ENV, output);
    });

    test('finishes with exit code 0 and removes the checkpoint', () => {
      expect(output.err.join('')).toBe('');
      expect(code).toBe(0);
      expect(existsSync(`${file}.checkpoint.json`)).toBe(false);
    });

    test('writes the good rows, the later duplicate winning', async () => {
      const rows = await storedRows(tenantId);

      expect([...rows.keys()].sort()).toEqual([idOf(1), idOf(2)]);
      expect(rows.get(idOf(1))).toEqual(
        expect.objectContaining({
          device_name: 'LT-0001-renamed',
          model: 'Latitude 5440',
          manufacturer: 'Dell Inc.',
          endpoint_analytics_score: 7.333333333333333,
          battery_health_score: -1,
          health_status: 2,
          row_version: 2,
        }),
      );
      expect(rows.get(idOf(2))?.row_version).toBe(1);
    });

    test('reports each rejected row with its line and reason', async () => {
      const rejections = await rejectionsIn(`${file}.rejected.ndjson`);

      expect(rejections.map((rejection) => rejection.location)).toEqual([
        'line 4',
        'line 5',
        'line 6',
        'line 7',
        'line 8',
        'line 9',
        'line 10',
        'line 11',
        'line 13',
      ]);
      expect(rejections[0]).toEqual({
        location: 'line 4',
        id: idOf(3),
        reason: expect.stringContaining("'endpointAnalyticsScore'"),
      });
      expect(rejections[1].reason).toContain('not valid JSON');
      expect(rejections[2].reason).toContain("no 'id'");
      expect(rejections[3].reason).toContain("'colour' does not exist");
      expect(rejections[4].reason).toContain('unknownFutureValue');
      expect(rejections[5].reason).toContain('from 0 to 100');
      expect(rejections[6].reason).toContain('GUID');
      expect(rejections[7].reason).toContain('single JSON object');
      expect(rejections[8].reason).toContain('256 characters');
    });

    test('summarises the counts', () => {
      const summary = output.out.join('');

      expect(summary).toContain('13 rows read: 2 inserted, 1 updated, 1 unchanged, 9 rejected');
      expect(summary).toContain('2 repeated an id read before');
      expect(summary).toContain(`line 4 (id ${idOf(3)})`);
    });

    test('a second run rewrites only the repeated id', async () => {
      const again = memoryOutput();

      // The first row with idOf(1) undoes the rename and the later one applies it again.
      expect(await runImport(['--tenant', tenantId, file], ENV, again)).toBe(0);
      expect(again.out.join('')).toContain('0 inserted, 2 updated, 2 unchanged, 9 rejected');
      expect((await storedRows(tenantId)).get(idOf(1))?.device_name).toBe('LT-0001-renamed');
      expect((await storedRows(tenantId)).get(idOf(2))?.row_version).toBe(1);
    });
  });

  describe('CSV', () => {
    const tenantId = newTenant();
    let file: string;
    let code: number;
    let output: ReturnType<typeof memoryOutput>;

    beforeAll(async () => {
      file = inFolder('export.csv');
      const csv = [
        'id,deviceName,model,manufacturer,endpointAnalyticsScore,batteryHealthScore,healthStatus',
        `${idOf(11)},"Lab, PC ""1""",OptiPlex 7010,Dell Inc.,71.25,-1,meetingGoals`,
        `${idOf(12)},,,,,,`,
        `${idOf(13)},"two`,
        `lines",ThinkPad T14 Gen 4,LENOVO,1.5E+1,40,needsAttention`,
        `${idOf(14)},x,y,z,high,10,meetingGoals`,
        `${idOf(15)},too few`,
        `${idOf(11)},Lab PC 1,OptiPlex 7010,Dell Inc.,72,-1,meetingGoals`,
        '',
      ].join('\r\n');
      // Excel writes a byte order mark before the header.
      await writeFile(file, `\ufeff${csv}`);
      output = memoryOutput();
      code = await runImport(['--tenant', tenantId, file], ENV, output);
    });

    test('finishes with exit code 0', () => {
      expect(output.err.join('')).toBe('');
      expect(code).toBe(0);
    });

    test('reads quoted, empty and multi-line fields', async () => {
      const rows = await storedRows(tenantId);

      expect([...rows.keys()].sort()).toEqual([idOf(11), idOf(12), idOf(13)]);
      expect(rows.get(idOf(11))).toEqual(
        expect.objectContaining({
          device_name: 'Lab PC 1',
          endpoint_analytics_score: 72,
          battery_health_score: -1,
          health_status: 3,
        }),
      );
      expect(rows.get(idOf(12))).toEqual(
        expect.objectContaining({
          device_name: null,
          model: null,
          endpoint_analytics_score: -1,
          health_status: 0,
        }),
      );
      expect(rows.get(idOf(13))).toEqual(
        expect.objectContaining({
          device_name: 'two\r\nlines',
          endpoint_analytics_score: 15,
          health_status: 2,
        }),
      );
    });

    test('reports bad rows by the line they start on', async () => {
      const rejections = await rejectionsIn(`${file}.rejected.ndjson`);

      expect(rejections).toEqual([
        {
          location: 'line 6',
          id: idOf(14),
          reason: expect.stringContaining('endpointAnalyticsScore'),
        },
        { location: 'line 7', reason: 'The row has 2 fields, but the header has 7.' },
      ]);
    });

    test('stops before writing when the header is unknown', async () => {
      const badHeader = inFolder('bad-header.csv');
      await writeFile(badHeader, `id,deviceName,colour\n${idOf(21)},x,red\n`);
      const failed = memoryOutput();
      const tenant = newTenant();

      expect(await runImport(['--tenant', tenant, badHeader], ENV, failed)).toBe(1);
      expect(failed.err.join('')).toContain("the column 'colour'");
      expect((await storedRows(tenant)).size).toBe(0);
    });
  });

  test('rejects invalid options with exit code 2', async () => {
    const file = inFolder('rows.ndjson');
    for (const args of [
      [file],
      ['--tenant', 'nope', file],
      ['--tenant', randomUUID(), inFolder('rows.txt')],
      ['--tenant', randomUUID(), '--surface', 'v2', file],
      ['--tenant', randomUUID(), file, '--from', 'http://127.0.0.1:1/x'],
      ['--from', 'http://127.0.0.1:1/x'],
    ]) {
      const output = memoryOutput();

      expect({ args, code: await runImport(args, ENV, output) }).toEqual({ args, code: 2 });
    }
  });
});
