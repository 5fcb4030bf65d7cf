/**
 * Query options and next links as the service writes them: the option values by name, the
 * options of a next link in one fixed order, and skiptokens in the service's format. Both servers
 * therefore send the same next links when they share SKIPTOKEN_SECRET.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

import { HttpError, skiptokenSecret } from './common.js';

/**
 * The system query options in the order in which the service writes them into a next link. The
 * list repeats the service's own, because the baseline loads none of the service's modules.
 */
const SYSTEM_OPTIONS = [
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
];
/** Options that a next link repeats and that a skiptoken's MAC covers: all but the paging ones. */
const REPEATED_OPTIONS = SYSTEM_OPTIONS.filter((name) => name !== 'skip' && name !== 'skiptoken');
const TOKEN_VERSION = 1;
const MAC_BYTES = 32;
const MAC_LABEL = 'odata-skiptoken-v1';

/** Decoded query option values, keyed by the option name in lower case without `$`. */
export type QueryOptions = ReadonlyMap<string, string>;

/** Reads the query options of a raw query string. A repeated option is a 400. */
export function readQueryOptions(rawQuery: string): QueryOptions {
  const options = new Map<string, string>();
  for (const [rawName, value] of new URLSearchParams(rawQuery)) {
    const name = rawName.toLowerCase().replace(/^\$/, '');
    if (options.has(name)) {
      throw new HttpError(400, 'BadRequest', `The query option $${name} is repeated.`);
    }
    options.set(name, value);
  }
  return options;
}

/** Returns the raw query string of the request, the part after `?`. */
export function rawQueryOf(url: string): string {
  const start = url.indexOf('?');
  return start === -1 ? '' : url.slice(start + 1);
}

/**
 * Returns the query string of a next link: the request's options except the paging ones, plus
 * the given `$skip` or `$skiptoken`, each value percent-encoded.
 */
export function nextLinkQuery(
  options: QueryOptions,
  paging: { skip?: string; skiptoken?: string },
): string {
  const pairs: string[] = [];
  for (const name of SYSTEM_OPTIONS) {
    let value: string | undefined;
    if (name === 'skip' || name === 'skiptoken') {
      value = paging[name];
    } else {
      value = options.get(name);
    }
    if (value !== undefined) {
      pairs.push(`$${name}=${encodeURIComponent(value)}`);
    }
  }
  return pairs.join('&');
}

/**
 * Returns what a skiptoken is valid for: the tenant, the surface, the entity set and a digest of
 * the repeated options.
 */
export function skiptokenScope(tenantId: string, setPath: string, options: QueryOptions): string {
  const entries = REPEATED_OPTIONS.map((name) => [name, options.get(name) ?? null]);
  const digest = createHash('sha256').update(JSON.stringify(entries)).digest('base64url');
  return `${tenantId}|beta|${setPath}\n${digest}`;
}

function skiptokenMac(scope: string, payload: Buffer): Buffer {
  const scopeBytes = Buffer.from(scope, 'utf8');
  const scopeLength = Buffer.alloc(4);
  scopeLength.writeUInt32BE(scopeBytes.length);
  return createHmac('sha256', skiptokenSecret)
    .update(MAC_LABEL)
    .update(scopeLength)
    .update(scopeBytes)
    .update(payload)
    .digest();
}

/** Encodes the sort-key values of a page's last row: a version byte, the MAC, then the JSON. */
export function encodeSkiptoken(values: unknown[], scope: string): string {
  const payload = Buffer.from(JSON.stringify(values), 'utf8');
  return Buffer.concat([Buffer.of(TOKEN_VERSION), skiptokenMac(scope, payload), payload]).toString(
    'base64url',
  );
}

/** Decodes a skiptoken of `scope` with `expected` values. Any other token is a 400. */
export function decodeSkiptoken(token: string, scope: string, expected: number): unknown[] {
  const bytes = Buffer.from(token, 'base64url');
  const mac = bytes.subarray(1, 1 + MAC_BYTES);
  const payload = bytes.subarray(1 + MAC_BYTES);
  if (
    bytes[0] !== TOKEN_VERSION ||
    mac.length !== MAC_BYTES ||
    !timingSafeEqual(mac, skiptokenMac(scope, payload))
  ) {
    throw new HttpError(400, 'BadRequest', 'Invalid $skiptoken.');
  }
  const values = JSON.parse(payload.toString('utf8')) as unknown[];
  if (!Array.isArray(values) || values.length !== expected) {
    throw new HttpError(400, 'BadRequest', 'Invalid $skiptoken.');
  }
  return values;
}
