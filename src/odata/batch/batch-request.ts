import { badRequest } from '../http/graph-error.js';
import type { Surface } from '../query/entity-model.js';
import { normalizeInnerUrl } from './inner-url.js';
import { quote } from './quote.js';

/** The maximum number of requests in one batch, as in Microsoft Graph. */
export const MAX_BATCH_REQUESTS = 20;

export const BATCH_METHODS = ['GET', 'POST', 'PATCH', 'DELETE'] as const;
export type BatchMethod = (typeof BATCH_METHODS)[number];

/** One validated inner request of a batch. */
export interface BatchItem {
  id: string;
  /** Position in the batch body, which is also the position of its response. */
  index: number;
  method: BatchMethod;
  /** Path and query relative to the surface, with a leading '/' and no version segment. */
  relativeUrl: string;
  /** Header names in lower case, values as sent. */
  headers: Record<string, string>;
  /** The serialized body, or undefined when the request has none. */
  body?: Buffer;
  dependsOn: string[];
}

const ITEM_PROPERTIES = new Set(['id', 'method', 'url', 'headers', 'body', 'dependsOn']);

/** RFC 9110 token characters, which are the only ones a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, obs-text, space and tab: what Node.js accepts in a header value. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Headers an inner request may not set, because the batch sends its own values. Its Authorization
 * makes every inner request act with the token of the batch. Its proxy headers make inner
 * responses link to the same base URL as the batch.
 */
const REJECTED_HEADERS = new Set([
  'authorization',
  'forwarded',
  'proxy-authorization',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
]);

/** Connection and framing headers, which have no meaning for an inner request and are dropped. */
const IGNORED_HEADERS = new Set([
  'connection',
  'content-length',
  'expect',
  'host',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a JSON batch body and returns its requests in body order.
 *
 * Every check runs before any request is sent, so a malformed batch changes nothing.
 *
 * @throws GraphException 400 (BadRequest) naming the request and the problem.
 */
export function parseBatchRequest(body: unknown, surface: Surface): BatchItem[] {
  if (!isObject(body) || !Array.isArray(body.requests)) {
    throw badRequest(
      'The batch body must be a JSON object with a "requests" array, such as ' +
        '{"requests":[{"id":"1","method":"GET","url":"/deviceManagement/..."}]}.',
    );
  }
  const unknown = Object.keys(body).filter((name) => name !== 'requests' && !name.startsWith('@'));
  if (unknown.length > 0) {
    throw badRequest(
      `The batch body has the unknown property ${quote(unknown[0])}. Remove it, because only ` +
        '"requests" is supported.',
    );
  }

  const requests: unknown[] = body.requests;
  if (requests.length === 0) {
    throw badRequest(`The batch contains no requests. Send 1 to ${MAX_BATCH_REQUESTS} requests.`);
  }
  if (requests.length > MAX_BATCH_REQUESTS) {
    throw badRequest(
      `The batch contains ${requests.length} requests, more than the maximum of ` +
        `${MAX_BATCH_REQUESTS}. Split it into several batches.`,
    );
  }

  const items = requests.map((request, index) => parseItem(request, index, surface));
  assertUniqueIds(items);
  assertDependenciesExist(items);

  return items;
}

function parseItem(request: unknown, index: number, surface: Surface): BatchItem {
  if (!isObject(request)) {
    throw badRequest(`The request at index ${index} of the batch is not a JSON object.`);
  }
  const id = request.id;
  if (typeof id !== 'string' || id.length === 0) {
    throw badRequest(
      `The request at index ${index} of the batch has no "id". ` +
        'Give every request a unique, non-empty string id.',
    );
  }
  const unknown = Object.keys(request).filter((name) => !ITEM_PROPERTIES.has(name));
  if (unknown.length > 0) {
    throw badRequest(
      `The request ${quote(id)} has the unknown property ${quote(unknown[0])}. Supported ` +
        `properties: ${[...ITEM_PROPERTIES].join(', ')}.`,
    );
  }

  const method = parseMethod(request.method, id);
  if (typeof request.url !== 'string' || request.url.length === 0) {
    throw badRequest(`The request ${quote(id)} has no "url".`);
  }
  const relativeUrl = normalizeInnerUrl(request.url, surface, id);
  const headers = parseHeaders(request.headers, id);
  const body = serializeBody(request.body, headers, id);
  const dependsOn = parseDependsOn(request.dependsOn, id);

  return { id, index, method, relativeUrl, headers, body, dependsOn };
}

function parseMethod(method: unknown, id: string): BatchMethod {
  if (typeof method !== 'string') {
    throw badRequest(`The request ${quote(id)} has no "method".`);
  }
  const upper = method.toUpperCase();
  const supported = BATCH_METHODS.find((candidate) => candidate === upper);
  if (supported === undefined) {
    throw badRequest(
      `The request ${quote(id)} has the method ${quote(method)}, which a batch does not ` +
        `support. Use ${BATCH_METHODS.join(', ')}.`,
    );
  }

  return supported;
}

function parseHeaders(headers: unknown, id: string): Record<string, string> {
  if (headers === undefined) {
    return {};
  }
  if (!isObject(headers)) {
    throw badRequest(`The "headers" of request ${quote(id)} must be a JSON object of strings.`);
  }

  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') {
      throw badRequest(`The header ${quote(name)} of request ${quote(id)} must be a string.`);
    }
    if (!HEADER_NAME.test(name)) {
      throw badRequest(`The header name ${quote(name)} of request ${quote(id)} is invalid.`);
    }
    if (!HEADER_VALUE.test(value)) {
      throw badRequest(
        `The header ${quote(name)} of request ${quote(id)} has a value with characters that ` +
          'HTTP headers cannot carry, such as line breaks.',
      );
    }
    const lowerName = name.toLowerCase();
    if (REJECTED_HEADERS.has(lowerName)) {
      throw badRequest(
        `The request ${quote(id)} sets the header ${quote(name)}, which an inner request of a ` +
          'batch cannot set. The batch sends its own value with every request.',
      );
    }
    if (!IGNORED_HEADERS.has(lowerName)) {
      result[lowerName] = value;
    }
  }

  return result;
}

/**
 * Serializes a body by its Content-Type: a JSON media type gets the JSON text of the value, and
 * another type gets a string body as UTF-8 text. Microsoft Graph requires a Content-Type whenever
 * a body is present, and so does this service.
 */
function serializeBody(
  body: unknown,
  headers: Record<string, string>,
  id: string,
): Buffer | undefined {
  if (body === undefined) {
    return undefined;
  }
  const contentType = headers['content-type'];
  if (contentType === undefined) {
    throw badRequest(
      `The request ${quote(id)} has a body but no Content-Type header. ` +
        'Add "headers": {"Content-Type": "application/json"}.',
    );
  }
  if (JSON_MEDIA_TYPE.test(contentType) || typeof body !== 'string') {
    return Buffer.from(JSON.stringify(body), 'utf8');
  }

  return Buffer.from(body, 'utf8');
}

function parseDependsOn(dependsOn: unknown, id: string): string[] {
  if (dependsOn === undefined) {
    return [];
  }
  if (!Array.isArray(dependsOn) || dependsOn.some((value) => typeof value !== 'string')) {
    throw badRequest(`The "dependsOn" of request ${quote(id)} must be an array of request ids.`);
  }
  const ids = [...new Set(dependsOn as string[])];
  if (ids.includes(id)) {
    throw badRequest(`The request ${quote(id)} depends on itself.`);
  }

  return ids;
}

function assertUniqueIds(items: readonly BatchItem[]): void {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.id)) {
      throw badRequest(
        `The id ${quote(item.id)} is used by more than one request. ` +
          'Request ids must be unique within a batch.',
      );
    }
    seen.add(item.id);
  }
}

function assertDependenciesExist(items: readonly BatchItem[]): void {
  const ids = new Set(items.map((item) => item.id));
  for (const item of items) {
    const missing = item.dependsOn.find((dependency) => !ids.has(dependency));
    if (missing !== undefined) {
      throw badRequest(
        `The request ${quote(item.id)} depends on ${quote(missing)}, which is not in the batch.`,
      );
    }
  }
}
