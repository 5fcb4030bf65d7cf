import { badRequest } from '../http/graph-error.js';
import type { Surface } from '../query/entity-model.js';
import { quote } from './quote.js';

const SURFACES: readonly Surface[] = ['beta', 'v1.0'];

/**
 * First path segments an inner request may address, in lower case: the resources of the Graph
 * surface. Anything else, such as the health checks or another $batch, is outside the batch's API.
 */
const BATCH_ROOT_SEGMENTS = new Set(['devicemanagement', '$metadata']);

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Characters Node.js refuses in a request path, plus '#', which would start a fragment. */
const UNSAFE_URL_CHARACTER = /[^\x21-\x7e]|#/gu;

function decodeSegment(segment: string, id: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`The URL of request ${quote(id)} has an invalid percent-encoding.`);
  }
}

function encodeUnsafeCharacters(url: string, id: string): string {
  try {
    return url.replace(UNSAFE_URL_CHARACTER, (character) => encodeURIComponent(character));
  } catch {
    throw badRequest(`The URL of request ${quote(id)} contains an unpaired UTF-16 surrogate.`);
  }
}

/**
 * Checks the URL of an inner request and returns it as a path under the surface, with a leading
 * '/' and the query string unchanged.
 *
 * The URL must be relative, such as `/deviceManagement/...` or `deviceManagement/...`. A leading
 * version segment is accepted when it names the batch's own surface, because the Graph JavaScript
 * client writes inner URLs as `/beta/deviceManagement/...`. Characters that cannot appear in an
 * HTTP request line, such as spaces, are percent-encoded.
 *
 * @throws GraphException 400 (BadRequest) for an absolute URL, another surface, a '.' or '..'
 *   segment, an empty segment, or a path outside the Graph resources.
 */
export function normalizeInnerUrl(url: string, surface: Surface, id: string): string {
  if (SCHEME.test(url) || url.startsWith('//') || url.startsWith('\\')) {
    throw badRequest(
      `The URL ${quote(url)} of request ${quote(id)} is absolute. Write it relative to the API ` +
        'version, such as /deviceManagement/userExperienceAnalyticsDeviceScores.',
    );
  }

  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? '' : url.slice(queryAt);
  const segments = (path.startsWith('/') ? path.slice(1) : path).split('/');
  const decoded = segments.map((segment) => decodeSegment(segment, id));

  const emptyAt = decoded.findIndex(
    (segment, index) => segment === '' && index < decoded.length - 1,
  );
  if (emptyAt !== -1 || decoded[0] === '') {
    throw badRequest(`The URL ${quote(url)} of request ${quote(id)} has an empty path segment.`);
  }
  if (decoded.some((segment) => segment === '.' || segment === '..')) {
    throw badRequest(
      `The URL ${quote(url)} of request ${quote(id)} has a '.' or '..' segment. ` +
        'Write the path of the resource itself.',
    );
  }

  const version = SURFACES.find((candidate) => candidate === decoded[0].toLowerCase());
  if (version !== undefined) {
    if (version !== surface) {
      throw badRequest(
        `The request ${quote(id)} addresses the ${version} API, but the batch was sent to the ` +
          `${surface} API. Send it in a batch to /${version}/$batch.`,
      );
    }
    segments.shift();
    decoded.shift();
  }

  const root = decoded[0]?.toLowerCase();
  if (root === '$batch') {
    throw badRequest(`The request ${quote(id)} is a $batch request. Batches cannot be nested.`);
  }
  if (root === undefined || !BATCH_ROOT_SEGMENTS.has(root)) {
    throw badRequest(
      `The URL ${quote(url)} of request ${quote(id)} is not a resource of this API. A batch can ` +
        'contain requests to /deviceManagement/... and /$metadata.',
    );
  }

  return encodeUnsafeCharacters(`/${segments.join('/')}${query}`, id);
}
