// Errors a tool throws that are not an observation for the model.

/**
 * The tool's backend went away (an MCP server that exited or dropped the
 * connection): the episode cannot go on fairly, so the activity attempt fails
 * and is retried (finished items are kept) instead of the model reading an
 * error it did not cause.
 */
export class ToolUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolUnavailableError';
  }
}
