import pg from 'pg';

/** Size and seed of a generated dataset. Two datasets with equal specs hold the same rows. */
export interface DatasetSpec {
  rows: number;
  tenants: number;
  seed: number;
}

/** Facts about a loaded dataset that the scenarios use. */
export interface Dataset {
  tenantIds: string[];
  /** A random sample of existing ids per tenant, for gets and updates. */
  sampleIds: Map<string, string[]>;
  rowsPerTenant: number;
}

/** Every device the create scenario makes has this name prefix, so a later run can delete them. */
export const CREATED_NAME_PREFIX = 'bench-create ';

const BATCH_ROWS = 5000;
const SAMPLE_IDS_PER_TENANT = 2000;

const HARDWARE: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Dell Inc.', ['Latitude 5420', 'Latitude 7440', 'OptiPlex 7090', 'Precision 3581']],
  ['HP', ['EliteBook 840 G8', 'ProBook 450 G9', 'Elite Mini 800 G9']],
  ['LENOVO', ['ThinkPad T14 Gen 3', 'ThinkPad X1 Carbon Gen 11', 'ThinkCentre M70q']],
  ['Microsoft Corporation', ['Surface Laptop 5', 'Surface Pro 9']],
];
const NAME_PREFIXES = ['DESKTOP', 'LAPTOP', 'WS', 'KIOSK'];
const NAME_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
/** Cumulative shares of the health states 0 to 3: unknown, insufficientData, needsAttention, meetingGoals. */
const HEALTH_CUMULATIVE = [0.05, 0.2, 0.5, 1];

/** Returns the tenant id of tenant number `index`; the same for every run. */
export function benchTenantId(index: number): string {
  return `be7c0000-0000-4000-8000-${index.toString(16).padStart(12, '0')}`;
}

/** Creates the database when it does not exist yet. Returns true when it was created. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount !== 0) {
      return false;
    }
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return true;
  } finally {
    await admin.end();
  }
}

/**
 * Makes sure the migrated database contains the dataset of `spec`, loading it when the database
 * is new or contains another one, and deletes the devices earlier create scenarios added. Runs
 * as the table owner, which row-level security does not restrict, with explicit tenant ids.
 */
export async function prepareDataset(
  databaseUrl: string,
  spec: DatasetSpec,
  log: (line: string) => void,
): Promise<Dataset> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS bench_dataset (rows integer, tenants integer, seed integer)',
    );
    const marker = await client.query<DatasetSpec>('SELECT rows, tenants, seed FROM bench_dataset');
    const current = marker.rows[0];
    const matches =
      current !== undefined &&
      current.rows === spec.rows &&
      current.tenants === spec.tenants &&
      current.seed === spec.seed;

    if (matches) {
      const removed = await client.query('DELETE FROM device_scores WHERE device_name LIKE $1', [
        `${CREATED_NAME_PREFIX}%`,
      ]);
      log(`dataset: reusing ${spec.rows} rows, removed ${removed.rowCount ?? 0} created devices`);
    } else {
      await loadRows(client, spec, log);
    }
    await client.query('VACUUM ANALYZE device_scores');

    return await readDataset(client, spec);
  } finally {
    await client.end();
  }
}

async function loadRows(client: pg.Client, spec: DatasetSpec, log: (line: string) => void) {
  const started = performance.now();
  await client.query('TRUNCATE device_scores');
  await client.query('DELETE FROM bench_dataset');

  const random = mulberry32(spec.seed);
  for (let first = 0; first < spec.rows; first += BATCH_ROWS) {
    const count = Math.min(BATCH_ROWS, spec.rows - first);
    await insertBatch(client, spec, first, count, random);
    if ((first / BATCH_ROWS) % 20 === 19) {
      log(`dataset: ${first + count} of ${spec.rows} rows`);
    }
  }
  await client.query('INSERT INTO bench_dataset (rows, tenants, seed) VALUES ($1, $2, $3)', [
    spec.rows,
    spec.tenants,
    spec.seed,
  ]);
  const seconds = (performance.now() - started) / 1000;
  log(`dataset: loaded ${spec.rows} rows over ${spec.tenants} tenants in ${seconds.toFixed(1)} s`);
}

/**
 * Inserts `count` generated rows with one multi-row INSERT: each column travels as one array
 * parameter, and unnest turns the arrays back into rows. Row number `n` belongs to tenant
 * `n mod tenants`, so every tenant gets the same share.
 */
async function insertBatch(
  client: pg.Client,
  spec: DatasetSpec,
  first: number,
  count: number,
  random: () => number,
): Promise<void> {
  const columns: unknown[][] = Array.from({ length: 12 }, () => []);
  for (let n = first; n < first + count; n += 1) {
    const [manufacturer, models] = HARDWARE[Math.floor(random() * HARDWARE.length)];
    const unknownHardware = random() < 0.03;
    const row = [
      benchTenantId(n % spec.tenants),
      randomUuid(random),
      random() < 0.02 ? null : deviceName(random),
      unknownHardware ? null : models[Math.floor(random() * models.length)],
      unknownHardware ? null : manufacturer,
      score(random),
      score(random),
      score(random),
      score(random),
      score(random),
      score(random),
      healthStatus(random),
    ];
    row.forEach((value, index) => columns[index].push(value));
  }

  await client.query(
    `INSERT INTO device_scores (tenant_id, id, device_name, model, manufacturer,
       endpoint_analytics_score, startup_performance_score, app_reliability_score,
       work_from_anywhere_score, battery_health_score, mean_resource_spike_time_score,
       health_status)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
       $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[],
       $12::smallint[])`,
    columns,
  );
}

async function readDataset(client: pg.Client, spec: DatasetSpec): Promise<Dataset> {
  const tenantIds = Array.from({ length: spec.tenants }, (_, index) => benchTenantId(index));
  const sampleIds = new Map<string, string[]>();
  for (const tenantId of tenantIds) {
    const sample = await client.query<{ id: string }>(
      'SELECT id FROM device_scores WHERE tenant_id = $1 ORDER BY random() LIMIT $2',
      [tenantId, SAMPLE_IDS_PER_TENANT],
    );
    sampleIds.set(
      tenantId,
      sample.rows.map((row) => row.id),
    );
  }

  return { tenantIds, sampleIds, rowsPerTenant: Math.floor(spec.rows / spec.tenants) };
}

/** A small seeded generator (mulberry32), so a seed always yields the same dataset. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomUuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = (8 + Math.floor(random() * 4)).toString(16);
  const text = hex.join('');
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
}

function deviceName(random: () => number): string {
  const prefix = NAME_PREFIXES[Math.floor(random() * NAME_PREFIXES.length)];
  let suffix = '';
  for (let index = 0; index < 7; index += 1) {
    suffix += NAME_ALPHABET[Math.floor(random() * NAME_ALPHABET.length)];
  }
  return `${prefix}-${suffix}`;
}

/** Draws a score: -1 (unavailable) for 5% of values, else 0 to 100 with two decimals. */
function score(random: () => number): number {
  return random() < 0.05 ? -1 : Math.round(random() * 10000) / 100;
}

function healthStatus(random: () => number): number {
  const draw = random();
  return HEALTH_CUMULATIVE.findIndex((limit) => draw < limit);
}
