/**
 * Jest globalTeardown: nothing to do. Every test file stops the servers it started in its
 * own afterAll, so no process outlives the run (no --forceExit needed).
 */

export default async function globalTeardown(): Promise<void> {}
