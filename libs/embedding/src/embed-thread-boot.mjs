// Worker entry point. On Node 20 the parent's tsx hooks (`tsx file.ts` or `node --import tsx`) do
// not reach a worker: even with the --import inherited through execArgv, the worker fails on .ts
// with "Unknown file extension". So this plain-JS file registers tsx inside the worker, then loads
// the TypeScript thread.
import { register } from 'tsx/esm/api';

register();
await import('./embed-thread.ts');
