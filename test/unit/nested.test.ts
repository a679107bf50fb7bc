import type { ServerResponse } from 'node:http';
import { claimRequest, onTakeOver } from '../../middleware/nested';

const res = (headersSent = false) => ({ headersSent }) as unknown as ServerResponse;

describe('nested cache middlewares', () => {
  const cacheA = {};
  const cacheB = {};
  const appLevel = {};
  const routeLevel = {};

  it('should let the first middleware handle the request', () => {
    expect(claimRequest(res(), cacheA, appLevel)).toBe('first');
  });

  it('should let a later middleware of the same cache take over, making the earlier one stand aside once', () => {
    const r = res();
    const standAside = jest.fn();
    claimRequest(r, cacheA, appLevel);
    onTakeOver(r, standAside);
    expect(claimRequest(r, cacheA, routeLevel)).toBe('take-over');
    expect(standAside).toHaveBeenCalledTimes(1);
    // A third, deeper one takes over from the second; the first is not called again.
    expect(claimRequest(r, cacheA, {})).toBe('take-over');
    expect(standAside).toHaveBeenCalledTimes(1);
  });

  it('should run the same middleware once when it is mounted twice on the path', () => {
    const r = res();
    claimRequest(r, cacheA, appLevel);
    expect(claimRequest(r, cacheA, appLevel)).toBe('step-aside');
  });

  it('should not take over once the response has started', () => {
    const r = res();
    claimRequest(r, cacheA, appLevel);
    (r as unknown as { headersSent: boolean }).headersSent = true;
    expect(claimRequest(r, cacheA, routeLevel)).toBe('step-aside');
  });

  it('should make a middleware of another cache step aside and warn once per middleware', () => {
    const warn = jest.fn();
    const inner = {};
    for (let i = 0; i < 3; i++) {
      const r = res();
      claimRequest(r, cacheA, appLevel, warn);
      expect(claimRequest(r, cacheB, inner, warn)).toBe('step-aside');
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain('two different caches');
  });
});
