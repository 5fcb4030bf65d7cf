import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, type Observable } from 'rxjs';

import {
  CollectionResult,
  CountResult,
  EntityResult,
  NoContentResult,
  NotModifiedResult,
  type WireEntity,
} from './odata-result.js';
import {
  type GraphRequestContext,
  type MetadataLevel,
  requestContextOf,
} from './request-context.js';

/**
 * Key of the function through which an entity writes its own JSON text. Mappers of large pages
 * return such entities, so a page is written straight from the database rows, without an
 * object per entity for JSON.stringify to walk.
 */
export const WRITE_ENTITY_JSON = Symbol('write entity JSON');

/**
 * Writes an entity as JSON text at a metadata level: `minimal` keeps the entity's annotations,
 * `none` drops every `@odata.*` member, and `full` adds `@odata.id` and `@odata.editLink` (the
 * given link) after `@odata.type`, exactly as `annotate` does for entity objects.
 */
export type EntityJsonWriter = (metadata: MetadataLevel, editLink: string | undefined) => string;

/** An entity that writes its own JSON text; `id` stays readable for edit links. */
export interface JsonWritableEntity {
  readonly id?: unknown;
  readonly [WRITE_ENTITY_JSON]: EntityJsonWriter;
}

const JSON_CONTENT_TYPES: Readonly<Record<MetadataLevel, string>> = {
  none: jsonContentType('none'),
  minimal: jsonContentType('minimal'),
  full: jsonContentType('full'),
};

function jsonContentType(metadata: MetadataLevel): string {
  return (
    `application/json;odata.metadata=${metadata};odata.streaming=true;` +
    'IEEE754Compatible=false;charset=utf-8'
  );
}

function contextUrl(
  context: GraphRequestContext,
  entitySetPath: string,
  select: readonly string[] | undefined,
  suffix: string,
): string {
  const selection = select !== undefined && select.length > 0 ? `(${select.join(',')})` : '';
  return `${context.baseUrl}/$metadata#${entitySetPath}${selection}${suffix}`;
}

/** Applies the requested odata.metadata level to one entity's annotations. */
function annotate(entity: WireEntity, metadata: MetadataLevel, editLink?: string): WireEntity {
  if (metadata === 'minimal') {
    return entity;
  }
  const result: WireEntity = {};
  for (const [name, value] of Object.entries(entity)) {
    if (metadata === 'none' && name.startsWith('@odata.')) {
      continue;
    }
    result[name] = value;
    if (metadata === 'full' && name === '@odata.type' && editLink !== undefined) {
      result['@odata.id'] = editLink;
      result['@odata.editLink'] = editLink;
    }
  }
  return result;
}

/** Returns the JSON text of one entity at the metadata level. */
function entityJson(entity: WireEntity, metadata: MetadataLevel, editLink?: string): string {
  const write = (entity as Partial<JsonWritableEntity>)[WRITE_ENTITY_JSON];
  return write !== undefined
    ? write(metadata, editLink)
    : JSON.stringify(annotate(entity, metadata, editLink));
}

/** Puts `members`, JSON text of object members such as `"a":1`, in front of an object's text. */
function prependMembers(members: string, objectJson: string): string {
  return objectJson === '{}' ? `{${members}}` : `{${members},${objectJson.slice(1)}`;
}

/**
 * Wraps handler results in the OData envelope: context URL, count, next link, metadata level,
 * and the OData content type. Controllers return the result classes and never shape JSON.
 * The body is written as JSON text piece by piece, so entities that write their own JSON are
 * copied in as they are.
 */
@Injectable()
export class ODataResponseInterceptor implements NestInterceptor {
  intercept(executionContext: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = executionContext.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();

    return next.handle().pipe(map((result: unknown) => this.render(request, reply, result)));
  }

  private render(request: FastifyRequest, reply: FastifyReply, result: unknown): unknown {
    if (result instanceof CollectionResult) {
      return renderCollection(requestContextOf(request), reply, result);
    }
    if (result instanceof EntityResult) {
      return renderEntity(requestContextOf(request), reply, result);
    }

    if (result instanceof NoContentResult) {
      reply.headers(result.headers);
      reply.status(204);
      return undefined;
    }

    if (result instanceof NotModifiedResult) {
      reply.headers(result.headers);
      reply.status(304);
      return undefined;
    }

    if (result instanceof CountResult) {
      reply.type('text/plain;charset=utf-8');
      return String(result.count);
    }

    return result;
  }
}

function renderEntity(
  context: GraphRequestContext,
  reply: FastifyReply,
  result: EntityResult,
): string {
  const { select, status, location, editLink, headers } = result.options;
  if (headers !== undefined) {
    reply.headers(headers);
  }
  if (status !== undefined) {
    reply.status(status);
  }
  if (location !== undefined) {
    reply.header('Location', location);
  }
  reply.type(JSON_CONTENT_TYPES[context.metadata]);

  const json = entityJson(result.entity, context.metadata, editLink);
  if (context.metadata === 'none') {
    return json;
  }
  const url = contextUrl(context, result.entitySetPath, select, '/$entity');
  return prependMembers(`"@odata.context":${JSON.stringify(url)}`, json);
}

function renderCollection(
  context: GraphRequestContext,
  reply: FastifyReply,
  result: CollectionResult,
): string {
  const { select, count, nextLinkQuery, collectionPath, editLinkOf } = result.options;
  const { metadata } = context;
  reply.type(JSON_CONTENT_TYPES[metadata]);

  const members: string[] = [];
  if (metadata !== 'none') {
    const url = contextUrl(context, result.entitySetPath, select, '');
    members.push(`"@odata.context":${JSON.stringify(url)}`);
  }
  if (count !== undefined) {
    members.push(`"@odata.count":${JSON.stringify(count)}`);
  }
  let value = '';
  for (const [index, item] of result.items.entries()) {
    const editLink = metadata === 'full' ? editLinkOf?.(item) : undefined;
    value += index === 0 ? '' : ',';
    value += entityJson(item, metadata, editLink);
  }
  members.push(`"value":[${value}]`);
  if (nextLinkQuery !== undefined) {
    const link = `${context.baseUrl}/${collectionPath}?${nextLinkQuery}`;
    members.push(`"@odata.nextLink":${JSON.stringify(link)}`);
  }
  return `{${members.join(',')}}`;
}
