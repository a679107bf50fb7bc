/**
 * Express 4 and 5 side by side: every integration test runs on both majors (STYLE 9).
 * `express4` is an npm alias (`npm:express@^4`) without its own types; its API is the
 * part of Express 5's that the tests use, so it is typed as Express 5's factory.
 */

import express5 from 'express';

export type ExpressFactory = typeof express5;

// eslint-disable-next-line @typescript-eslint/no-require-imports -- an npm alias without types: imported by require and typed by hand
const express4 = require('express4') as ExpressFactory;

export const EXPRESSES: ReadonlyArray<readonly [name: string, express: ExpressFactory, major: 4 | 5]> = [
  ['express 5', express5, 5],
  ['express 4', express4, 4],
];

/** `describe(name, ...)` once per Express major. */
export function forEachExpress(body: (express: ExpressFactory, major: 4 | 5) => void): void {
  for (const [name, express, major] of EXPRESSES) describe(name, () => body(express, major));
}
