/**
 * The curl lines `npm start` prints: the same as example-app/README.md's "Try it" block
 * (test/integration/example-app.test.ts checks), one command a line, `$B` the base URL.
 */

export const TRY_IT: readonly string[] = [
  'curl -si "$B/products?page=1&limit=5" | grep -i x-cache                  # MISS, then HIT on a second run',
  'curl -si "$B/products?limit=5&page=1&utm_source=mail" | grep -i x-cache   # HIT: same key',
  "ETAG=$(curl -si $B/products/7 | awk 'tolower($1)==\"etag:\" {print $2}' | tr -d '\\r')",
  'curl -si -H "If-None-Match: $ETAG" $B/products/7                         # 304 Not Modified, no body',
  "curl -s -w '\\n' -X PUT -H 'Content-Type: application/json' -d '{\"price\":1999}' $B/products/7",
  "curl -si $B/products/7 | grep -iE 'x-cache|price'                        # MISS with the new price",
  'curl -si "$B/products?page=1&limit=5" | grep -i x-cache                  # MISS: catalog dropped too',
  'curl -si $B/products/10/stock | grep -i x-cache                          # sold out: never a HIT',
  "for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' -X POST -H 'X-User-Id: alice' $B/products/7/reviews; done; echo   # 201 201 201 429",
  "curl -si -w '\\n' -H 'Accept-Language: fr' $B/greeting                    # one entry per language",
  "curl -s -w '\\n' -H 'X-User-Id: alice' $B/recommendations                 # fast the second time: values cached",
  'curl -s -w \'\\n\' $B/health/cache                                          # {"available":true,"ping":true,...}',
  'curl -s $B/stats                                                         # hits, misses, hitRatio, ...',
  'curl -s $B/metrics                                                       # Prometheus text',
  "curl -s -w '\\n' -X POST -H 'Content-Type: application/json' -d '{\"tags\":[\"catalog\"]}' $B/admin/cache/invalidate",
];

/** The block as a shell reads it: `B=<base>` first, so every line pastes as it is. */
export function tryIt(base: string): string {
  return [`B=${base}`, ...TRY_IT].join('\n');
}
