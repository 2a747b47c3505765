// Only references travel through workflow history. An activity input or
// result above MAX_PAYLOAD_BYTES is a bug in swirl, not a retryable failure.
import { ApplicationFailure } from '@temporalio/common';
import { MAX_PAYLOAD_BYTES } from '../store/artifact-ref.js';

export function guardPayload<T>(what: string, value: T): T {
  const size = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (size > MAX_PAYLOAD_BYTES) {
    throw ApplicationFailure.nonRetryable(`${what} is ${size} bytes, over the ${MAX_PAYLOAD_BYTES}-byte limit for workflow history; large data must travel as an artifact reference`, 'PayloadTooLarge');
  }
  return value;
}
