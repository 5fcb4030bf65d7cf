/**
 * Checks an If-Match or If-None-Match header against an entity tag. `*` matches any existing
 * entity, and tags compare weakly (a W/ prefix on either side is ignored), as OData clients
 * echo the weak tags the service sends.
 */
export function etagMatches(header: string, etag: string): boolean {
  const expected = opaqueTag(etag);
  return header
    .split(',')
    .map((part) => part.trim())
    .some((part) => part === '*' || opaqueTag(part) === expected);
}

function opaqueTag(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

export function firstHeaderValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
