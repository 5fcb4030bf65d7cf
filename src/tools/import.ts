import { appendFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { QueryFailedError } from 'typeorm';

import { GUID_PATTERN } from '../auth/token-claims.js';
import type { Surface } from '../odata/query/entity-model.js';
import {
  type Checkpoint,
  emptyTotals,
  type ImportPosition,
  type ImportTotals,
  readCheckpoint,
  removeCheckpoint,
  writeCheckpoint,
} from './checkpoint.js';
import {
  errorMessage,
  EXIT_INTERRUPTED,
  isMainModule,
  logToStderr,
  PROCESS_OUTPUT,
  readToolOptions,
  type ToolOutput,
  UsageError,
} from './cli-output.js';
import {
  type DeviceScoreRecord,
  upsertDeviceScores,
  type WriteCounts,
} from './device-score-writer.js';
import { checkImportRow, type Rejection } from './import-rows.js';
import {
  endpointCheckpointName,
  type FileFormat,
  formatOfFile,
  type ImportSource,
  openEndpointSource,
  openFileSource,
} from './import-sources.js';
import { openToolDatabase, type ToolDatabase } from './tool-database.js';

const DEFAULT_BATCH_SIZE = 1000;
const MAX_BATCH_SIZE = 10_000;

/** Rejections shown in the summary; the rejects file lists all of them. */
const SHOWN_REJECTIONS = 10;

/** Tries of one batch when the database is unreachable, with doubling waits from 1 s. */
const WRITE_ATTEMPTS = 4;

export const IMPORT_USAGE = `Usage: npm run import -- <file> --tenant <guid> [options]
       npm run import -- --from <url> --token <token> [--tenant <guid>] [options]

Imports device scores into one tenant, from an NDJSON or CSV export (the property names of the
API, one entity per line or row), or from a Graph-compatible collection URL read page by page
through @odata.nextLink. Every row is checked with the API's body rules and written by id:
a new id is created, a known id gets the properties the row names. A row that fails is skipped
and listed with the reason; the import goes on.

The import writes a checkpoint after each batch and removes it when done. After an
interruption (Ctrl+C, a lost connection), run the same command again to continue from it.
Writes go to DATABASE_URL, or to the embedded database under DATA_DIR when it is unset.

Options:
  --tenant <guid>      tenant to write to (required for a file; for --from, default the
                       tid claim of the token)
  --from <url>         collection URL, such as
                       https://host/beta/deviceManagement/userExperienceAnalyticsDeviceScores
  --token <token>      bearer token for --from (or set IMPORT_TOKEN, which keeps it out of
                       the process list)
  --format ndjson|csv  file format (default from the extension: .csv, or .ndjson/.jsonl/.json)
  --surface beta|v1.0  property rules of the file's rows (default beta; --from takes the
                       surface from the URL)
  --checkpoint <file>  checkpoint path (default <file>.checkpoint.json next to the input, or
                       import-<hash>.checkpoint.json in the current folder for --from)
  --rejects <file>     where rejected rows are listed as NDJSON (default the checkpoint path
                       with .rejected.ndjson in place of .checkpoint.json)
  --batch-size <rows>  rows per transaction for files, 1 to ${MAX_BATCH_SIZE} (default ${DEFAULT_BATCH_SIZE})
  --help               print this help
`;

interface ImportOptions {
  file?: string;
  format?: FileFormat;
  from?: string;
  token?: string;
  tenantId: string;
  surface: Surface;
  checkpointPath: string;
  rejectsPath: string;
  batchSize: number;
}

/** A row to upsert and its position in the source, for database rejections. */
interface LocatedRecord {
  record: DeviceScoreRecord;
  location: string;
}

/**
 * Runs `npm run import` and returns its exit code: 0 when every row was read (rejected rows
 * included), 1 on failure, 2 for invalid options, 130 when `signal` stopped it.
 */
export async function runImport(
  args: readonly string[],
  env: Record<string, unknown>,
  output: ToolOutput,
  signal?: AbortSignal,
): Promise<number> {
  const options = readToolOptions(() => parseImportOptions(args, env), IMPORT_USAGE, output);
  if (typeof options === 'number') {
    return options;
  }

  let database: ToolDatabase | undefined;
  try {
    const source =
      options.from !== undefined
        ? openEndpointSource(options.from, options.token ?? '', signal)
        : await openFileSource(
            options.file ?? '',
            options.format ?? 'ndjson',
            options.surface,
            options.batchSize,
          );
    database = await openToolDatabase(env);
    const job = new ImportJob(source, options, database, output);

    return await job.run(signal);
  } catch (error) {
    output.stderr(
      `The import failed: ${errorMessage(error)}\nRun the same command again to continue from ` +
        `the checkpoint ${options.checkpointPath} once the cause is fixed.\n`,
    );

    return 1;
  } finally {
    await database?.close();
  }
}

/** One run of an import: resumes from the checkpoint, writes batch by batch, reports. */
class ImportJob {
  private readonly shown: Rejection[] = [];
  private readonly seenIds = new Set<string>();
  private totals: ImportTotals = emptyTotals();

  constructor(
    private readonly source: ImportSource,
    private readonly options: ImportOptions,
    private readonly database: ToolDatabase,
    private readonly output: ToolOutput,
  ) {}

  async run(signal: AbortSignal | undefined): Promise<number> {
    const position = await this.resume();
    const progress = this.output.progress(
      this.source.progressTotal === undefined
        ? 'Importing {value} rows | {duration_formatted}'
        : 'Importing [{bar}] {percentage}% | ETA {eta_formatted} | {rows} rows',
    );
    progress.start(this.source.progressTotal ?? 0, { rows: this.totals.read });
    let interrupted = false;
    try {
      for await (const chunk of this.source.chunks(position)) {
        await this.writeChunk(chunk.rows);
        await this.saveCheckpoint(chunk.after);
        progress.update(chunk.progress, { rows: this.totals.read });
        if (signal?.aborted) {
          interrupted = true;
          break;
        }
      }
    } catch (error) {
      if (!(signal?.aborted && (error as Error).name === 'AbortError')) {
        throw error;
      }
      interrupted = true;
    } finally {
      progress.stop();
    }

    if (interrupted) {
      this.output.stderr(
        `Interrupted. ${this.describeTotals()} Run the same command again to continue from ` +
          `the checkpoint ${this.options.checkpointPath}.\n`,
      );

      return EXIT_INTERRUPTED;
    }
    await removeCheckpoint(this.options.checkpointPath);
    this.output.stdout(this.summary());

    return 0;
  }

  /** Loads the checkpoint of an interrupted run, or starts a new rejects file. */
  private async resume(): Promise<ImportPosition> {
    const checkpoint = await readCheckpoint(this.options.checkpointPath);
    if (checkpoint === undefined) {
      await writeFile(this.options.rejectsPath, '');

      return this.source.start;
    }
    if (
      checkpoint.source !== this.source.identity ||
      checkpoint.tenantId !== this.options.tenantId
    ) {
      throw new Error(
        `The checkpoint ${this.options.checkpointPath} belongs to another import ` +
          `(${checkpoint.source}, tenant ${checkpoint.tenantId}). Delete it to start this one ` +
          'from the beginning, or pass --checkpoint with another path.',
      );
    }
    this.totals = checkpoint.totals;
    this.output.stderr(
      `Resuming from the checkpoint ${this.options.checkpointPath} of ${checkpoint.savedAt}: ` +
        `${checkpoint.totals.read} rows were read before.\n`,
    );

    return checkpoint.position;
  }

  private async writeChunk(rows: readonly { location: string; value?: unknown; error?: string }[]) {
    const records: LocatedRecord[] = [];
    const rejections: Rejection[] = [];
    for (const row of rows) {
      if (row.error !== undefined) {
        rejections.push({ location: row.location, reason: row.error });
        continue;
      }
      const checked = checkImportRow(row.value, this.source.surface, row.location);
      if ('rejection' in checked) {
        rejections.push(checked.rejection);
        continue;
      }
      if (this.seenIds.has(checked.record.id)) {
        this.totals.duplicates += 1;
      }
      this.seenIds.add(checked.record.id);
      records.push({ record: checked.record, location: row.location });
    }

    const counts = await this.writeRecords(records, rejections);
    this.totals.read += rows.length;
    this.totals.inserted += counts.inserted;
    this.totals.updated += counts.updated;
    this.totals.unchanged += counts.unchanged;
    this.totals.rejected += rejections.length;
    await this.reportRejections(rejections);
  }

  /**
   * Writes a batch in one tenant transaction, in order, so a repeated id is written twice and
   * the later row wins. A batch the database rejects for its data is written row by row, so only
   * the offending rows are rejected. A batch that fails because the database is unreachable is
   * tried again after 1, 2 and 4 s.
   */
  private async writeRecords(
    records: LocatedRecord[],
    rejections: Rejection[],
  ): Promise<WriteCounts> {
    const tenantId = this.options.tenantId;
    const statements = splitAtRepeatedIds(records.map((located) => located.record));
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.database.tenants.run(tenantId, async (manager) => {
          const counts: WriteCounts = { inserted: 0, updated: 0, unchanged: 0 };
          for (const statement of statements) {
            addCounts(counts, await upsertDeviceScores(manager, tenantId, statement));
          }
          return counts;
        });
      } catch (error) {
        if (isDataError(error)) {
          return this.writeOneByOne(records, rejections);
        }
        if (attempt >= WRITE_ATTEMPTS) {
          throw error;
        }
        this.output.stderr(
          `Writing a batch failed (${errorMessage(error)}); trying again in ${2 ** (attempt - 1)} s.\n`,
        );
        await sleep(1000 * 2 ** (attempt - 1));
      }
    }
  }

  private async writeOneByOne(
    records: LocatedRecord[],
    rejections: Rejection[],
  ): Promise<WriteCounts> {
    const counts: WriteCounts = { inserted: 0, updated: 0, unchanged: 0 };
    const tenantId = this.options.tenantId;
    for (const { record, location } of records) {
      try {
        const written = await this.database.tenants.run(tenantId, (manager) =>
          upsertDeviceScores(manager, tenantId, [record]),
        );
        addCounts(counts, written);
      } catch (error) {
        if (!isDataError(error)) {
          throw error;
        }
        rejections.push({
          location,
          id: record.id,
          reason: `The database rejected the row: ${errorMessage(error)}`,
        });
      }
    }

    return counts;
  }

  private async reportRejections(rejections: readonly Rejection[]): Promise<void> {
    if (rejections.length === 0) {
      return;
    }
    const lines = rejections.map((rejection) => `${JSON.stringify(rejection)}\n`).join('');
    await appendFile(this.options.rejectsPath, lines);
    this.shown.push(...rejections.slice(0, SHOWN_REJECTIONS - this.shown.length));
  }

  private async saveCheckpoint(position: ImportPosition): Promise<void> {
    const checkpoint: Checkpoint = {
      version: 1,
      source: this.source.identity,
      tenantId: this.options.tenantId,
      position,
      totals: this.totals,
      savedAt: new Date().toISOString(),
    };
    await writeCheckpoint(this.options.checkpointPath, checkpoint);
  }

  private describeTotals(): string {
    const { read, inserted, updated, unchanged, rejected, duplicates } = this.totals;

    return (
      `${read} rows read: ${inserted} inserted, ${updated} updated, ${unchanged} unchanged, ` +
      `${rejected} rejected; ${duplicates} repeated an id read before, and the last one was kept.`
    );
  }

  private summary(): string {
    let text =
      `Imported ${this.source.label} into tenant ${this.options.tenantId}. ` +
      `${this.describeTotals()}\n`;
    if (this.totals.rejected > 0) {
      text += `Rejected rows are listed in ${this.options.rejectsPath}. The first ones:\n`;
      for (const rejection of this.shown) {
        const id = rejection.id === undefined ? '' : ` (id ${rejection.id})`;
        text += `  ${rejection.location}${id}: ${rejection.reason}\n`;
      }
    }

    return text;
  }
}

function addCounts(total: WriteCounts, counts: WriteCounts): void {
  total.inserted += counts.inserted;
  total.updated += counts.updated;
  total.unchanged += counts.unchanged;
}

/** Splits records into runs without a repeated id, because one statement writes a row once. */
function splitAtRepeatedIds(records: readonly DeviceScoreRecord[]): DeviceScoreRecord[][] {
  const runs: DeviceScoreRecord[][] = [[]];
  let ids = new Set<string>();
  for (const record of records) {
    if (ids.has(record.id)) {
      runs.push([]);
      ids = new Set();
    }
    ids.add(record.id);
    runs[runs.length - 1].push(record);
  }

  return runs.filter((run) => run.length > 0);
}

/** Returns true when PostgreSQL rejected the data (classes 22 and 23), not the connection. */
function isDataError(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) {
    return false;
  }
  const code = (error.driverError as { code?: unknown } | undefined)?.code;

  return typeof code === 'string' && /^2[23]/.test(code);
}

function parseImportOptions(
  args: readonly string[],
  env: Record<string, unknown>,
): ImportOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      tenant: { type: 'string' },
      from: { type: 'string' },
      token: { type: 'string' },
      format: { type: 'string' },
      surface: { type: 'string' },
      checkpoint: { type: 'string' },
      rejects: { type: 'string' },
      'batch-size': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    return 'help';
  }
  if ((positionals.length === 1) === (values.from !== undefined) || positionals.length > 1) {
    throw new UsageError('Expected one input: a file, or --from with a collection URL.');
  }
  const batchSize = Number(values['batch-size'] ?? DEFAULT_BATCH_SIZE);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new UsageError(
      `--batch-size must be a whole number from 1 to ${MAX_BATCH_SIZE}, got '${values['batch-size']}'.`,
    );
  }

  if (values.from !== undefined) {
    return parseEndpointOptions(values, env, batchSize);
  }

  const file = positionals[0];
  const format = (values.format ?? formatOfFile(file)) as FileFormat | undefined;
  if (format !== 'ndjson' && format !== 'csv') {
    throw new UsageError(`Unknown format of '${file}': pass --format ndjson or --format csv.`);
  }
  const surface = values.surface ?? 'beta';
  if (surface !== 'beta' && surface !== 'v1.0') {
    throw new UsageError(`--surface must be beta or v1.0, got '${surface}'.`);
  }
  const checkpointPath = values.checkpoint ?? `${file}.checkpoint.json`;

  return {
    file,
    format,
    tenantId: parseTenant(values.tenant, '--tenant is required when importing a file.'),
    surface,
    checkpointPath,
    rejectsPath: values.rejects ?? rejectsPathFor(checkpointPath),
    batchSize,
  };
}

function parseEndpointOptions(
  values: { from?: string; token?: string; tenant?: string; checkpoint?: string; rejects?: string },
  env: Record<string, unknown>,
  batchSize: number,
): ImportOptions {
  const from = values.from ?? '';
  let url: URL;
  try {
    url = new URL(from);
  } catch {
    throw new UsageError(`--from must be an absolute http or https URL, got '${from}'.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--from must be an http or https URL, got '${url.protocol}'.`);
  }
  const token = values.token ?? (typeof env.IMPORT_TOKEN === 'string' ? env.IMPORT_TOKEN : '');
  if (token === '') {
    throw new UsageError('--from needs a bearer token: pass --token or set IMPORT_TOKEN.');
  }
  const tenantId = parseTenant(
    values.tenant ?? tenantOfToken(token),
    '--tenant is required when the token has no tid claim.',
  );
  const checkpointPath = values.checkpoint ?? endpointCheckpointName(from, tenantId);

  return {
    from,
    token,
    tenantId,
    surface: url.pathname.startsWith('/v1.0/') ? 'v1.0' : 'beta',
    checkpointPath,
    rejectsPath: values.rejects ?? rejectsPathFor(checkpointPath),
    batchSize,
  };
}

function parseTenant(value: string | undefined, missing: string): string {
  if (value === undefined) {
    throw new UsageError(missing);
  }
  if (!GUID_PATTERN.test(value)) {
    throw new UsageError(`--tenant must be a tenant GUID, got '${value}'.`);
  }

  return value.toLowerCase();
}

/** Reads the tid claim of a JWT without verifying it: the source endpoint verifies the token. */
function tenantOfToken(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      tid?: unknown;
    };
    return typeof payload.tid === 'string' ? payload.tid : undefined;
  } catch {
    return undefined;
  }
}

function rejectsPathFor(checkpointPath: string): string {
  const base = checkpointPath.endsWith('.checkpoint.json')
    ? checkpointPath.slice(0, -'.checkpoint.json'.length)
    : checkpointPath;

  return `${base}.rejected.ndjson`;
}

if (isMainModule(import.meta.url)) {
  logToStderr();
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.exit(EXIT_INTERRUPTED);
    }
    process.stderr.write(
      `\nReceived ${signal}: finishing the current batch. Press Ctrl+C again to quit at once.\n`,
    );
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.exitCode = await runImport(
    process.argv.slice(2),
    process.env,
    PROCESS_OUTPUT,
    controller.signal,
  );
}
