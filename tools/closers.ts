// Things a command must close before the process ends (MCP servers a tool
// started), registered by whoever opened them. No imports: cli/main.ts loads
// this for every command and must stay quick to start.
const closers = new Set<() => Promise<void>>();

export function onProcessEnd(close: () => Promise<void>): void {
  closers.add(close);
}

export async function closeAll(): Promise<void> {
  const all = [...closers];
  closers.clear();
  await Promise.all(all.map((c) => c().catch(() => undefined)));
}
