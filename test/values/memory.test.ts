import { ResponseCache } from '../../src/cache';
import { valuesSuite } from './suite';

valuesSuite('MemoryStore', async () => new ResponseCache({}));

describe('cached() on memory', () => {
  it('should default its namespace to the function name and source, stable across instances', async () => {
    const a = new ResponseCache({});
    const b = new ResponseCache({});
    function findUser(id: string) { return { id }; }
    expect(a.cached(findUser).values.namespace).toBe(b.cached(findUser).values.namespace);
    expect(a.cached(findUser).values.namespace).toMatch(/^fn\.findUser\.[0-9a-f]{8}$/);
    await a.close();
    await b.close();
  });
});
