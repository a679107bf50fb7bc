import { ResponseCache } from '../../src/cache';
import { MemoryStore } from '../../src/stores/memory';
import { ChaosStore } from '../helpers/chaos-store';

describe('values when the store fails', () => {
  let chaos: ChaosStore;
  let cache: ResponseCache<unknown, unknown>;
  const errors: string[] = [];

  beforeEach(() => {
    errors.length = 0;
    chaos = new ChaosStore(new MemoryStore());
    cache = new ResponseCache({ store: chaos, storeTimeout: 50, onError: (err) => errors.push(err.code) });
  });
  afterEach(async () => {
    await cache.close();
    await chaos.close();
  });

  it.each([['throw'], ['hang']] as const)('should not throw or stall past storeTimeout when the store %ss', async (mode) => {
    const users = cache.values<string>('users');
    chaos.mode = mode;
    const started = Date.now();
    expect(await users.get('1')).toBeUndefined();
    expect(await users.set('1', 'x')).toBe(false);
    expect(await users.getMany(['1', '2'])).toEqual([undefined, undefined]);
    expect(await users.getOrSet('2', () => 'computed')).toBe('computed');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(errors.length).toBeGreaterThan(0);
    expect(await cache.ping()).toBe(false);
  });

  it('should read garbage as a miss and report it', async () => {
    const users = cache.values<string>('users');
    await users.set('1', 'x');
    chaos.mode = 'garbage';
    expect(await users.get('1')).toBeUndefined();
    expect(errors).toContain('ERC_ENTRY_CORRUPT');
  });

  it('should say unavailable once the breaker opens, and recover', async () => {
    chaos.mode = 'throw';
    const users = cache.values<string>('users');
    for (let i = 0; i < 5; i++) await users.get(String(i));
    expect(cache.isAvailable).toBe(false);
    chaos.mode = 'ok';
    await new Promise((r) => setTimeout(r, 600));
    await users.get('probe');
    expect(cache.isAvailable).toBe(true);
  });
});

describe('a local store that fails', () => {
  it('should report its failures like a shared store does, and not throw', async () => {
    const memory = new MemoryStore();
    const broken = Object.assign(Object.create(memory) as MemoryStore, {
      set: async () => {
        throw new Error('disk full');
      },
    });
    const heard: string[] = [];
    const cache = new ResponseCache({ store: broken, onError: (err) => heard.push(err.message) });
    expect(await cache.values<string>('v').set('1', 'x')).toBe(false);
    expect(heard).toEqual(['store set failed: disk full']);
    await cache.close();
    await memory.close();
  });
});
