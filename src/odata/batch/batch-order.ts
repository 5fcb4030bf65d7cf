import { badRequest } from '../http/graph-error.js';
import type { BatchItem } from './batch-request.js';
import { quote } from './quote.js';

/**
 * Returns the items in an order where each one comes after everything it depends on. Among the
 * items that are ready, the one earliest in the batch body goes first, so a batch without
 * dependencies runs in body order.
 *
 * @throws GraphException 400 (BadRequest) when the dependencies contain a cycle, naming the
 *   requests that wait on it.
 */
export function orderByDependencies(items: readonly BatchItem[]): BatchItem[] {
  const ordered: BatchItem[] = [];
  const done = new Set<string>();
  const pending = [...items];

  while (pending.length > 0) {
    const readyAt = pending.findIndex((item) => item.dependsOn.every((id) => done.has(id)));
    if (readyAt === -1) {
      const members = pending.map((item) => quote(item.id)).join(', ');
      throw badRequest(
        `The dependsOn values contain a cycle, so the requests ${members} can never run.`,
      );
    }
    const [ready] = pending.splice(readyAt, 1);
    ordered.push(ready);
    done.add(ready.id);
  }

  return ordered;
}
