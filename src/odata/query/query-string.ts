import { badRequest } from '../http/graph-error.js';
import { invalidOption } from './option-error.js';

/** OData system query options that the service recognises, named without the `$`. */
export const SYSTEM_OPTIONS = [
  'filter',
  'orderby',
  'select',
  'top',
  'skip',
  'count',
  'search',
  'skiptoken',
  'expand',
  'apply',
  'format',
] as const;

export type SystemOptionName = (typeof SYSTEM_OPTIONS)[number];

/** One system query option as the request spelled and encoded it. */
export interface QueryOption {
  name: SystemOptionName;
  /** The name as written in the URL after decoding, such as `$Filter` or `top`. */
  spelling: string;
  /** The decoded value, or '' when the URL had no `=`. */
  value: string;
  /** Offsets in `value` of spaces that were a `+` in the URL, for error hints. */
  plusOffsets: readonly number[];
}

export type QueryOptions = Partial<Record<SystemOptionName, QueryOption>>;

const UNSUPPORTED_OPTIONS: ReadonlySet<SystemOptionName> = new Set(['expand']);

/** Options accepted on every request because they change no result: `$format=json`. */
const ALWAYS_ACCEPTED: ReadonlySet<SystemOptionName> = new Set(['format']);

/**
 * Splits a raw query string (the part after `?`, still encoded) into system query options.
 *
 * Pairs are split at `&` and then at the first `=`. In names and values `+` becomes a space and
 * percent escapes are decoded once, as UTF-8. Option names match case-insensitively, with or
 * without `$`. Names without `$` that are not system options are ignored.
 *
 * `accepted` lists the options the request takes, as lower-case names without `$`. `$format=json`
 * is accepted on every request. Throws a 400 GraphException for a malformed escape or invalid
 * UTF-8, an unknown `$` option, an option given twice under any spelling, `$expand`, a `$format`
 * other than json, and an option missing from `accepted`. `$apply` is such an option on
 * collections that do not aggregate.
 */
export function splitQueryString(rawQuery: string, accepted: ReadonlySet<string>): QueryOptions {
  const options: QueryOptions = {};
  const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
  if (query === '') {
    return options;
  }

  let pairStart = 0;
  for (const pair of query.split('&')) {
    const option = readPair(pair, pairStart);
    pairStart += pair.length + 1;
    if (option === undefined) {
      continue;
    }

    const previous = options[option.name];
    if (previous !== undefined) {
      throw badRequest(
        `The query option $${option.name} is specified more than once ` +
          `(as '${previous.spelling}' and '${option.spelling}').`,
      );
    }

    checkOptionAllowed(option, accepted);
    options[option.name] = option;
  }

  return options;
}

/**
 * Returns the decoded value of a custom query option, one whose name has no `$`, or undefined
 * when the query string does not contain it. The name matches case-insensitively, and `+` and
 * percent escapes are decoded as in splitQueryString. Throws a 400 GraphException when the
 * option is given more than once.
 */
export function findCustomOption(rawQuery: string, name: string): string | undefined {
  const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
  const lowerName = name.toLowerCase();
  let found: { spelling: string; value: string } | undefined;
  let pairStart = 0;
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    const rawName = equals === -1 ? pair : pair.slice(0, equals);
    const spelling = decodeComponent(rawName, pairStart).text;
    if (spelling.toLowerCase() === lowerName) {
      if (found !== undefined) {
        throw badRequest(
          `The query option ${name} is specified more than once ` +
            `(as '${found.spelling}' and '${spelling}').`,
        );
      }
      const rawValue = equals === -1 ? '' : pair.slice(equals + 1);
      found = { spelling, value: decodeComponent(rawValue, pairStart + equals + 1).text };
    }
    pairStart += pair.length + 1;
  }

  return found?.value;
}

/**
 * Serialises options into the canonical query string of a next link.
 * It writes `$name=value` pairs in the order of SYSTEM_OPTIONS. Values are percent-encoded, with
 * a space as %20 and `+` as %2B. Braces are encoded too, so a link never looks like a URI
 * template.
 */
export function serializeQueryOptions(values: Partial<Record<SystemOptionName, string>>): string {
  const pairs: string[] = [];
  for (const name of SYSTEM_OPTIONS) {
    const value = values[name];
    if (value !== undefined) {
      pairs.push(`$${name}=${encodeURIComponent(value)}`);
    }
  }

  return pairs.join('&');
}

/** Decodes one `name=value` pair, or returns undefined for a pair to ignore. */
function readPair(pair: string, pairStart: number): QueryOption | undefined {
  if (pair === '') {
    return undefined;
  }

  const equals = pair.indexOf('=');
  const rawName = equals === -1 ? pair : pair.slice(0, equals);
  const rawValue = equals === -1 ? '' : pair.slice(equals + 1);
  const spelling = decodeComponent(rawName, pairStart).text;
  const name = resolveOptionName(spelling);
  if (name === undefined) {
    return undefined;
  }

  const { text, plusOffsets } = decodeComponent(rawValue, pairStart + equals + 1);

  return { name, spelling, value: text, plusOffsets };
}

function resolveOptionName(spelling: string): SystemOptionName | undefined {
  const hasDollar = spelling.startsWith('$');
  const bare = (hasDollar ? spelling.slice(1) : spelling).toLowerCase();
  const name = SYSTEM_OPTIONS.find((option) => option === bare);
  if (name === undefined && hasDollar) {
    throw badRequest(
      `The query option '${spelling}' is not supported. ` +
        `Supported options are ${SYSTEM_OPTIONS.filter((option) => !UNSUPPORTED_OPTIONS.has(option))
          .map((option) => `$${option}`)
          .join(', ')}.`,
    );
  }

  return name;
}

function checkOptionAllowed(option: QueryOption, accepted: ReadonlySet<string>): void {
  if (UNSUPPORTED_OPTIONS.has(option.name)) {
    throw badRequest(`The query option $${option.name} is not supported.`);
  }

  if (option.name === 'format') {
    if (option.value.toLowerCase() !== 'json') {
      throw invalidOption('format', undefined, `'${option.value}' is not supported. Use json.`);
    }

    return;
  }

  if (!accepted.has(option.name) && !ALWAYS_ACCEPTED.has(option.name)) {
    throw badRequest(`The query option $${option.name} is not supported on this request.`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes `+` to a space and percent escapes to UTF-8 text, once.
 * `offset` is where the component starts in the query string, for error positions.
 */
function decodeComponent(raw: string, offset: number): { text: string; plusOffsets: number[] } {
  if (!raw.includes('%') && !raw.includes('+')) {
    return { text: raw, plusOffsets: [] };
  }

  let text = '';
  const plusOffsets: number[] = [];
  let index = 0;
  while (index < raw.length) {
    const char = raw[index];
    if (char === '+') {
      plusOffsets.push(text.length);
      text += ' ';
      index += 1;
    } else if (char === '%') {
      const end = readEscapeRun(raw, index, offset);
      const bytes = new Uint8Array((end - index) / 3);
      for (let byte = 0; byte < bytes.length; byte += 1) {
        bytes[byte] = Number.parseInt(raw.slice(index + byte * 3 + 1, index + byte * 3 + 3), 16);
      }
      try {
        text += utf8.decode(bytes);
      } catch {
        throw badRequest(
          `Invalid query string at position ${offset + index}: ` +
            'the percent-encoded bytes are not valid UTF-8.',
        );
      }
      index = end;
    } else {
      text += char;
      index += 1;
    }
  }

  return { text, plusOffsets };
}

/** Returns the end of a run of `%XX` escapes starting at `start`, rejecting a malformed one. */
function readEscapeRun(raw: string, start: number, offset: number): number {
  let index = start;
  while (raw[index] === '%') {
    if (!/^[0-9A-Fa-f]{2}$/.test(raw.slice(index + 1, index + 3))) {
      throw badRequest(
        `Invalid query string at position ${offset + index}: ` +
          `'${raw.slice(index, index + 3)}' is not a valid percent-encoding; send '%' as %25.`,
      );
    }
    index += 3;
  }

  return index;
}
