/**
 * A simulated slow database: 30 categories, 100 products, in memory. Every call waits
 * `delayMs` (50 ms by default) the way a real query would, so the difference between a
 * cache MISS and a HIT is visible with curl. The data is generated deterministically, so
 * every run (and every test) sees the same catalogue.
 *
 * Calls hand out copies: nothing outside can change a row without going through update().
 */

export interface Category {
  slug: string;
  name: string;
  /** Featured categories change less often; their pages are cached longer. */
  featured: boolean;
}

export interface Product {
  id: number;
  name: string;
  category: string;
  /** In cents, to keep arithmetic exact. */
  price: number;
  stock: number;
  description: string;
  updatedAt: string;
}

export interface ListQuery {
  page?: number;
  limit?: number;
  category?: string;
  /** Case-insensitive substring of the name or description. */
  q?: string;
}

export interface Page<T> {
  items: T[];
  page: number;
  limit: number;
  total: number;
  pages: number;
}

/** The fields a client may change. */
export type ProductPatch = Partial<Pick<Product, 'name' | 'price' | 'stock' | 'description'>>;

export const MAX_LIMIT = 50;

const CATEGORY_NAMES = [
  'Audio',
  'Books',
  'Cameras',
  'Coffee',
  'Cycling',
  'Desks',
  'Drones',
  'Games',
  'Garden',
  'Headphones',
  'Kitchen',
  'Lamps',
  'Laptops',
  'Luggage',
  'Monitors',
  'Music',
  'Outdoor',
  'Pets',
  'Phones',
  'Printers',
  'Running',
  'Skincare',
  'Sleep',
  'Speakers',
  'Stationery',
  'Storage',
  'Tablets',
  'Tea',
  'Tools',
  'Watches',
];
const ADJECTIVES = ['Compact', 'Classic', 'Pro', 'Eco', 'Ultra', 'Smart', 'Travel', 'Studio', 'Mini', 'Everyday'];
const NOUNS = ['Kit', 'Set', 'Edition', 'Pack', 'Model', 'Series', 'Bundle'];

export class SlowDb {
  /** Calls that reached the "database": what a cache HIT saves. */
  calls = 0;
  private readonly categories: Category[];
  private readonly products = new Map<number, Product>();

  constructor(readonly delayMs = 50) {
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new TypeError(`SlowDb: delayMs must be a number >= 0, got ${delayMs}`);
    this.categories = CATEGORY_NAMES.map((name, i) => ({ slug: name.toLowerCase(), name, featured: i % 5 === 0 }));
    const random = seeded(42);
    const epoch = Date.UTC(2026, 0, 1);
    for (let id = 1; id <= 100; id++) {
      const category = this.categories[(id * 7) % this.categories.length];
      const name = `${ADJECTIVES[id % ADJECTIVES.length]} ${category.name} ${NOUNS[id % NOUNS.length]} ${id}`;
      this.products.set(id, {
        id,
        name,
        category: category.slug,
        price: 500 + Math.floor(random() * 49_500),
        // Every tenth product is sold out: the /stock route does not cache that answer.
        stock: id % 10 === 0 ? 0 : 1 + Math.floor(random() * 40),
        description: `${name}: a fine addition to any ${category.name.toLowerCase()} collection.`,
        updatedAt: new Date(epoch + id * 3_600_000).toISOString(),
      });
    }
  }

  async listCategories(): Promise<Category[]> {
    await this.query();
    return this.categories.map((c) => ({ ...c }));
  }

  async getCategory(slug: string): Promise<Category | undefined> {
    await this.query();
    const c = this.categories.find((x) => x.slug === slug);
    return c && { ...c };
  }

  async list(query: ListQuery = {}): Promise<Page<Product>> {
    await this.query();
    const page = Math.max(1, Math.floor(query.page ?? 1));
    const limit = Math.min(MAX_LIMIT, Math.max(1, Math.floor(query.limit ?? 20)));
    const q = query.q?.trim().toLowerCase();
    const matching = [...this.products.values()].filter(
      (p) => (!query.category || p.category === query.category) && (!q || p.name.toLowerCase().includes(q) || p.description.toLowerCase().includes(q)),
    );
    const items = matching.slice((page - 1) * limit, page * limit).map((p) => ({ ...p }));
    return { items, page, limit, total: matching.length, pages: Math.ceil(matching.length / limit) };
  }

  async get(id: number): Promise<Product | undefined> {
    await this.query();
    const p = this.products.get(id);
    return p && { ...p };
  }

  /** Apply `patch`; resolves the updated product, or undefined when there is none. */
  async update(id: number, patch: ProductPatch): Promise<Product | undefined> {
    await this.query();
    const p = this.products.get(id);
    if (!p) return undefined;
    const next: Product = { ...p, ...patch, updatedAt: new Date().toISOString() };
    this.products.set(id, next);
    return { ...next };
  }

  /** Resolves true when a product was removed. */
  async remove(id: number): Promise<boolean> {
    await this.query();
    return this.products.delete(id);
  }

  private query(): Promise<void> {
    this.calls++;
    return this.delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, this.delayMs)) : Promise.resolve();
  }
}

/** mulberry32: a tiny deterministic PRNG, so the catalogue is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
