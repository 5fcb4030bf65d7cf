import { readFile, rename, rm, writeFile } from 'node:fs/promises';

import type { FilePosition } from './file-records.js';

/** Running totals of an import, kept in the checkpoint so a resumed run reports the whole job. */
export interface ImportTotals {
  /** Rows read, including rejected ones. */
  read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  /** Rows whose id appeared earlier in the same run; the last one is kept. */
  duplicates: number;
}

/** Position at which an endpoint import continues: the next page, or none when all are read. */
export interface PagePosition {
  nextLink: string | undefined;
  /** 1-based number of the next page. */
  page: number;
}

export type ImportPosition = FilePosition | PagePosition;

/** The state a resumed import starts from. Written after every committed batch. */
export interface Checkpoint {
  version: 1;
  /** Identifies the input: a file with its size and time, or the first URL of an endpoint. */
  source: string;
  tenantId: string;
  position: ImportPosition;
  totals: ImportTotals;
  savedAt: string;
}

export function emptyTotals(): ImportTotals {
  return { read: 0, inserted: 0, updated: 0, unchanged: 0, rejected: 0, duplicates: 0 };
}

/** Reads a checkpoint, or returns undefined when the file does not exist. */
export async function readCheckpoint(path: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
  const checkpoint = JSON.parse(text) as Partial<Checkpoint>;
  if (checkpoint.version !== 1 || typeof checkpoint.source !== 'string') {
    throw new Error(
      `The checkpoint ${path} is not one this import wrote. Delete it to start over.`,
    );
  }

  return checkpoint as Checkpoint;
}

/** Replaces the checkpoint in one step, so an interruption never leaves half a file. */
export async function writeCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  const temporary = `${path}.tmp`;
  await writeFile(temporary, `${JSON.stringify(checkpoint, null, 2)}\n`);
  await rename(temporary, path);
}

export async function removeCheckpoint(path: string): Promise<void> {
  await rm(path, { force: true });
}
