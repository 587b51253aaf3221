// The store's durable file primitives. They live in io/fsutil.ts (the client programs write files
// atomically too); the store's modules import them from here.
export { fsyncDir, readBufferIfExists, readFileIfExists, writeFileAtomic, type AtomicWriteOptions } from '../../io/fsutil.js';
