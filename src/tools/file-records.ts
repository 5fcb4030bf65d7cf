import { createReadStream } from 'node:fs';

/** Position at which reading continues: a byte offset at a record boundary and its line number. */
export interface FilePosition {
  offset: number;
  /** 1-based number of the line that starts at `offset`. */
  line: number;
}

/** One record of an NDJSON or CSV file. */
export interface FileRecord {
  /** Line on which the record starts. */
  line: number;
  /** NDJSON: the line's text. CSV: the fields. */
  text?: string;
  fields?: string[];
  /** Reason the record could not be read, such as a line over the size limit. */
  error?: string;
  /** Position just after the record, from which a resumed import continues. */
  next: FilePosition;
}

/**
 * Largest record the import reads, equal to the API's default body limit, so one bad line cannot
 * exhaust memory.
 */
export const MAX_RECORD_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BYTE_ORDER_MARK = Buffer.from([0xef, 0xbb, 0xbf]);

function stripByteOrderMark(bytes: Buffer, offset: number): Buffer {
  return offset === 0 && bytes.subarray(0, 3).equals(BYTE_ORDER_MARK) ? bytes.subarray(3) : bytes;
}

/**
 * Reads an NDJSON file from `start`, one record per non-blank line. Lines may end with CRLF, and
 * a byte order mark at the start of the file is skipped.
 */
export async function* readNdjsonRecords(
  path: string,
  start: FilePosition,
): AsyncGenerator<FileRecord> {
  let offset = start.offset;
  let line = start.line;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tooLong = false;

  const finish = (end: number): FileRecord | undefined => {
    const startOffset = offset;
    const bytes = stripByteOrderMark(Buffer.concat(pending), startOffset);
    const record: FileRecord = { line, next: { offset: end, line: line + 1 } };
    pending = [];
    pendingBytes = 0;
    offset = end;
    line += 1;
    if (tooLong) {
      tooLong = false;
      return { ...record, error: `The line is longer than ${MAX_RECORD_BYTES} bytes.` };
    }
    const text = bytes.toString('utf8').replace(/\r$/, '');

    return text.trim() === '' ? undefined : { ...record, text };
  };

  let position = start.offset;
  for await (const chunk of createReadStream(path, { start: start.offset })) {
    const bytes = chunk as Buffer;
    let from = 0;
    for (
      let newline = bytes.indexOf(NEWLINE);
      newline !== -1;
      newline = bytes.indexOf(NEWLINE, from)
    ) {
      append(bytes.subarray(from, newline));
      const record = finish(position + newline + 1);
      if (record !== undefined) {
        yield record;
      }
      from = newline + 1;
    }
    append(bytes.subarray(from));
    position += bytes.length;
  }
  if (pendingBytes > 0 || tooLong) {
    const record = finish(position);
    if (record !== undefined) {
      yield record;
    }
  }

  function append(bytes: Buffer): void {
    if (tooLong || bytes.length === 0) {
      return;
    }
    if (pendingBytes + bytes.length > MAX_RECORD_BYTES) {
      tooLong = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    pending.push(bytes);
    pendingBytes += bytes.length;
  }
}

/**
 * Reads CSV records (RFC 4180: comma-separated, fields in double quotes may contain commas,
 * line breaks and doubled quotes) from `start`. Blank lines are skipped, CRLF and LF both end a
 * record, and a byte order mark at the start of the file is skipped.
 */
export async function* readCsvRecords(
  path: string,
  start: FilePosition,
): AsyncGenerator<FileRecord> {
  const parser = new CsvParser(start);
  let position = start.offset;
  for await (const chunk of createReadStream(path, { start: start.offset })) {
    const bytes = stripByteOrderMark(chunk as Buffer, position);
    const skipped = (chunk as Buffer).length - bytes.length;
    yield* parser.push(bytes, position + skipped);
    position += (chunk as Buffer).length;
  }
  yield* parser.end(position);
}

/** A byte-level CSV state machine. The delimiters are ASCII, so UTF-8 text passes through. */
class CsvParser {
  private fields: string[] = [];
  private field: number[] = [];
  private recordBytes = 0;
  private state: 'fieldStart' | 'unquoted' | 'quoted' | 'quoteInQuoted' = 'fieldStart';
  private error: string | undefined;
  private recordLine: number;
  private line: number;
  private hasContent = false;

  constructor(start: FilePosition) {
    this.recordLine = start.line;
    this.line = start.line;
  }

  *push(bytes: Buffer, chunkOffset: number): Generator<FileRecord> {
    for (let index = 0; index < bytes.length; index++) {
      const byte = bytes[index];
      if (byte === NEWLINE) {
        this.line += 1;
      }
      if (this.state === 'quoted') {
        if (byte === QUOTE) {
          this.state = 'quoteInQuoted';
        } else {
          this.add(byte);
        }
        continue;
      }
      if (this.state === 'quoteInQuoted' && byte === QUOTE) {
        this.add(QUOTE);
        this.state = 'quoted';
        continue;
      }
      if (byte === COMMA) {
        this.endField();
      } else if (byte === NEWLINE) {
        const record = this.endRecord(chunkOffset + index + 1);
        if (record !== undefined) {
          yield record;
        }
      } else if (byte === CARRIAGE_RETURN) {
        // Part of a CRLF line end; a lone CR inside an unquoted field is dropped too.
      } else if (this.state === 'fieldStart' && byte === QUOTE) {
        this.state = 'quoted';
        this.hasContent = true;
      } else if (this.state === 'quoteInQuoted') {
        this.error ??= 'A quoted field is followed by text before the next comma.';
        this.add(byte);
      } else {
        this.state = 'unquoted';
        this.add(byte);
      }
    }
  }

  *end(offset: number): Generator<FileRecord> {
    if (this.state === 'quoted') {
      this.error ??= 'The file ends inside a quoted field.';
    }
    const record = this.endRecord(offset);
    if (record !== undefined) {
      yield record;
    }
  }

  private add(byte: number): void {
    this.hasContent = true;
    this.recordBytes += 1;
    if (this.recordBytes > MAX_RECORD_BYTES) {
      this.error ??= `The record is longer than ${MAX_RECORD_BYTES} bytes.`;
      return;
    }
    this.field.push(byte);
  }

  private endField(): void {
    this.hasContent = true;
    this.fields.push(Buffer.from(this.field).toString('utf8'));
    this.field = [];
    this.state = 'fieldStart';
  }

  private endRecord(offset: number): FileRecord | undefined {
    const blank = !this.hasContent && this.fields.length === 0;
    let record: FileRecord | undefined;
    if (!blank) {
      this.fields.push(Buffer.from(this.field).toString('utf8'));
      record = {
        line: this.recordLine,
        next: { offset, line: this.line },
        ...(this.error === undefined ? { fields: this.fields } : { error: this.error }),
      };
    }
    this.fields = [];
    this.field = [];
    this.recordBytes = 0;
    this.state = 'fieldStart';
    this.error = undefined;
    this.hasContent = false;
    this.recordLine = this.line;

    return record;
  }
}
