// An episode thread starts here (activities/episode-threads.ts): swirl's source
// is TypeScript, so register tsx's loader in this thread before loading it.
import { register } from 'tsx/esm/api';

register();
await import('./episode-thread.ts');
