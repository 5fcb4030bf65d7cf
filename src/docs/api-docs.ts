import { type INestApplication, Logger } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';

import { buildComponentSchemas } from './openapi-schemas.js';
import { BEARER_SCHEME } from './operation-docs.js';

/** Path of the interactive page; its Swagger UI assets are served below it. */
export const DOCS_PATH = 'docs';

/** Path of the OpenAPI 3 document in JSON. */
export const OPENAPI_PATH = 'openapi.json';

const DESCRIPTION = [
  'A Microsoft Graph-compatible service for Intune Endpoint Analytics device scores.',
  'Every operation acts on the tenant named by the tid claim of the bearer token.',
  'Errors use the Graph error body (microsoft.graph.ODataErrors.ODataError).',
  'Every response carries request-id, client-request-id and OData-Version: 4.0.',
].join(' ');

/** Returns the operation's handler name without the `[n]` suffix Nest adds to path aliases. */
function handlerName(operationId: string): string {
  return operationId.replace(/\[\d+\]$/, '');
}

/**
 * Makes operation ids unique and readable: a handler served under several prefixes gets one
 * operation per prefix, named after the prefix, such as `beta_DeviceScoresController_list`.
 */
function nameOperations(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    const prefix = /^\/(beta|v1\.0)\//.exec(path)?.[1];
    for (const operation of Object.values(item as Record<string, unknown>)) {
      if (typeof operation !== 'object' || operation === null || !('operationId' in operation)) {
        continue;
      }
      const name = handlerName(String(operation.operationId));
      operation.operationId = prefix === undefined ? name : `${prefix}_${name}`;
    }
  }
}

/** Builds the OpenAPI 3 document from the controllers and their decorators. */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Endpoint Analytics device scores')
    .setDescription(DESCRIPTION)
    .setVersion('0.1.0')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'An access token from the identity platform (or `npm run token` in development) ' +
          'with the tid claim and DeviceManagement permissions in scp or roles.',
      },
      BEARER_SCHEME,
    )
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, ...buildComponentSchemas() },
  };
  nameOperations(document);

  return document;
}

/**
 * Serves the OpenAPI document at /openapi.json and Swagger UI at /docs. The UI's scripts and
 * styles come from the swagger-ui-dist package through @fastify/static, so the page needs no
 * network access beyond this service. Call before the application listens.
 *
 * When @fastify/static cannot be loaded, only the document is served, and a warning gives the
 * reason. NOTE: this happens under Jest 30 on Node 20. Its module loader cannot require the ES
 * module content-disposition 3, which @fastify/static 10 requires. Plain Node 20.19 and later can.
 */
export async function setupApiDocs(app: INestApplication): Promise<void> {
  const ui = await canServeStaticFiles();
  if (ui) {
    allowPlainHttpAssets(app);
  }
  SwaggerModule.setup(DOCS_PATH, app, () => createOpenApiDocument(app), {
    ui,
    jsonDocumentUrl: OPENAPI_PATH,
    raw: ['json'],
    customSiteTitle: 'Endpoint Analytics device scores API',
    // Swagger UI would otherwise load a validity badge from validator.swagger.io.
    swaggerOptions: { validatorUrl: null },
  });
}

/**
 * Drops `upgrade-insecure-requests` from the security policy of the docs page when it is served
 * over plain HTTP. Otherwise a browser would fetch the page's scripts over HTTPS, which the
 * listener does not speak unless TLS is configured, and the page would stay blank.
 */
function allowPlainHttpAssets(app: INestApplication): void {
  const prefix = `/${DOCS_PATH}`;
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const path = request.url.split('?', 1)[0];
    const policy = reply.getHeader('content-security-policy');
    const isDocs = path === prefix || path.startsWith(`${prefix}/`);
    if (isDocs && request.protocol === 'http' && typeof policy === 'string') {
      const directives = policy
        .split(';')
        .filter((directive) => directive.trim() !== 'upgrade-insecure-requests');
      reply.header('content-security-policy', directives.join(';'));
    }
    done(null, payload);
  });
}

async function canServeStaticFiles(): Promise<boolean> {
  try {
    await import('@fastify/static');

    return true;
  } catch (error) {
    new Logger('ApiDocs').warn(
      `Swagger UI at /${DOCS_PATH} is disabled because @fastify/static failed to load: ` +
        `${error instanceof Error ? error.message : String(error)}. /${OPENAPI_PATH} is served.`,
    );

    return false;
  }
}
