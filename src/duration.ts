/**
 * Durations in options: a number of seconds, or an `ms` string ('5 minutes', '1h', '90s')
 * for users coming from apicache. Anything else is a TypeError that shows the number form.
 */

import ms from 'ms';

/** Units the `ms` package reads. A string without one is refused (is '60' seconds or ms?). */
export type DurationUnit =
  | 'ms'
  | 'msec'
  | 'msecs'
  | 'millisecond'
  | 'milliseconds'
  | 's'
  | 'sec'
  | 'secs'
  | 'second'
  | 'seconds'
  | 'm'
  | 'min'
  | 'mins'
  | 'minute'
  | 'minutes'
  | 'h'
  | 'hr'
  | 'hrs'
  | 'hour'
  | 'hours'
  | 'd'
  | 'day'
  | 'days'
  | 'w'
  | 'week'
  | 'weeks'
  | 'y'
  | 'yr'
  | 'yrs'
  | 'year'
  | 'years';

/** Seconds, or a string the `ms` package reads, with its unit: '10s', '5 minutes', '1h', '2 days'. */
export type Duration = number | `${number}${DurationUnit}` | `${number} ${DurationUnit}`;

/** Seconds of `value`; a string goes through `ms` (milliseconds) and is divided by 1000. */
export function parseDuration<T>(value: T, name: string): Exclude<T, string> | number {
  if (typeof value !== 'string') return value as Exclude<T, string>; // numbers are checked by the caller's own rule
  // A bare number in a string has no unit: `ms` would read '60' as 60 ms, a user means 60 s.
  const millis = /^\s*[-+.\d]*\s*$/.test(value) ? undefined : (ms as (s: string) => number | undefined)(value);
  if (typeof millis !== 'number' || !Number.isFinite(millis)) {
    throw new TypeError(
      `${name} must be a positive number of seconds (ttl: 300) or a duration string with a unit ('5 minutes', '1h'), got ${JSON.stringify(value)}`,
    );
  }
  return millis / 1000;
}
