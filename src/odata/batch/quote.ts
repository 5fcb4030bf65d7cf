/** Shortens a client-supplied value and quotes it for an error message. */
export function quote(value: string): string {
  return `'${value.length > 100 ? `${value.slice(0, 100)}…` : value}'`;
}
