import {
  escapeChars,
  escapeGlob,
  escapeName,
  indexMember,
  isHashTagSafe,
  parseIndexMember,
  parseRedisKey,
  pathIndexPattern,
  redisKey,
  unescapeName,
} from '../../src/stores/redis-keys';

/** The text Redis Cluster hashes: between the first `{` and the first `}` after it, if not empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** Redis glob (stringmatchlen) as a RegExp, for the subset pathIndexPattern emits: `*` and `\x`. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\') re += escapeRe(glob[++i]!);
    else if (c === '*') re += '[\\s\\S]*';
    else if (c === '?' || c === '[') throw new Error(`unescaped ${c} in ${glob}`);
    else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}
const escapeRe = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

const NAMES = ['', 'a', '%', '%25', '%7B', '{', '}', '{}', '}{', 'a}b', '{a}', '*', '?', '[x]', '\\', 'a:b', 'ü €', 'cache:v1:http:GET:/p?q=1'];

describe('redis-keys', () => {
  describe('when escaping a name', () => {
    it.each(NAMES)('should round-trip %j', (name) => {
      expect(unescapeName(escapeName(name))).toBe(name);
    });

    it.each(NAMES)('should leave no brace in %j', (name) => {
      expect(escapeName(name)).not.toMatch(/[{}]/);
    });

    it('should never give two names the same escape', () => {
      const escaped = NAMES.map(escapeName);
      expect(new Set(escaped).size).toBe(NAMES.length);
    });

    it.each([
      ['', '%'],
      ['/products', '/products'],
      ['{x}', '%7Bx%7D'],
      ['100%', '100%25'],
      ['%7B', '%257B'],
    ])('should escape %j as %j', (name, escaped) => {
      expect(escapeName(name)).toBe(escaped);
    });
  });

  describe('when building keys', () => {
    it.each([
      ['', 'e', 'cache:v1:http:GET:/a', 'e:{cache:v1:http:GET:/a}'],
      ['app:', 'r', 'k', 'app:r:{k}'],
      ['', 'p', '/a/{id}', 'p:{/a/%7Bid%7D}'],
      ['', 't', '', 't:{%}'],
      ['', 'l', 'k', 'l:{k}'],
    ] as const)('should build base %j kind %j name %j as %j', (base, kind, name, key) => {
      expect(redisKey(base, kind, name)).toBe(key);
    });

    it.each(NAMES)('should keep the entry and its lock for %j in one slot, under a non-empty hash tag', (name) => {
      for (const base of ['', 'app:', '{shop}:', 'x}y']) {
        const entry = redisKey(base, 'e', name);
        const lock = redisKey(base, 'l', name);
        expect(hashTag(entry)).toBe(hashTag(lock));
        expect(hashTag(entry)).not.toBe(entry);
      }
    });

    it('should give different keys to different kinds of the same name', () => {
      const keys = (['e', 'p', 't', 'l', 'r', 'x'] as const).map((kind) => redisKey('', kind, 'same'));
      expect(new Set(keys).size).toBe(6);
    });

    it('should never make a tag index collide with a path index or an entry, whatever the strings', () => {
      const all = new Set<string>();
      for (const name of NAMES) for (const kind of ['e', 'p', 't', 'l', 'r', 'x'] as const) all.add(redisKey('', kind, name));
      expect(all.size).toBe(NAMES.length * 6);
    });
  });

  describe('when parsing keys', () => {
    it.each(NAMES)('should recover %j from its path index key', (name) => {
      expect(parseRedisKey('b:', 'p', redisKey('b:', 'p', name))).toBe(name);
    });

    it.each([
      ['another kind', redisKey('b:', 't', 'x')],
      ['another base', redisKey('c:', 'p', 'x')],
      ['a key with no closing brace', 'b:p:{x'],
      ['a key with a brace inside', 'b:p:{x}y}'],
    ])('should answer undefined for %s', (_label, key) => {
      expect(parseRedisKey('b:', 'p', key)).toBeUndefined();
    });
  });

  describe('when escaping a glob', () => {
    it.each([
      ['plain/path', 'plain/path'],
      ['a*b', 'a\\*b'],
      ['a?b', 'a\\?b'],
      ['[ab]', '\\[ab\\]'],
      ['back\\slash', 'back\\\\slash'],
      ['{x}:^-!', '{x}:^-!'],
    ])('should escape %j as %j', (input, output) => {
      expect(escapeGlob(input)).toBe(output);
    });
  });

  describe('when matching path indexes by prefix', () => {
    const paths = ['/a', '/a/b', '/ab', '/b', '/', '', '/a*', '/a?', '/a[b]', '/a{', '/a%7B', '/a}', '/a\\', '/x/a'];
    const prefixes = ['', '/', '/a', '/a*', '/a?', '/a[b', '/a{', '/a%', '/a%7B', '/a\\', '/a}'];
    for (const base of ['', 'app:', '{shop}:', 'a*[b]?:']) {
      it.each(prefixes)(`should match exactly the paths starting with %j (base ${JSON.stringify(base)})`, (prefix) => {
        const re = globToRegExp(pathIndexPattern(base, prefix));
        const matched = paths.filter((p) => re.test(redisKey(base, 'p', p)));
        expect(matched).toEqual(paths.filter((p) => p.startsWith(prefix)));
        // Never another kind of key, even one whose name starts with the prefix.
        for (const kind of ['e', 't', 'l', 'r', 'x'] as const) expect(re.test(redisKey(base, kind, `${prefix}x`))).toBe(false);
      });
    }

    it('should escape the characters of the prefix itself', () => {
      expect(pathIndexPattern('', '/a*')).toBe('p:{/a\\**}');
      expect(pathIndexPattern('', '/{')).toBe('p:{/%7B*}');
    });
  });

  describe('when checking a prefix for Cluster hash tags', () => {
    it.each([
      ['', true],
      ['app:', true],
      ['{shop}:', true],
      ['}{a}', true],
      ['a{b}c{', true],
      ['app{', false],
      ['{}', false],
      ['a{}b{c}', false],
      ['x}{', false],
    ])('should call %j safe: %s', (prefix, safe) => {
      expect(isHashTagSafe(prefix)).toBe(safe);
    });
  });

  describe('when escapeChars is used for prefixes', () => {
    it('should keep the empty string empty (unlike escapeName)', () => {
      expect(escapeChars('')).toBe('');
      expect(escapeName('')).toBe('%');
    });
  });

  describe('when index members are built and parsed', () => {
    it.each(NAMES)('should recover the token and the key %j', (key) => {
      expect(parseIndexMember(indexMember('Ab3+/9xZ', key))).toEqual({ token: 'Ab3+/9xZ', key });
    });

    it('should answer undefined for a member too short to hold a token', () => {
      expect(parseIndexMember('short')).toBeUndefined();
    });
  });
});
