import type { ServerResponse } from 'node:http';
import { claimRequest, onTakeOver } from '../../middleware/nested';

// Express gives every response a null-prototype res.locals; the claim is kept there.
const res = (headersSent = false) => ({ headersSent, locals: Object.create(null) as object }) as unknown as ServerResponse & { locals: object };

describe('nested cache middlewares', () => {
  const cacheA = {};
  const cacheB = {};
  const appLevel = { keyPrefix: 'cache:v1:http:' };
  const routeLevel = { keyPrefix: 'cache:v1:http:' };

  it('should let the first middleware handle the request', () => {
    expect(claimRequest(res(), Object.create(null) as object, cacheA, appLevel)).toBe('first');
  });

  it('should let a later middleware of the same cache take over, making the earlier one stand aside once', () => {
    const r = res();
    const standAside = jest.fn();
    claimRequest(r, r.locals, cacheA, appLevel);
    onTakeOver(r, standAside);
    expect(claimRequest(r, r.locals, cacheA, routeLevel)).toBe('take-over');
    expect(standAside).toHaveBeenCalledTimes(1);
    // A third, deeper one takes over from the second; the first is not called again.
    expect(claimRequest(r, r.locals, cacheA, { keyPrefix: 'cache:v1:http:' })).toBe('take-over');
    expect(standAside).toHaveBeenCalledTimes(1);
  });

  it('should run the same middleware once when it is mounted twice on the path', () => {
    const r = res();
    claimRequest(r, r.locals, cacheA, appLevel);
    expect(claimRequest(r, r.locals, cacheA, appLevel)).toBe('step-aside');
  });

  it('should not take over once the response has started', () => {
    const r = res();
    claimRequest(r, r.locals, cacheA, appLevel);
    (r as unknown as { headersSent: boolean }).headersSent = true;
    expect(claimRequest(r, r.locals, cacheA, routeLevel)).toBe('step-aside');
  });

  it('should make a middleware of another cache step aside and warn once per app, naming both caches and the route', () => {
    const warn = jest.fn();
    const app = {};
    const other = {};
    const withApp = (a: object, method: string, path: string) => Object.assign(res(), { app: a, req: { method, baseUrl: '', path, route: { path } } });
    for (const inner of [{ keyPrefix: 'cache:v1:shop:' }, { keyPrefix: 'cache:v1:admin:' }]) {
      for (let i = 0; i < 3; i++) {
        const r = withApp(app, 'GET', '/products');
        claimRequest(r, r.locals, cacheA, appLevel, warn);
        expect(claimRequest(r, r.locals, cacheB, inner, warn)).toBe('step-aside');
      }
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(
      /^express-response-cache: GET \/products met the middlewares of two caches: 'cache:v1:http' handles it, 'cache:v1:shop' steps aside/,
    );
    const r = withApp(other, 'PUT', '/x');
    claimRequest(r, r.locals, cacheA, appLevel, warn);
    claimRequest(r, r.locals, cacheB, { keyPrefix: 'cache:v1:http:' }, warn);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[1][0]).toContain("'cache:v1:http' (another instance with the same namespace) steps aside");
  });
});
