/**
 * The Redis client the options accept, typed by shape: an ioredis `Redis` or `Cluster`
 * fits, any other object does not. Structural, so the shipped declarations never import
 * 'ioredis' (an optional peer dependency: without it installed, an import of its types is
 * TS2307 in every consumer).
 */
export interface RedisLike {
  getBuffer(key: string): Promise<Buffer | null>;
  duplicate(...args: never[]): unknown;
  readonly status: string;
}
