import { storeContract } from '../../src/stores/contract';
import { MemoryStore } from '../../src/stores/memory';

storeContract('MemoryStore', () => new MemoryStore({ sweepInterval: 0 }));
