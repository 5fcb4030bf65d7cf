import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';

import { GUID_PATTERN } from '../auth/token-claims.js';
import {
  errorMessage,
  isMainModule,
  logToStderr,
  PROCESS_OUTPUT,
  readToolOptions,
  type ToolOutput,
  UsageError,
} from './cli-output.js';
import { upsertDeviceScores, type WriteCounts } from './device-score-writer.js';
import { createRandom, DemoDeviceGenerator } from './seed-data.js';
import { openToolDatabase } from './tool-database.js';

const DEFAULT_BATCH_SIZE = 5000;
const MAX_BATCH_SIZE = 10_000;
const MAX_DEVICES = 10_000_000;

export const SEED_USAGE = `Usage: npm run seed -- --tenant <guid> --devices <count> [options]

Fills one tenant with demo device scores: real business models, scores with -1 where a device
has no data, and health states that follow from the scores. Writes to DATABASE_URL, or to the
embedded database under DATA_DIR (default ./data) when it is unset; stop the service first in
that case, because the embedded database accepts one process at a time.

Options:
  --tenant <guid>         tenant that owns the rows (required)
  --devices <count>       number of devices to write, 1 to ${MAX_DEVICES} (required)
  --random-seed <int>     seed of the generator; the same seed writes the same devices and ids,
                          so a second run updates nothing (default: random, printed at the end)
  --name-prefix <text>    prefix of device names such as CONTOSO-LT-04821 (default CONTOSO)
  --batch-size <rows>     rows per INSERT statement and transaction, 1 to ${MAX_BATCH_SIZE}
                          (default ${DEFAULT_BATCH_SIZE})
  --help                  print this help
`;

interface SeedOptions {
  tenantId: string;
  devices: number;
  randomSeed: number;
  namePrefix: string;
  batchSize: number;
}

/** Runs `npm run seed` and returns its exit code: 0 on success, 1 on failure, 2 for bad options. */
export async function runSeed(
  args: readonly string[],
  env: Record<string, unknown>,
  output: ToolOutput,
): Promise<number> {
  const options = readToolOptions(() => parseSeedOptions(args), SEED_USAGE, output);
  if (typeof options === 'number') {
    return options;
  }

  try {
    await seed(options, env, output);
  } catch (error) {
    output.stderr(`Seeding failed: ${errorMessage(error)}\n`);

    return 1;
  }

  return 0;
}

async function seed(options: SeedOptions, env: Record<string, unknown>, output: ToolOutput) {
  const database = await openToolDatabase(env);
  const generator = new DemoDeviceGenerator(createRandom(options.randomSeed), options.namePrefix);
  const counts: WriteCounts = { inserted: 0, updated: 0, unchanged: 0 };
  const health = new Map<string, number>();
  const progress = output.progress(
    'Seeding [{bar}] {percentage}% | {value}/{total} devices | ETA {eta_formatted}',
  );
  const startedAt = performance.now();

  progress.start(options.devices);
  try {
    for (let written = 0; written < options.devices;) {
      const size = Math.min(options.batchSize, options.devices - written);
      const batch = Array.from({ length: size }, () => generator.next());
      for (const record of batch) {
        const status = String(record.values.healthStatus);
        health.set(status, (health.get(status) ?? 0) + 1);
      }

      const batchCounts = await database.tenants.run(options.tenantId, (manager) =>
        upsertDeviceScores(manager, options.tenantId, batch),
      );
      counts.inserted += batchCounts.inserted;
      counts.updated += batchCounts.updated;
      counts.unchanged += batchCounts.unchanged;
      written += size;
      progress.update(written);
    }
  } finally {
    progress.stop();
    await database.close();
  }

  const seconds = (performance.now() - startedAt) / 1000;
  const rate = Math.round(options.devices / seconds);
  const states = [...health.entries()].map(([state, count]) => `${state} ${count}`).join(', ');
  output.stdout(
    `Seeded ${options.devices} devices into tenant ${options.tenantId} in ${seconds.toFixed(1)} s ` +
      `(${rate} rows/s): ${counts.inserted} inserted, ${counts.updated} updated, ` +
      `${counts.unchanged} unchanged.\n` +
      `Health status: ${states}.\n` +
      `Random seed ${options.randomSeed}: pass --random-seed ${options.randomSeed} to write the ` +
      'same devices again.\n',
  );
}

function parseSeedOptions(args: readonly string[]): SeedOptions | 'help' {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      tenant: { type: 'string' },
      devices: { type: 'string' },
      'random-seed': { type: 'string' },
      'name-prefix': { type: 'string' },
      'batch-size': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    return 'help';
  }
  if (values.tenant === undefined || !GUID_PATTERN.test(values.tenant)) {
    throw new UsageError(
      `--tenant must be a tenant GUID such as 11111111-1111-1111-1111-111111111111, got ` +
        `'${values.tenant ?? ''}'.`,
    );
  }
  const namePrefix = values['name-prefix'] ?? 'CONTOSO';
  if (!/^[A-Za-z0-9-]{1,40}$/.test(namePrefix)) {
    throw new UsageError(
      `--name-prefix must be 1 to 40 letters, digits or hyphens, got '${namePrefix}'.`,
    );
  }

  return {
    tenantId: values.tenant.toLowerCase(),
    devices: parseCount('--devices', values.devices, 1, MAX_DEVICES),
    randomSeed:
      values['random-seed'] === undefined
        ? randomInt(2 ** 31)
        : parseCount('--random-seed', values['random-seed'], 0, 2 ** 32 - 1),
    namePrefix,
    batchSize: parseCount(
      '--batch-size',
      values['batch-size'] ?? String(DEFAULT_BATCH_SIZE),
      1,
      MAX_BATCH_SIZE,
    ),
  };
}

function parseCount(option: string, value: string | undefined, min: number, max: number): number {
  const count = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || count < min || count > max) {
    throw new UsageError(
      `${option} must be a whole number from ${min} to ${max}, got '${value ?? ''}'.`,
    );
  }

  return count;
}

if (isMainModule(import.meta.url)) {
  logToStderr();
  process.exitCode = await runSeed(process.argv.slice(2), process.env, PROCESS_OUTPUT);
}
