// The OpenAI-compatible stub of bench/rollout-overhead.ts, in its own process
// so that its fixed latency does not depend on how busy the measured process's
// event loop is. Same scripted model as the integration tests (one calculator
// call, then the answer), no faults. Talks to its parent over IPC:
//   → { baseUrl }                         once listening
//   ← 'count'   → { requests, ok }        requests received, well-formed answers sent
import { startOpenAIStub } from '../tests/integration/fixtures/openai-stub.js';

const delayMs = Number(process.argv[2] ?? 50);
const stub = await startOpenAIStub({ faultRate: 0, delayMs });
process.on('message', (m) => {
  if (m === 'count') {
    let ok = 0;
    for (const n of stub.answered.values()) ok += n;
    process.send!({ requests: stub.requests.length, ok });
  }
});
process.on('disconnect', () => void stub.close().then(() => process.exit(0)));
process.send!({ baseUrl: stub.baseUrl });
