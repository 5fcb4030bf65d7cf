import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';

import type { Surface } from '../odata/query/entity-model.js';
import type { ImportPosition, PagePosition } from './checkpoint.js';
import {
  type FilePosition,
  type FileRecord,
  readCsvRecords,
  readNdjsonRecords,
} from './file-records.js';
import { fetchCollectionPage } from './graph-pages.js';
import { csvCellValue, csvColumns } from './import-rows.js';

/** One row as read, before the body rules check it. */
export interface SourceRow {
  location: string;
  value?: unknown;
  /** Reason the row could not be read at all, such as invalid JSON. */
  error?: string;
}

/** Rows that are written in one transaction, and the position just after them. */
export interface SourceChunk {
  rows: SourceRow[];
  after: ImportPosition;
  /** Progress after the chunk: bytes read for a file, rows read for an endpoint. */
  progress: number;
}

/** Something an import reads device scores from: an export file or a Graph endpoint. */
export interface ImportSource {
  /** Matches a checkpoint to the input it was written for. */
  identity: string;
  /** The file path or URL, for messages. */
  label: string;
  surface: Surface;
  start: ImportPosition;
  /** The end value of the progress bar, or undefined when the size is unknown. */
  progressTotal: number | undefined;
  chunks(from: ImportPosition): AsyncGenerator<SourceChunk>;
}

export type FileFormat = 'ndjson' | 'csv';

/** Returns the format of a file from its extension, or undefined when it is not known. */
export function formatOfFile(file: string): FileFormat | undefined {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.csv') {
    return 'csv';
  }

  return ['.ndjson', '.jsonl', '.json'].includes(extension) ? 'ndjson' : undefined;
}

/**
 * Reads an NDJSON or CSV export. The identity includes the size and modification time, so a
 * checkpoint does not resume a file that changed since.
 */
export async function openFileSource(
  file: string,
  format: FileFormat,
  surface: Surface,
  batchSize: number,
): Promise<ImportSource> {
  const absolute = path.resolve(file);
  const info = await stat(absolute);
  const first: FilePosition = { offset: 0, line: 1 };
  let start = first;
  let toValue = (record: FileRecord): SourceRow['value'] => parseJsonLine(record.text ?? '');

  if (format === 'csv') {
    const header = await readFirstRecord(absolute);
    if (header?.fields === undefined) {
      throw new Error(`${file} has no CSV header line${header?.error ? `: ${header.error}` : '.'}`);
    }
    const names = header.fields.map((name) => name.trim());
    const columns = csvColumns(names, surface);
    start = header.next;
    toValue = (record) => {
      const fields = record.fields ?? [];
      if (fields.length !== names.length) {
        throw new Error(`The row has ${fields.length} fields, but the header has ${names.length}.`);
      }
      const value: Record<string, unknown> = {};
      names.forEach((name, index) => {
        const cell = csvCellValue(columns[index], fields[index]);
        if (cell !== undefined) {
          value[name] = cell;
        }
      });
      return value;
    };
  }

  const read = format === 'csv' ? readCsvRecords : readNdjsonRecords;

  return {
    identity: `file ${absolute} ${info.size} bytes modified ${info.mtime.toISOString()}`,
    label: file,
    surface,
    start,
    progressTotal: info.size,
    async *chunks(from) {
      let rows: SourceRow[] = [];
      let last: FileRecord | undefined;
      for await (const record of read(absolute, from as FilePosition)) {
        last = record;
        rows.push(toSourceRow(record, toValue));
        if (rows.length >= batchSize) {
          yield { rows, after: record.next, progress: record.next.offset };
          rows = [];
        }
      }
      if (rows.length > 0 && last !== undefined) {
        yield { rows, after: last.next, progress: last.next.offset };
      }
    },
  };
}

/**
 * Reads a tenant's device scores from a Graph-compatible collection URL, following
 * @odata.nextLink page by page. A page is one chunk, because a next link can only resume at a
 * page boundary.
 */
export function openEndpointSource(url: string, token: string, signal?: AbortSignal): ImportSource {
  const surface: Surface = new URL(url).pathname.startsWith('/v1.0/') ? 'v1.0' : 'beta';

  return {
    identity: `endpoint ${url}`,
    label: url,
    surface,
    start: { nextLink: url, page: 1 },
    progressTotal: undefined,
    async *chunks(from) {
      let { nextLink, page } = from as PagePosition;
      let rowsRead = 0;
      while (nextLink !== undefined) {
        const result = await fetchCollectionPage(nextLink, { token, signal });
        const rows = result.items.map((item, index) => ({
          location: `page ${page}, item ${index + 1}`,
          value: item,
        }));
        rowsRead += rows.length;
        nextLink = result.nextLink;
        page += 1;
        yield { rows, after: { nextLink, page }, progress: rowsRead };
      }
    },
  };
}

/** Names the default checkpoint of an endpoint import after its URL and tenant. */
export function endpointCheckpointName(url: string, tenantId: string): string {
  const digest = createHash('sha256').update(`${url}\n${tenantId}`).digest('hex').slice(0, 12);

  return `import-${digest}.checkpoint.json`;
}

async function readFirstRecord(file: string): Promise<FileRecord | undefined> {
  for await (const record of readCsvRecords(file, { offset: 0, line: 1 })) {
    return record;
  }

  return undefined;
}

function toSourceRow(record: FileRecord, toValue: (record: FileRecord) => unknown): SourceRow {
  const location = `line ${record.line}`;
  if (record.error !== undefined) {
    return { location, error: record.error };
  }
  try {
    return { location, value: toValue(record) };
  } catch (error) {
    return { location, error: (error as Error).message };
  }
}

function parseJsonLine(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`The line is not valid JSON: ${(error as Error).message}`);
  }
}
