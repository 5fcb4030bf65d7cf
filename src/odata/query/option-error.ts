import { badRequest, GraphException } from '../http/graph-error.js';
import { MAX_OPTION_BYTES } from './query-limits.js';

/**
 * Builds the 400 error for an invalid option value, such as
 * "Invalid $filter at position 14: expected a value after 'eq'."
 *
 * `position` is a 0-based offset into the decoded value. When the error sits at or just after a
 * space that was a `+` in the URL, the message adds that a literal plus must be sent as %2B,
 * because query strings decode `+` to a space.
 */
export function invalidOption(
  option: string,
  position: number | undefined,
  detail: string,
  plusOffsets: readonly number[] = [],
): GraphException {
  const where = position === undefined ? '' : ` at position ${position}`;
  let message = `Invalid $${option}${where}: ${detail}`;

  if (
    position !== undefined &&
    (plusOffsets.includes(position) || plusOffsets.includes(position - 1))
  ) {
    message +=
      " A '+' in a query string is decoded as a space, so a literal plus sign must be sent as %2B.";
  }

  return badRequest(message);
}

/**
 * Rejects an option value longer than MAX_OPTION_BYTES before any parsing starts, and one that
 * contains U+0000, which PostgreSQL text cannot store (it raises SQLSTATE 22021 instead).
 */
export function checkOptionValue(option: string, value: string): void {
  const nul = value.indexOf('\u0000');
  if (nul !== -1) {
    throw invalidOption(
      option,
      nul,
      'the value contains a NUL character (%00), which is not allowed.',
    );
  }

  // A UTF-16 code unit takes at most three UTF-8 bytes, so short strings skip the count.
  if (value.length <= MAX_OPTION_BYTES / 3) {
    return;
  }

  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_OPTION_BYTES) {
    throw invalidOption(
      option,
      undefined,
      `the value is ${bytes} bytes long, more than the maximum of ${MAX_OPTION_BYTES} bytes.`,
    );
  }
}
