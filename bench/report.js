'use strict';
/**
 * Turns the runs into figures: medians per variant, ratios computed within each round and
 * then their median, the targets with PASS/FAIL, and the RESULTS.md text.
 *
 * `results` = { meta, variants: [{ variant, status: 'ok'|'WRONG'|'unavailable'|'failed',
 *   reason?, sample?, runs: [{ round, rps, p50, p99, cpuUs, unexpected, rss, originCalls, clientCpu }] }] }
 */

const { PAYLOADS } = require('./payload');

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const byName = (results, name) => results.variants.find((r) => r.variant.name === name);

/** Median over rounds of a.field / b.field within the same round; or { na: reason }. */
function ratio(results, a, b, field = 'rps') {
  const ra = byName(results, a);
  const rb = byName(results, b);
  for (const [r, n] of [
    [ra, a],
    [rb, b],
  ]) {
    if (!r) return { na: `${n} not run` };
    if (r.status !== 'ok') return { na: `${n} ${r.status}`, broken: r.status === 'unavailable' ? undefined : n };
  }
  const per = [];
  for (const run of ra.runs) {
    const other = rb.runs.find((x) => x.round === run.round);
    if (other) per.push(run[field] / other[field]);
  }
  return per.length ? { value: median(per) } : { na: 'no common round' };
}

/**
 * Ratio of the two variants' least-disturbed runs (highest rps, lowest CPU or latency).
 * On a shared VM whose speed changes between runs, this is the steadier comparison.
 */
function bestRatio(results, a, b, field = 'rps') {
  const ra = byName(results, a);
  const rb = byName(results, b);
  if (!ra || !rb || ra.status !== 'ok' || rb.status !== 'ok') return NaN;
  const pick = (runs) => (field === 'rps' ? Math.max(...runs.map((x) => x[field])) : Math.min(...runs.map((x) => x[field])));
  return pick(ra.runs) / pick(rb.runs);
}

/** Core and size variants compare with bare-replay / redis-floor; compression and mixed with their own refs. */
const hasReplay = (variant) => variant.scenario === 'core' || variant.scenario === 'sizes';

function summarize(results) {
  return results.variants.map((r) => {
    const { variant, runs } = r;
    const row = {
      name: variant.name,
      group: variant.group,
      status: r.status,
      reason: r.reason,
      rps: median(runs.map((x) => x.rps)),
      p50: median(runs.map((x) => x.p50)),
      p99: median(runs.map((x) => x.p99)),
      cpuUs: median(runs.map((x) => x.cpuUs)),
      redisCpuUs: median(runs.map((x) => x.redisCpuUs)),
      rss: median(runs.map((x) => x.rss)),
      unexpected: runs.reduce((s, x) => s + x.unexpected, 0),
      originCalls: runs.reduce((s, x) => s + x.originCalls, 0),
      clientCpu: Math.max(0, ...runs.map((x) => x.clientCpu)),
      otherCpu: median(runs.map((x) => x.otherCpu)),
      otherCpuMax: Math.max(0, ...runs.map((x) => x.otherCpu)),
      // Against the references of the same bytes (bare-replay-64k for a 64 KB variant).
      vsReplay: r.status === 'ok' && variant.name !== variant.replay && hasReplay(variant) ? ratio(results, variant.name, variant.replay) : undefined,
      vsFloor: r.status === 'ok' && variant.redis && variant.group === 'ours' && hasReplay(variant) ? ratio(results, variant.name, variant.floor) : undefined,
      vsRef: r.status === 'ok' && variant.refs.length ? ratio(results, variant.name, variant.refs[0]) : undefined,
      hitRatio: median(runs.map((x) => x.hitRatio)),
      requests: runs.reduce((s, x) => s + (x.requests || 0), 0),
      writesOk: runs.reduce((s, x) => s + (x.writes ? x.writes.ok : 0), 0),
      writesSent: runs.reduce((s, x) => s + (x.writes ? x.writes.unrelated + x.writes.related : 0), 0),
    };
    return row;
  });
}

/** One target: ours must be ok; `cmp` receives the ratio value. */
function target(results, label, ours, ref, field, limitText, cmp) {
  const r = ratio(results, ours, ref, field);
  const best = bestRatio(results, ours, ref, field);
  if (r.value !== undefined) {
    return { label, value: r.value, best, limit: limitText, verdict: cmp(r.value) ? 'PASS' : 'FAIL', bestVerdict: cmp(best) ? 'PASS' : 'FAIL' };
  }
  // Our variant answering wrongly or crashing fails the target; a missing reference or peer makes it n/a.
  return { label, value: NaN, limit: limitText, verdict: r.broken === ours ? 'FAIL' : 'n/a', note: r.na };
}

function targets(results) {
  const t = [
    target(results, 'memory hit rps ≥ 0.95 × bare-replay', 'memory-hit', 'bare-replay', 'rps', '≥ 0.95', (v) => v >= 0.95),
    target(results, 'Redis hit rps ≥ 0.90 × redis-floor', 'redis-hit', 'redis-floor', 'rps', '≥ 0.90', (v) => v >= 0.9),
    target(results, 'tiered hit rps ≥ 0.95 × bare-replay', 'tiered-hit', 'bare-replay', 'rps', '≥ 0.95', (v) => v >= 0.95),
  ];
  for (const s of ['memory', 'redis', 'tiered']) {
    t.push(target(results, `${s} 304 CPU µs/req ≤ ${s} hit`, `${s}-304`, `${s}-hit`, 'cpuUs', '≤ 1.00', (v) => v <= 1));
  }
  // Issue 13: a miss costs almost nothing over the uncached handler (20 ms origin).
  t.push(target(results, 'miss p50 ≤ 1.03 × uncached-slow p50', 'miss-slow', 'uncached-slow', 'p50', '≤ 1.03', (v) => v <= 1.03));
  t.push(target(results, 'miss CPU µs/req ≤ 1.10 × uncached-slow', 'miss-slow', 'uncached-slow', 'cpuUs', '≤ 1.10', (v) => v <= 1.1));
  // Issue 24: every miss costs no more than apicache's miss on the same route and body.
  for (const [ours, peer] of [
    ['miss-slow', 'apicache-miss'],
    ['memory-miss-64k', 'apicache-miss-64k'],
    ['redis-miss-64k', 'apicache-miss-64k'],
    ['memory-miss-1m', 'apicache-miss-1m'],
    ['redis-miss-1m', 'apicache-miss-1m'],
  ]) {
    t.push(target(results, `${ours} p50 ≤ ${peer} p50`, ours, peer, 'p50', '≤ 1.00', (v) => v <= 1));
    t.push(target(results, `${ours} CPU µs/req ≤ ${peer}`, ours, peer, 'cpuUs', '≤ 1.00', (v) => v <= 1));
  }
  for (const size of ['64k', '1m']) {
    t.push(
      target(results, `memory hit ${size} rps ≥ 0.95 × bare-replay-${size}`, `memory-hit-${size}`, `bare-replay-${size}`, 'rps', '≥ 0.95', (v) => v >= 0.95),
    );
    t.push(target(results, `Redis hit ${size} rps ≥ 0.90 × redis-floor-${size}`, `redis-hit-${size}`, `redis-floor-${size}`, 'rps', '≥ 0.90', (v) => v >= 0.9));
  }
  for (const coding of ['gzip', 'br']) {
    t.push(
      target(
        results,
        `${coding} hit (compression after the cache) rps ≥ 0.90 × identity hit`,
        `${coding}-hit-after`,
        'identity-hit-12k',
        'rps',
        '≥ 0.90',
        (v) => v >= 0.9,
      ),
    );
  }
  for (const hit of ['memory-hit', 'redis-hit', 'tiered-hit']) {
    for (const peer of ['apicache', 'route-cache']) {
      t.push(target(results, `${hit} rps ahead of ${peer}`, hit, peer, 'rps', '> 1.00', (v) => v > 1));
    }
  }
  return t;
}

const fmt = (v, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
const fmtRatio = (r) => (r === undefined ? '' : r.value !== undefined ? fmt(r.value, 2) : '–');

function table(rows) {
  const lines = [
    '| variant | req/s | × bare-replay (same bytes) | × redis-floor (same bytes) | p50 ms | p99 ms | server CPU µs/req | redis-server CPU µs/req | unexpected responses | handler calls (timed) | RSS MB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    if (r.status !== 'ok') {
      lines.push(`| ${r.name} | **${r.status}** | | | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${r.name} | ${fmt(r.rps)} | ${r.name === 'bare-replay' ? '1.00' : fmtRatio(r.vsReplay)} | ${fmtRatio(r.vsFloor)} | ` +
        `${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpuUs, 1)} | ${Number.isFinite(r.redisCpuUs) ? fmt(r.redisCpuUs, 1) : ''} | ${fmt(r.unexpected)} | ${fmt(r.originCalls)} | ${fmt(r.rss / 2 ** 20, 1)} |`,
    );
  }
  return lines.join('\n');
}

const rowOf = (rows, name) => rows.find((r) => r.name === name);
const cell = (rows, name, f) => {
  const r = rowOf(rows, name);
  return !r ? 'not run' : r.status !== 'ok' ? `**${r.status}**` : f(r);
};

/** Hits and misses at 2 KB, 64 KB and 1 MB, each against the references of the same bytes. */
function sizeTable(rows, results) {
  const lines = [
    '| body | memory hit req/s | × bare-replay | Redis hit req/s | × redis-floor | memory miss p50 × uncached | memory miss CPU × uncached | Redis miss p50 × uncached | Redis miss CPU × uncached |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const r = (a, b, f) => fmt(ratio(results, a, b, f).value, 2);
  for (const [label, sfx] of [
    ['2 KB', ''],
    ['64 KB', '-64k'],
    ['1 MB', '-1m'],
  ]) {
    const missM = sfx ? `memory-miss${sfx}` : 'miss-slow';
    const missR = sfx ? `redis-miss${sfx}` : undefined;
    const unc = `uncached-slow${sfx}`;
    lines.push(
      `| ${label} | ${cell(rows, `memory-hit${sfx}`, (x) => fmt(x.rps))} | ${r(`memory-hit${sfx}`, `bare-replay${sfx}`)} | ` +
        `${cell(rows, `redis-hit${sfx}`, (x) => fmt(x.rps))} | ${r(`redis-hit${sfx}`, `redis-floor${sfx}`)} | ` +
        `${r(missM, unc, 'p50')} | ${r(missM, unc, 'cpuUs')} | ${missR ? r(missR, unc, 'p50') : '–'} | ${missR ? r(missR, unc, 'cpuUs') : '–'} |`,
    );
  }
  return lines.join('\n');
}

/** The ~12 KB JSON hit with Accept-Encoding, compression() mounted before and after the cache. */
function compressionTable(rows, results) {
  const lines = [
    '| variant | Accept-Encoding | compression() mounted | req/s | × identity hit | p50 ms | server CPU µs/req |',
    '|---|---|---|---:|---:|---:|---:|',
  ];
  for (const name of ['identity-hit-12k', 'gzip-hit-before', 'br-hit-before', 'gzip-hit-after', 'br-hit-after']) {
    const v = results.variants.find((e) => e.variant.name === name);
    if (!v) continue;
    const order = name.endsWith('-before') ? 'before the cache (old advice)' : name.endsWith('-after') ? 'after the cache (README)' : 'not mounted';
    const rel = name === 'identity-hit-12k' ? '1.00' : fmt(ratio(results, name, 'identity-hit-12k').value, 2);
    lines.push(
      `| ${name} | ${v.variant.accept ? `\`${v.variant.accept}\`` : '–'} | ${order} | ${cell(rows, name, (x) => fmt(x.rps))} | ${rel} | ` +
        `${cell(rows, name, (x) => fmt(x.p50, 2))} | ${cell(rows, name, (x) => fmt(x.cpuUs, 1))} |`,
    );
  }
  return lines.join('\n');
}

/** Issue 9's mixed load beside the read-only run of the same readers. */
function mixedTable(rows, results) {
  const lines = [
    '| cache | load | req/s | × read-only | hit ratio | origin calls (timed, all rounds) | writes answered / sent | p99 ms |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const who of ['memory', 'redis', 'apicache']) {
    for (const load of ['readonly', 'mixed']) {
      const name = `${load}-${who}`;
      if (!rowOf(rows, name)) continue;
      const rel = load === 'mixed' ? fmt(ratio(results, name, `readonly-${who}`).value, 2) : '1.00';
      lines.push(
        `| ${who === 'apicache' ? 'apicache' : `ours (${who})`} | ${load === 'mixed' ? 'mixed' : 'read-only'} | ${cell(rows, name, (x) => fmt(x.rps))} | ${rel} | ` +
          `${cell(rows, name, (x) => fmt(x.hitRatio, 3))} | ${cell(rows, name, (x) => fmt(x.originCalls))} | ` +
          `${load === 'mixed' ? cell(rows, name, (x) => `${fmt(x.writesOk)} / ${fmt(x.writesSent)}`) : '–'} | ${cell(rows, name, (x) => fmt(x.p99, 2))} |`,
      );
    }
  }
  return lines.join('\n');
}

function targetTable(list) {
  const lines = ['| target | median ratio | limit | verdict | best-run ratio | verdict on best runs |', '|---|---:|---:|---|---:|---|'];
  for (const t of list) {
    lines.push(`| ${t.label} | ${fmt(t.value, 3)} | ${t.limit} | ${t.verdict}${t.note ? ` (${t.note})` : ''} | ${fmt(t.best, 3)} | ${t.bestVerdict ?? ''} |`);
  }
  return lines.join('\n');
}

function markdown(results) {
  const { meta } = results;
  const rows = summarize(results);
  const notes = results.variants.filter((r) => r.status !== 'ok').map((r) => `- **${r.variant.name}** ${r.status}: ${r.reason}`);
  const busy = rows.filter((r) => r.status === 'ok' && r.clientCpu > 0.9).map((r) => r.name);
  const ok = rows.filter((r) => r.status === 'ok');
  const other = ok.length ? Math.max(...ok.map((r) => r.otherCpuMax)) : 0;
  const noisy = ok.filter((r) => r.otherCpuMax > 0.1).map((r) => `${r.name} (up to ${fmt(r.otherCpuMax * 100)} %)`);
  const headers = results.variants
    .filter((r) => r.sample)
    .map(
      (r) =>
        `- **${r.variant.name}**: ${Object.entries(r.sample)
          .filter(([k]) => k !== 'date')
          .map(([k, v]) => `\`${k}: ${v}\``)
          .join(', ')}`,
    );
  return `# Benchmark results

${meta.partial ? `> **Partial run** (${meta.partial}): not the published figures.\n\n` : ''}- Date: ${meta.date}
- Node ${meta.node}, ${meta.cpu}, ${meta.cores} cores; ${meta.pinning}
- Command: \`${meta.command}\`
- ${meta.rounds} interleaved rounds × ${meta.duration} s per variant (${meta.extraDuration ?? meta.duration} s for the size, compression and mixed scenarios; after ${meta.warmup} s warm-up, a fresh server process each run), ${meta.connections} connections, route \`GET ${meta.path}\` answering ${meta.bodyBytes} bytes of JSON (the core set)
- Whole run: ${fmt((meta.elapsedS ?? NaN) / 60, 1)} minutes
- Our middleware: ${meta.ours}
- Before each timed run the runner waited up to ${meta.quiet} s for other processes to use under 25 % of a core. Machine load: 1-minute load average ${fmt(meta.loadavg, 2)} at the end; other processes used at most ${fmt(other * 100)} % of a core during any timed run

Medians over rounds; ratios are taken within each round, then their median. The best-run
ratio compares each variant's least-disturbed run (highest req/s, lowest CPU or latency):
this VM changes speed between runs (the same variant swings by up to 1.6×), and a
within-round ratio then measures which runs were unlucky as much as the code. Server CPU is the
server process's own user+system time over the timed run divided by the requests answered;
redis-server's CPU (INFO cpu) is shown apart for the variants that use it.
"Unexpected responses" counts anything but 200 (304 for the 304 variants), errors and
timeouts, summed over rounds; "handler calls" counts origin calls during the timed runs.

![median requests/s per variant](results.svg)

${table(rows)}

## Body sizes

Each size against a bare-replay and a redis-floor of the same bytes; misses (20 ms origin,
a new key per request) against the uncached handler of the same size.

${sizeTable(rows, results)}

## Compression

A ${PAYLOADS['12k'].expected.length.toLocaleString('en-US')}-byte JSON hit (memory store) with \`Accept-Encoding\`, beside the same hit without compression.

${compressionTable(rows, results)}

## Mixed reads and writes (issue 9)

Readers over 100 keys (50 connections, 20 ms origin) while the runner sends 50 \`POST /events\`
per second (an invalidation that matches nothing read) and 5 \`PUT /items/<read key>\` per
second; beside the same readers with no writes. Ours invalidates through \`cache.invalidates\`;
apicache's writes call \`apicache.clear(<the written URL>)\`. Hit ratio = 1 − origin calls / reads.

${mixedTable(rows, results)}

## Targets

${targetTable(targets(results))}
${notes.length ? `\n## Not timed\n\n${notes.join('\n')}\n` : ''}${busy.length ? `\n> The load generator used over 90 % of its core for: ${busy.join(', ')}; those figures may be the generator's limit.\n` : ''}${noisy.length ? `\n> Other processes took over 10 % of a core during timed runs of: ${noisy.join(', ')}. Prefer a quiet machine and more rounds.\n` : ''}
## Response headers seen (a warm hit, or the 304)

${headers.join('\n')}
`;
}

module.exports = { median, ratio, bestRatio, summarize, targets, markdown, table, targetTable };
