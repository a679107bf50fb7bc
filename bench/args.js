'use strict';
/**
 * Command-line arguments of the single-variant tools (profile.js, instructions.js,
 * allocations.js): the variant name, positional numbers, `--name=value` numbers and flags.
 */

function parseArgs(argv = process.argv.slice(2)) {
  const positional = argv.filter((a) => !a.startsWith('--'));
  const valueOf = (name) => {
    const hit = argv.find((a) => a.startsWith(`--${name}=`));
    return hit === undefined ? undefined : hit.slice(name.length + 3);
  };
  return {
    variant: positional[0],
    /** The n-th positional argument after the variant, as a number, or `fallback`. */
    position: (n, fallback) => Number(positional[n + 1]) || fallback,
    /** `--name=value` as a number, or `fallback`. */
    number: (name, fallback) => {
      const v = valueOf(name);
      return v === undefined ? fallback : Number(v);
    },
    /** `--name=value` as a string, or ''. */
    string: (name) => valueOf(name) ?? '',
    /** `--name` given. */
    has: (name) => argv.includes(`--${name}`),
  };
}

module.exports = { parseArgs };
