import { externalTarget } from '../../runtime/connection.js';
import { embeddedStatus, ensureEmbeddedServer, stopEmbeddedServer } from '../../runtime/embedded-server.js';
import { temporalAnswers } from '../../runtime/devserver.js';
import { SwirlError, EXIT } from '../../runtime/errors.js';
import { swirlPaths } from '../../runtime/paths.js';
import { out, printJson } from '../output.js';

function refuseWhenExternal(): void {
  const ext = externalTarget();
  if (ext) {
    throw new SwirlError('E_EXTERNAL_CLUSTER', `TEMPORAL_ADDRESS is set (${ext.address}); swirl uses that cluster and does not manage a server`, {
      hint: 'unset TEMPORAL_ADDRESS to use the embedded server',
    });
  }
}

export async function serverStartAction(opts: { port?: number; uiPort?: number; headless?: boolean; json?: boolean }, setCode: (c: number) => void): Promise<void> {
  refuseWhenExternal();
  const { state, started, notes } = await ensureEmbeddedServer({ ...(opts.port !== undefined ? { port: opts.port } : {}), ...(opts.headless ? { uiPort: false } : opts.uiPort !== undefined ? { uiPort: opts.uiPort } : {}) });
  if (opts.json) printJson({ running: true, started, ...state, ...(notes.length ? { notes } : {}) });
  else {
    for (const n of notes) out(n);
    out(`${started ? 'started' : 'already running'}: Temporal dev server pid ${state.pid} at ${state.address}`);
    if (state.uiUrl) out(`web UI: ${state.uiUrl}`);
    out(`state: ${state.dbFile}`);
    out(`log:   ${state.logFile}`);
  }
  setCode(EXIT.ok);
}

export async function serverStopAction(opts: { json?: boolean }, setCode: (c: number) => void): Promise<void> {
  refuseWhenExternal();
  const r = await stopEmbeddedServer();
  if (opts.json) printJson(r);
  else out(r.stopped ? `stopped Temporal dev server (pid ${r.pid})` : 'the embedded server was not running');
  setCode(EXIT.ok);
}

export async function serverStatusAction(opts: { json?: boolean }, setCode: (c: number) => void): Promise<void> {
  const ext = externalTarget();
  if (ext) {
    const up = await temporalAnswers(ext.address, 5000);
    if (opts.json) printJson({ external: true, running: up, address: ext.address, namespace: ext.namespace, uiUrl: ext.uiUrl });
    else out(`external cluster ${ext.address} (namespace ${ext.namespace}): ${up ? 'reachable' : 'NOT reachable'}${ext.uiUrl ? `, web UI ${ext.uiUrl}` : ''}`);
    setCode(up ? EXIT.ok : EXIT.environment);
    return;
  }
  const st = await embeddedStatus();
  if (opts.json) printJson({ external: false, running: st.running, ...(st.running ? st.state : { reason: st.reason }), stateDir: swirlPaths().state });
  else if (st.running) {
    out(`running: Temporal dev server pid ${st.state.pid} at ${st.state.address}`);
    if (st.state.uiUrl) out(`web UI: ${st.state.uiUrl}`);
    out(`state: ${st.state.dbFile}`);
  } else out(`not running: ${st.reason}\n  start it with \`swirl server start\``);
  setCode(st.running ? EXIT.ok : EXIT.environment);
}
