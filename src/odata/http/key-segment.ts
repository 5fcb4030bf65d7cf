/**
 * Rewrites the OData key form `Set('{id}')` (or `Set({id})`) in a request URL to the path form
 * `Set/{id}` that the router matches. Quotes may arrive percent-encoded as %27.
 */
export function rewriteKeySegment(url: string): string {
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? '' : url.slice(queryAt);
  const rewritten = path.replace(
    /\/([A-Za-z][A-Za-z0-9]*)\((?:'|%27)?([^/()']*?)(?:'|%27)?\)(?=\/|$)/,
    (_match, set: string, key: string) => `/${set}/${key}`,
  );
  return rewritten + query;
}
