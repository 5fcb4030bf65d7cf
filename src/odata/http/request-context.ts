import { randomUUID } from 'node:crypto';

import type { FastifyReply, FastifyRequest } from 'fastify';

import type { Surface } from '../query/entity-model.js';

export type MetadataLevel = 'none' | 'minimal' | 'full';

/** Per-request values that every layer reads, set once by `attachRequestContext`. */
export interface GraphRequestContext {
  requestId: string;
  clientRequestId: string;
  surface: Surface;
  /** The surface's path prefix as the client wrote it: '/beta', '/v1.0' or '' for the bare path. */
  prefix: string;
  /** Absolute URL of the surface: scheme, host and prefix, with no trailing slash. */
  baseUrl: string;
  metadata: MetadataLevel;
  /** The undecoded query string without the leading '?'. */
  rawQuery: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    graph?: GraphRequestContext;
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SAFE_CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const SAFE_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** Scheme and authority at the start of an absolute-form request target (RFC 9112, 3.2.2). */
const ABSOLUTE_FORM_ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * Returns a request target in origin form. Fastify routes an absolute-form target such as
 * `http://host/v1.0/...` by its path, so the scheme and authority are dropped here as well. Links
 * in responses still take their host from the Host header.
 */
export function originFormOf(target: string): string {
  const origin = ABSOLUTE_FORM_ORIGIN.exec(target);
  if (origin === null) {
    return target;
  }
  const rest = target.slice(origin[0].length);

  return rest.startsWith('/') ? rest : `/${rest}`;
}

export function surfaceOf(path: string): { surface: Surface; prefix: string } {
  if (path === '/v1.0' || path.startsWith('/v1.0/')) {
    return { surface: 'v1.0', prefix: '/v1.0' };
  }
  if (path === '/beta' || path.startsWith('/beta/')) {
    return { surface: 'beta', prefix: '/beta' };
  }
  return { surface: 'beta', prefix: '' };
}

/** Reads odata.metadata from the Accept header; an absent or unknown value means minimal. */
export function metadataLevelOf(accept: string | undefined): MetadataLevel {
  const match = /odata\.metadata\s*=\s*"?(none|minimal|full)"?/i.exec(accept ?? '');
  return match ? (match[1].toLowerCase() as MetadataLevel) : 'minimal';
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function hostOf(request: FastifyRequest, trustProxy: boolean): string {
  const forwarded = trustProxy
    ? firstHeader(request.headers['x-forwarded-host'])?.split(',')[0]?.trim()
    : undefined;
  if (forwarded !== undefined && SAFE_HOST.test(forwarded)) {
    return forwarded;
  }
  const host = firstHeader(request.headers.host);
  return host !== undefined && SAFE_HOST.test(host) ? host : localHostOf(request);
}

function schemeOf(request: FastifyRequest, trustProxy: boolean, tls: boolean): string {
  if (trustProxy) {
    const forwarded = firstHeader(request.headers['x-forwarded-proto'])?.split(',')[0]?.trim();
    if (forwarded === 'http' || forwarded === 'https') {
      return forwarded;
    }
  }
  return tls ? 'https' : 'http';
}

export interface RequestContextOptions {
  trustProxy: boolean;
  tls: boolean;
}

/** Returns the address the request arrived on, for links when the Host header is missing or unsafe. */
function localHostOf(request: FastifyRequest): string {
  const address = request.socket.localAddress ?? '127.0.0.1';
  const host = address.includes(':') ? `[${address}]` : address;
  return `${host}:${request.socket.localPort ?? 80}`;
}

/**
 * Builds the request context and sets the correlation headers that every response carries,
 * errors included, so they are present even when routing or body parsing fails.
 */
export function attachRequestContext(
  request: FastifyRequest,
  reply: FastifyReply,
  options: RequestContextOptions,
): GraphRequestContext {
  const requestId = GUID.test(request.id) ? request.id : randomUUID();
  const offered = firstHeader(request.headers['client-request-id']);
  const clientRequestId =
    offered !== undefined && SAFE_CLIENT_REQUEST_ID.test(offered) ? offered : requestId;

  const url = originFormOf(request.raw.url ?? '/');
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const { surface, prefix } = surfaceOf(path);
  const scheme = schemeOf(request, options.trustProxy, options.tls);
  const host = hostOf(request, options.trustProxy);

  const context: GraphRequestContext = {
    requestId,
    clientRequestId,
    surface,
    prefix,
    baseUrl: `${scheme}://${host}${prefix}`,
    metadata: metadataLevelOf(firstHeader(request.headers.accept)),
    rawQuery: queryAt === -1 ? '' : url.slice(queryAt + 1),
  };
  request.graph = context;

  reply.header('request-id', requestId);
  reply.header('client-request-id', clientRequestId);
  reply.header('OData-Version', '4.0');
  return context;
}

/** Returns the context of a request, building a minimal one if a hook did not run. */
export function requestContextOf(request: FastifyRequest): GraphRequestContext {
  if (request.graph) {
    return request.graph;
  }
  const requestId = randomUUID();
  return {
    requestId,
    clientRequestId: requestId,
    surface: 'beta',
    prefix: '',
    baseUrl: 'http://localhost',
    metadata: 'minimal',
    rawQuery: '',
  };
}
