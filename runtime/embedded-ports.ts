// Default ports of the embedded server (Temporal's own defaults).
export const DEFAULT_PORT = 7233;
export const DEFAULT_UI_PORT = 8233;
