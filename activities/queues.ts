// Task queue roles. Pure: the CLI reads them without loading activities.
export type QueueRole = 'orchestration' | 'llm' | 'train';
export const QUEUE_ROLES: readonly QueueRole[] = ['orchestration', 'llm', 'train'];
