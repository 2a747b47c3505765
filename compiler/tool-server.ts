// How an MCP tool's `server` is reached: an http(s) URL, or else a command line
// started in the spec's folder. Pure: shared by the compiler and tools/mcp.ts.

/** Whether an MCP `server` value is a URL (Streamable HTTP / SSE) rather than a command to start. */
export function isServerUrl(server: string): boolean {
  return /^https?:\/\//i.test(server);
}
