import { GraphErrorCode } from '../http/graph-error.js';
import type { GraphRequestContext } from '../http/request-context.js';
import type { LoopbackResponse } from './loopback-dispatcher.js';
import { quote } from './quote.js';

/**
 * JSON text that goes into the batch response as it is. An inner response of the service is
 * JSON already, so copying its text saves parsing it and writing it out again, which for 20 pages
 * of 1,000 rows also took several times the size of the text in objects.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** One entry of the `responses` array of a batch response. */
export interface BatchResponseEntry {
  id: string;
  status: number;
  headers: Record<string, string>;
  /** JSON (raw or as values), text, or base64 for other media types; absent without a body. */
  body?: unknown;
}

export interface BatchResponseBody {
  responses: BatchResponseEntry[];
}

/**
 * Inner response headers copied into a batch response, by lower-case name, with the spelling
 * Microsoft Graph uses. The Graph JavaScript client's BatchResponseContent looks up
 * 'Content-Type' with exactly this case before it decides to serialize a JSON body.
 */
const COPIED_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'Content-Type',
  location: 'Location',
  etag: 'ETag',
  'preference-applied': 'Preference-Applied',
  'retry-after': 'Retry-After',
  'www-authenticate': 'WWW-Authenticate',
  allow: 'Allow',
  'odata-version': 'OData-Version',
  'request-id': 'request-id',
  'client-request-id': 'client-request-id',
};

const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const TEXT_MEDIA_TYPE = /^(?:text\/|application\/(?:[\w.+-]+\+)?xml\s*(?:;|$))/i;

function copyHeaders(response: LoopbackResponse): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, spelling] of Object.entries(COPIED_HEADERS)) {
    const value = response.headers[name];
    if (value !== undefined) {
      headers[spelling] = Array.isArray(value) ? value.join(', ') : value;
    }
  }

  return headers;
}

/** Decodes a body as raw JSON for JSON media types, as text for text and XML, else as base64. */
function decodeBody(body: Buffer, contentType: string): unknown {
  if (JSON_MEDIA_TYPE.test(contentType)) {
    return new RawJson(body.toString('utf8'));
  }
  if (TEXT_MEDIA_TYPE.test(contentType)) {
    return body.toString('utf8');
  }

  return body.toString('base64');
}

/**
 * Serializes a batch response, copying raw JSON bodies as they are. The members of each entry
 * come in the order id, status, headers, body, as JSON.stringify would write them.
 */
export function serializeBatchResponse(response: BatchResponseBody): string {
  const entries = response.responses.map(({ body, ...entry }) => {
    if (body === undefined) {
      return JSON.stringify(entry);
    }
    const bodyText = body instanceof RawJson ? body.text : JSON.stringify(body);

    return `${JSON.stringify(entry).slice(0, -1)},"body":${bodyText}}`;
  });

  return `{"responses":[${entries.join(',')}]}`;
}

/** Builds the batch entry of an inner response that the service sent. */
export function toBatchResponseEntry(id: string, response: LoopbackResponse): BatchResponseEntry {
  const entry: BatchResponseEntry = { id, status: response.status, headers: copyHeaders(response) };
  if (response.body.length > 0) {
    entry.body = decodeBody(response.body, entry.headers['Content-Type'] ?? '');
  }

  return entry;
}

function errorEntry(
  id: string,
  status: number,
  code: string,
  message: string,
  context: GraphRequestContext,
  extraHeaders: Record<string, string> = {},
): BatchResponseEntry {
  return {
    id,
    status,
    headers: { 'Content-Type': 'application/json', ...extraHeaders },
    body: {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().slice(0, 19),
          'request-id': context.requestId,
          'client-request-id': context.clientRequestId,
        },
      },
    },
  };
}

/**
 * Builds the 424 entry of a request that was not sent because a request it depends on failed.
 * Its innerError carries the ids of the batch request, as no inner request was made.
 */
export function failedDependencyEntry(
  id: string,
  dependencyId: string,
  dependencyStatus: number,
  context: GraphRequestContext,
): BatchResponseEntry {
  return errorEntry(
    id,
    424,
    'FailedDependency',
    `The request was not sent because the request ${quote(dependencyId)} it depends on failed ` +
      `with status ${dependencyStatus}.`,
    context,
  );
}

/** Builds the 503 entry of a request that could not be sent to the service's own listener. */
export function dispatchFailedEntry(id: string, context: GraphRequestContext): BatchResponseEntry {
  return errorEntry(
    id,
    503,
    GraphErrorCode.ServiceUnavailable,
    'The request could not be sent to the service, which may be shutting down. ' +
      'Retry it after the time in Retry-After.',
    context,
    { 'Retry-After': '5' },
  );
}
