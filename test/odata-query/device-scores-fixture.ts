import { DEVICE_SCORES_MODEL } from '../../src/device-scores/device-scores.model.js';

/** The device scores model that the query engine tests plan and compile against. */
export const DEVICE_SCORES = DEVICE_SCORES_MODEL;

/** Calls `action` and returns the message of the 400 GraphException it throws. */
export function badRequestMessage(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    const failure = error as { name?: string; status?: number; code?: string; message: string };
    expect(failure.name).toBe('GraphException');
    expect(failure.status).toBe(400);
    expect(failure.code).toBe('BadRequest');

    return failure.message;
  }
  throw new Error('Expected a 400 GraphException, but nothing was thrown.');
}
